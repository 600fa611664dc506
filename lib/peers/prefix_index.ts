/**
 * Items (routes, leases) found by the prefixes they overlap, without a pass over all of them:
 * what the agent looks up for each registry change in a table of thousands. Two CIDR blocks
 * either nest or are disjoint, so the items overlapping a prefix are those that begin inside it
 * (a range of items sorted by first address) and those that cover it (one lookup per prefix
 * length the index holds). Pure.
 *
 * @module
 */
import type { Prefix } from "../net/prefix.ts";

/** A prefix's first address: a number for IPv4 (exact), a bigint for IPv6. */
type Point = number | bigint;

interface Slot<T> {
  readonly first: Point;
  readonly item: T;
}

/** The first and last address of `p`. */
function rangeOf(p: Prefix): readonly [Point, Point] {
  if (p.address.family === 4) {
    const size = 2 ** (32 - p.length);
    const first = Math.floor(Number(p.address.value) / size) * size;
    return [first, first + size - 1];
  }
  const size = 1n << BigInt(128 - p.length);
  const first = (p.address.value / size) * size;
  return [first, first + size - 1n];
}

/** One family's items. */
class FamilyIndex<T> {
  /** By first address. */
  readonly sorted: Slot<T>[] = [];
  /** By prefix (`length/first`), for the covering lookups. */
  readonly exact = new Map<string, T[]>();
  /** How many items each prefix length has. */
  readonly lengths = new Map<number, number>();

  /** The index of the first slot whose first address is not below `first`. */
  lowerBound(first: Point): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].first < first) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * An index of items by prefix.
 *
 * @example
 * ```ts
 * import { parsePrefix, type Prefix } from "../net/prefix.ts";
 * const index = new PrefixIndex((r: { dst: Prefix }) => r.dst, [
 *   { dst: parsePrefix("10.64.0.0/10") },
 *   { dst: parsePrefix("10.64.2.0/24") },
 *   { dst: parsePrefix("10.0.12.0/22") },
 * ]);
 * index.overlapping(parsePrefix("10.64.2.0/24")).length; // 2: the /10 and the /24
 * ```
 */
export class PrefixIndex<T> {
  readonly #families = { 4: new FamilyIndex<T>(), 6: new FamilyIndex<T>() };
  #size = 0;

  constructor(readonly prefixOf: (item: T) => Prefix, items: Iterable<T> = []) {
    for (const item of items) this.#place(item, false);
    for (const f of Object.values(this.#families)) {
      f.sorted.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    }
  }

  /** How many items it holds. */
  get size(): number {
    return this.#size;
  }

  /** Adds `item` (an item added twice is there twice). */
  add(item: T): void {
    this.#place(item, true);
  }

  /** Removes `item` (by identity); false when it is not there. */
  delete(item: T): boolean {
    const p = this.prefixOf(item);
    const f = this.#families[p.address.family];
    const [first] = rangeOf(p);
    let i = f.lowerBound(first);
    while (i < f.sorted.length && f.sorted[i].first === first && f.sorted[i].item !== item) i++;
    if (i >= f.sorted.length || f.sorted[i].item !== item) return false;
    f.sorted.splice(i, 1);
    const key = `${p.length}/${first}`;
    const same = f.exact.get(key)!.filter((x) => x !== item);
    if (same.length > 0) f.exact.set(key, same);
    else f.exact.delete(key);
    const n = f.lengths.get(p.length)! - 1;
    if (n > 0) f.lengths.set(p.length, n);
    else f.lengths.delete(p.length);
    this.#size--;
    return true;
  }

  /** The items whose prefix overlaps `p` (each once). */
  overlapping(p: Prefix): T[] {
    const f = this.#families[p.address.family];
    const [first, last] = rangeOf(p);
    const found: T[] = [];
    for (let i = f.lowerBound(first); i < f.sorted.length && f.sorted[i].first <= last; i++) {
      found.push(f.sorted[i].item);
    }
    // Items that begin before `p` overlap it only by covering it: one per length and network.
    for (const length of f.lengths.keys()) {
      if (length >= p.length) continue;
      const [outer] = rangeOf({ address: p.address, length } as Prefix);
      if (outer === first) continue; // begins at `p`: found above
      found.push(...f.exact.get(`${length}/${outer}`) ?? []);
    }
    return found;
  }

  #place(item: T, keepSorted: boolean): void {
    const p = this.prefixOf(item);
    const f = this.#families[p.address.family];
    const [first] = rangeOf(p);
    const slot = { first, item };
    if (keepSorted) f.sorted.splice(f.lowerBound(first), 0, slot);
    else f.sorted.push(slot);
    const key = `${p.length}/${first}`;
    const same = f.exact.get(key);
    if (same) same.push(item);
    else f.exact.set(key, [item]);
    f.lengths.set(p.length, (f.lengths.get(p.length) ?? 0) + 1);
    this.#size++;
  }
}
