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
 * import { parsePrefix } from "./prefix.ts";
 * overlappingPairs([{ prefix: parsePrefix("1.1.0.0/16") }, { prefix: parsePrefix("1.1.2.0/24") }], (x) => x.prefix);
 * // [[{ prefix: 1.1.0.0/16 }, { prefix: 1.1.2.0/24 }]]
 * ```
 */
export function overlappingPairs<T>(items: readonly T[], prefixOf: (item: T) => Prefix): [T, T][] {
  const v4: T[] = [];
  const firsts: number[] = [];
  const lasts: number[] = [];
  const v6: { item: T; first: bigint; last: bigint }[] = [];
  for (const item of items) {
    const p = prefixOf(item);
    if (p.address.family === 4) {
      // IPv4 ranges fit exactly in plain numbers, which sort far faster than bigints.
      const first = Number(p.address.value);
      v4.push(item);
      firsts.push(first);
      lasts.push(first + 2 ** (32 - p.length) - 1);
    } else {
      v6.push({ item, ...prefixRange(p) });
    }
  }
  v6.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  return [...sweepV4(v4, firsts, lasts), ...sweep(v6)];
}

/** Up to this many IPv4 items are sorted as packed numbers (first address, then index). */
const PACKED = 2 ** 21;

/**
 * The overlapping pairs of IPv4 items, in the order a stable sort by first address gives. Each
 * item is sorted as one number, its first address times {@link PACKED} plus its index (exact
 * below 2^53), by the typed array's own numeric sort: no comparator called 100,000 times for
 * 10,000 items, and equal first addresses stay in the order they came.
 */
function sweepV4<T>(items: readonly T[], firsts: readonly number[], lasts: readonly number[]) {
  const n = items.length;
  if (n > PACKED) {
    const sorted = items.map((item, i) => ({ item, first: firsts[i], last: lasts[i] }));
    return sweep(sorted.sort((a, b) => a.first - b.first));
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = firsts[i] * PACKED + i;
  keys.sort();
  const order = new Int32Array(n);
  for (let k = 0; k < n; k++) order[k] = keys[k] % PACKED;
  const pairs: [T, T][] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a];
    for (let b = a + 1; b < n && firsts[order[b]] <= lasts[i]; b++) {
      pairs.push([items[i], items[order[b]]]);
    }
  }
  return pairs;
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
