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
  const v4: { item: T; first: number; last: number }[] = [];
  const v6: { item: T; first: bigint; last: bigint }[] = [];
  for (const item of items) {
    const p = prefixOf(item);
    if (p.address.family === 4) {
      // IPv4 ranges fit exactly in plain numbers, which sort far faster than bigints.
      const first = Number(p.address.value);
      v4.push({ item, first, last: first + 2 ** (32 - p.length) - 1 });
    } else {
      v6.push({ item, ...prefixRange(p) });
    }
  }
  v4.sort((a, b) => a.first - b.first);
  v6.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  return [...sweep(v4), ...sweep(v6)];
}

function sweep<T, N extends number | bigint>(
  sorted: readonly { item: T; first: N; last: N }[],
): [T, T][] {
  const pairs: [T, T][] = [];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].first <= sorted[i].last; j++) {
      pairs.push([sorted[i].item, sorted[j].item]);
    }
  }
  return pairs;
}
