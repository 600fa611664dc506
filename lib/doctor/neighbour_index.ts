/**
 * Neighbour entries by address, built once per list: the checks look up the entry of each
 * route's gateway, and a host with 10,000 peers has 10,000 routes and as many entries (a scan
 * per route grew with the square of the cluster).
 *
 * @module
 */
import type { Neighbour } from "../ip/neigh.ts";
import type { IpAddress } from "../net/address.ts";

const NONE: readonly Neighbour[] = [];
const cache = new WeakMap<readonly Neighbour[], Map<bigint, Neighbour[]>>();

/**
 * The entries of `neighbours` whose address has `address`'s value (of either family: the caller
 * tests what it tested before, on these few), in the list's order.
 *
 * @example
 * ```ts
 * import { parseNeighbours } from "../ip/neigh.ts";
 * import { parseAddress } from "../net/address.ts";
 * const list = parseNeighbours([{ dst: "10.0.12.12", dev: "eth0", state: ["REACHABLE"] }]);
 * neighboursAt(list, parseAddress("10.0.12.12"))[0].dev; // "eth0"
 * ```
 */
export function neighboursAt(
  neighbours: readonly Neighbour[],
  address: IpAddress,
): readonly Neighbour[] {
  let index = cache.get(neighbours);
  if (!index) {
    index = new Map();
    for (const n of neighbours) {
      const list = index.get(n.dst.value);
      if (list) list.push(n);
      else index.set(n.dst.value, [n]);
    }
    cache.set(neighbours, index);
  }
  return index.get(address.value) ?? NONE;
}
