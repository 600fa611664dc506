/**
 * Overlap search over many prefixes at once: sort by first address and sweep, so finding every
 * overlapping pair among n prefixes costs O(n log n + pairs) instead of O(n²).
 *
 * @module
 */
import { familyBits } from "./address.ts";
import type { Prefix } from "./prefix.ts";

/** The first and last address of a prefix, as integers. */
export function prefixRange(p: Prefix): { first: bigint; last: bigint } {
  const size = 1n << BigInt(familyBits(p.address.family) - p.length);
  return { first: p.address.value, last: p.address.value + size - 1n };
}

/**
 * Every pair (i, j), i < j in sort order, of `items` whose prefixes overlap (same family).
 *
 * @example
 * ```ts
 * overlappingPairs([{ prefix: parsePrefix("1.1.0.0/16") }, { prefix: parsePrefix("1.1.2.0/24") }], (x) => x.prefix);
 * // [[{ prefix: 1.1.0.0/16 }, { prefix: 1.1.2.0/24 }]]
 * ```
 */
export function overlappingPairs<T>(items: readonly T[], prefixOf: (item: T) => Prefix): [T, T][] {
  const sorted = items
    .map((item) => ({
      item,
      family: prefixOf(item).address.family,
      ...prefixRange(prefixOf(item)),
    }))
    .sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const pairs: [T, T][] = [];
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i];
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j];
      if (b.family !== a.family || b.first > a.last) break;
      pairs.push([a.item, b.item]);
    }
  }
  return pairs;
}
