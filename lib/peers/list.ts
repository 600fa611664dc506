import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import type { Route } from "../ip/route.ts";

/**
 * The routes hg installed (tagged with its route protocol), in routing-table order.
 *
 * @example
 * ```ts
 * hgRoutes(state).map((r) => formatPrefix(r.dst)); // ["1.1.2.0/24", "1.1.3.0/24"]
 * ```
 */
export function hgRoutes(state: HostState): Route[] {
  return state.routes.filter((r) => r.protocol === HG_ROUTE_PROTOCOL);
}
