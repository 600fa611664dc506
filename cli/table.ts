/**
 * A plain text table with columns padded to their widest cell.
 *
 * @example
 * ```ts
 * table(["NAME", "ADDRESS"], [["web1", "1.1.1.2/24"]]);
 * // "NAME  ADDRESS\nweb1  1.1.1.2/24"
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows]
    .map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join("  "))
    .join("\n");
}
