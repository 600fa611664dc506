import type { Prefix } from "../net/prefix.ts";
import { formatPrefix, prefixesOverlap } from "../net/prefix.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import type { HostState } from "./state.ts";

/** A network already on the host that a new subnet would collide with. */
export interface LocalNetwork {
  readonly prefix: Prefix;
  /** An interface address or a route (hg's own peer routes included). */
  readonly source: "address" | "route";
  /** Where it was found, for messages: "address on eth0", "route via eth0". */
  readonly where: string;
}

/**
 * The host's networks that overlap `subnet`: addresses on interfaces and routes (default routes
 * aside), skipping the interfaces named in `except` (the bridge that carries `subnet` itself).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * overlappingNetworks(state, parsePrefix("10.0.0.0/8"), ["cni0"]);
 * // [{ prefix: 10.0.12.0/22, source: "address", where: "address on eth0" }]
 * ```
 */
export function overlappingNetworks(
  state: HostState,
  subnet: Prefix,
  except: readonly string[] = [],
): LocalNetwork[] {
  const found: LocalNetwork[] = [];
  for (const link of state.addresses) {
    if (except.includes(link.ifname)) continue;
    for (const a of link.addresses) {
      if (prefixesOverlap(a.prefix, subnet)) {
        found.push({ prefix: a.prefix, source: "address", where: `address on ${link.ifname}` });
      }
    }
  }
  for (const route of state.routes) {
    if (route.dst.length === 0 || (route.dev !== undefined && except.includes(route.dev))) continue;
    if (!prefixesOverlap(route.dst, subnet)) continue;
    if (found.some((f) => formatPrefix(f.prefix) === formatPrefix(route.dst))) continue;
    const owner = route.protocol === HG_ROUTE_PROTOCOL ? "hg peer route" : "route";
    found.push({
      prefix: route.dst,
      source: "route",
      where: `${owner}${route.dev ? ` on ${route.dev}` : ""}`,
    });
  }
  return found;
}
