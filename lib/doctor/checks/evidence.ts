/**
 * How findings list what doctor read: a few items, the rest counted.
 *
 * @module
 */

/** At most this many items of evidence are listed; the rest are counted. */
export const MAX_EVIDENCE = 5;

/**
 * The first {@link MAX_EVIDENCE} lines, and how many more there are.
 *
 * @example
 * ```ts
 * capped(["a", "b", "c", "d", "e", "f", "g"]).at(-1); // "... and 2 more"
 * ```
 */
export function capped(lines: readonly string[]): string[] {
  return lines.length <= MAX_EVIDENCE
    ? [...lines]
    : [...lines.slice(0, MAX_EVIDENCE), `... and ${lines.length - MAX_EVIDENCE} more`];
}
