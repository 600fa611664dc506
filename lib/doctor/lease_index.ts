/**
 * The registry's leases by subnet, built once per list: which leases hold an address. Checks
 * ask it per route and per gateway; a scan of 10,000 leases for each of 10,000 routes grew with
 * the square of the cluster.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";
import type { Lease } from "../store/store.ts";
import { networkKey } from "./route_index.ts";

interface LeaseIndex {
  /** Subnet lengths present. */
  readonly lengths: readonly number[];
  /** Positions in the list, by length and network. */
  readonly byLength: ReadonlyMap<number, ReadonlyMap<number | bigint, number[]>>;
}

const NONE: readonly Lease[] = [];
const cache = new WeakMap<readonly Lease[], LeaseIndex>();

function indexOf(leases: readonly Lease[]): LeaseIndex {
  let index = cache.get(leases);
  if (!index) {
    const byLength = new Map<number, Map<number | bigint, number[]>>();
    leases.forEach((l, i) => {
      let map = byLength.get(l.subnet.length);
      if (!map) byLength.set(l.subnet.length, map = new Map());
      const key = networkKey(l.subnet.address, l.subnet.length);
      const list = map.get(key);
      if (list) list.push(i);
      else map.set(key, [i]);
    });
    index = { lengths: [...byLength.keys()], byLength };
    cache.set(leases, index);
  }
  return index;
}

/** The positions in the list of the leases whose subnet holds `address`, unordered. */
function positionsHolding(index: LeaseIndex, address: IpAddress): number[] | undefined {
  let found: number[] | undefined;
  const bits = address.family === 4 ? 32 : 128;
  for (const length of index.lengths) {
    if (length > bits) continue;
    const at = index.byLength.get(length)!.get(networkKey(address, length));
    // A lease of the other family has the other kind of key: it is never found.
    if (at) found = found ? [...found, ...at] : at;
  }
  return found;
}

/**
 * The first lease of `leases` (in the list's order) whose subnet holds one of `addresses`.
 *
 * @example
 * ```ts
 * import type { Lease } from "../store/store.ts";
 * import { parseAddress } from "../net/address.ts";
 * declare const leases: readonly Lease[];
 * firstLeaseHolding(leases, [parseAddress("1.1.2.7"), parseAddress("1.1.3.7")]);
 * ```
 */
export function firstLeaseHolding(
  leases: readonly Lease[],
  addresses: readonly IpAddress[],
): Lease | undefined {
  const index = indexOf(leases);
  let first = Infinity;
  for (const address of addresses) {
    for (const i of positionsHolding(index, address) ?? []) if (i < first) first = i;
  }
  return first === Infinity ? undefined : leases[first];
}

/**
 * The leases of `leases` whose subnet holds `address`, in the list's order.
 *
 * @example
 * ```ts
 * import type { Lease } from "../store/store.ts";
 * import { parseAddress } from "../net/address.ts";
 * declare const leases: readonly Lease[];
 * leasesHolding(leases, parseAddress("1.1.2.7"))[0]?.attrs.publicIp;
 * ```
 */
export function leasesHolding(leases: readonly Lease[], address: IpAddress): readonly Lease[] {
  const found = positionsHolding(indexOf(leases), address);
  if (!found) return NONE;
  return found.length === 1
    ? [leases[found[0]]]
    : [...found].sort((a, b) => a - b).map((i) => leases[i]);
}
