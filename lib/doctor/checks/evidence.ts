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

/**
 * {@link capped} of `items.map(line)`, with only the lines shown made: a finding about 10,000
 * routes formats five of them.
 *
 * @example
 * ```ts
 * cappedMap([1, 2, 3, 4, 5, 6, 7], (n) => `route ${n}`).at(-1); // "... and 2 more"
 * ```
 */
export function cappedMap<T>(items: readonly T[], line: (item: T) => string): string[] {
  return items.length <= MAX_EVIDENCE
    ? items.map(line)
    : [...items.slice(0, MAX_EVIDENCE).map(line), `... and ${items.length - MAX_EVIDENCE} more`];
}
