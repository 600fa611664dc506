import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import type { Route } from "../ip/route.ts";
import { formatPrefix } from "../net/prefix.ts";
import { ipStep, type Step } from "../plan/step.ts";

/**
 * The routes hg installed (tagged with its route protocol), in routing-table order.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { formatPrefix } from "../net/prefix.ts";
 * declare const state: HostState; // hg's routes to 1.1.101.0/24 via 10.0.12.12, fd00:1:0:65::/64 via fd00:12::12
 * hgRoutes(state).map((r) => formatPrefix(r.dst)); // ["1.1.101.0/24", "fd00:1:0:65::/64"]
 * ```
 */
export function hgRoutes(state: HostState): Route[] {
  return state.routes.filter((r) => r.protocol === HG_ROUTE_PROTOCOL);
}

/**
 * The steps that remove every route of hg's: one `route flush` for the IPv4 ones, and the IPv6
 * ones one by one (a flush in an `ip -batch` serves IPv4 only: the batch line takes no `-6`).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { renderPlan } from "../plan/render.ts";
 * declare const state: HostState; // hg's routes to 1.1.101.0/24 via 10.0.12.12, fd00:1:0:65::/64 via fd00:12::12
 * renderPlan(planHgRoutesRemoval(state)); // ["ip route flush proto 104", "ip route del fd00:1:0:65::/64 proto 104"]
 * ```
 */
export function planHgRoutesRemoval(state: HostState): Step[] {
  const routes = hgRoutes(state);
  const proto = String(HG_ROUTE_PROTOCOL);
  return [
    ...(routes.some((r) => r.dst.address.family === 4)
      ? [ipStep(["route", "flush", "proto", proto])]
      : []),
    ...routes.filter((r) => r.dst.address.family === 6).map((r) =>
      ipStep(["route", "del", formatPrefix(r.dst), "proto", proto])
    ),
  ];
}
