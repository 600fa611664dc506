/**
 * Indexes over a host's routes that the checks share, built once per list: a prefix's text as
 * the key routes, leases and the sync's plan are matched by, the routes to each prefix, and the
 * longest route holding an address. Several checks walk the same 10,000 routes; a scan or a
 * formatting per route and per lease grew with the square of the cluster.
 *
 * @module
 */
import type { Route } from "../ip/route.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import { fastV4 } from "../net/dotted_quad.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../net/prefix.ts";

const keys = new WeakMap<Prefix, string>();

/**
 * `formatPrefix(prefix)`, kept for the prefix object.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * prefixKey(parsePrefix("1.1.2.0/24")); // "1.1.2.0/24"
 * ```
 */
export function prefixKey(prefix: Prefix): string {
  let key = keys.get(prefix);
  if (key === undefined) keys.set(prefix, key = formatPrefix(prefix));
  return key;
}

/**
 * A prefix as a map key that needs no formatting: a number for IPv4 (address and length in
 * one, exact below 2^53), the text for IPv6. Equal prefixes, equal keys.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * prefixId(parsePrefix("1.1.2.0/24")) === prefixId(parsePrefix("1.1.2.0/24")); // true
 * ```
 */
export function prefixId(prefix: Prefix): number | string {
  return prefix.address.family === 4
    ? Number(prefix.address.value) * 64 + prefix.length
    : prefixKey(prefix);
}

/**
 * {@link prefixId} of a prefix written as hg writes prefixes (`1.1.2.0/24`, as the sync's plan
 * names its peers), without making a Prefix of it: IPv4's number from the text's digits, else
 * the canonical text (an IPv6 prefix's id is its text).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * textPrefixId("1.1.2.0/24") === prefixId(parsePrefix("1.1.2.0/24")); // true
 * ```
 */
export function textPrefixId(text: string): number | string {
  const slash = text.indexOf("/");
  const value = slash > 0 ? fastV4(text, 0, slash) : -1;
  // The length's one or two digits, read in place.
  const digits = text.length - slash - 1;
  const d0 = text.charCodeAt(slash + 1) - 48;
  const d1 = digits === 2 ? text.charCodeAt(slash + 2) - 48 : 0;
  const length = digits === 1 ? d0 : d0 * 10 + d1;
  if (
    value >= 0 && (digits === 1 || digits === 2) && d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 &&
    !(digits === 2 && d0 === 0) && length <= 32
  ) return value * 64 + length;
  return prefixId(parsePrefix(text));
}

/**
 * Whether `address` is the one `text` writes (as hg writes addresses: a peer's `via`), without
 * formatting it: IPv4 by its number.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * isAddressText(parseAddress("10.0.12.7"), "10.0.12.7"); // true
 * ```
 */
export function isAddressText(address: IpAddress, text: string): boolean {
  if (address.family === 4) {
    const value = fastV4(text);
    if (value >= 0) return value === Number(address.value);
  }
  return formatAddress(address) === text;
}

/**
 * The network of `address` at `length` bits as a map key: a plain number for IPv4 (exact, and
 * cheaper than a bigint shift), a bigint for IPv6, so keys of the two families never meet.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * networkKey(parseAddress("1.1.2.9"), 24) === networkKey(parseAddress("1.1.2.0"), 24); // true
 * ```
 */
export function networkKey(address: IpAddress, length: number): number | bigint {
  if (address.family === 4) return Math.floor(Number(address.value) / 2 ** (32 - length));
  return length === 0 ? 0n : address.value >> BigInt(128 - length);
}

const byPrefixCache = new WeakMap<readonly Route[], Map<string, Route[]>>();

/**
 * The routes of `routes` by their destination's text, each list in the table's order.
 *
 * @example
 * ```ts
 * import { parseRoutes } from "../ip/route.ts";
 * const routes = parseRoutes([{ dst: "1.1.2.0/24", gateway: "10.0.12.12", flags: [] }], 4);
 * routesByPrefix(routes).get("1.1.2.0/24")?.length; // 1
 * ```
 */
export function routesByPrefix(routes: readonly Route[]): ReadonlyMap<string, readonly Route[]> {
  let index = byPrefixCache.get(routes);
  if (!index) {
    index = new Map();
    for (const r of routes) {
      const key = prefixKey(r.dst);
      const list = index.get(key);
      if (list) list.push(r);
      else index.set(key, [r]);
    }
    byPrefixCache.set(routes, index);
  }
  return index;
}

interface GatewayIndex {
  /** Prefix lengths present, longest first. */
  readonly lengths: readonly number[];
  readonly byLength: ReadonlyMap<number, ReadonlyMap<number | bigint, Route>>;
}

const gatewayCache = new WeakMap<readonly Route[], GatewayIndex>();

/**
 * The unicast route with a gateway whose destination holds `address`, the longest such
 * destination, and of those the first in the table's order: how a host reaches a gateway that
 * is on none of its own networks (through which router).
 *
 * @example
 * ```ts
 * import { parseRoutes } from "../ip/route.ts";
 * import { parseAddress } from "../net/address.ts";
 * const routes = parseRoutes([{ dst: "default", gateway: "10.0.0.1", flags: [] }], 4);
 * routeViaRouterTo(routes, parseAddress("192.0.2.7"))?.gateway; // 10.0.0.1
 * ```
 */
export function routeViaRouterTo(
  routes: readonly Route[],
  address: IpAddress,
): Route | undefined {
  let index = gatewayCache.get(routes);
  if (!index) {
    const byLength = new Map<number, Map<number | bigint, Route>>();
    for (const r of routes) {
      if (r.type !== "unicast" || !r.gateway) continue;
      let map = byLength.get(r.dst.length);
      if (!map) byLength.set(r.dst.length, map = new Map());
      const key = networkKey(r.dst.address, r.dst.length);
      if (!map.has(key)) map.set(key, r);
    }
    index = { lengths: [...byLength.keys()].sort((a, b) => b - a), byLength };
    gatewayCache.set(routes, index);
  }
  for (const length of index.lengths) {
    const found = index.byLength.get(length)!.get(networkKey(address, length));
    // A route of the other family has the other kind of key: it is never found.
    if (found && found.dst.address.family === address.family) return found;
  }
  return undefined;
}
