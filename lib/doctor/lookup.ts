/**
 * The route the kernel picks, worked out from a captured table: what `ip route get` answers,
 * on a snapshot from another machine. Table main only (doctor says when other rules exist);
 * longest prefix first, then the lowest metric; a local address is delivered locally.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import type { Route } from "../ip/route.ts";
import type { IpAddress } from "../net/address.ts";
import { isLocalAddress } from "../peers/onlink.ts";
import { prefixContains } from "../net/prefix.ts";

/** Where the kernel sends a packet to an address. */
export type Lookup =
  | { readonly kind: "local" }
  | { readonly kind: "route"; readonly route: Route }
  /** A blackhole, unreachable or prohibit route: the kernel refuses. */
  | { readonly kind: "rejected"; readonly route: Route }
  | { readonly kind: "none" };

/**
 * Looks `to` up in the host's table main.
 *
 * @example
 * ```ts
 * const found = lookupRoute(host, parseAddress("1.1.2.2"));
 * if (found.kind === "route") found.route.gateway;
 * ```
 */
export function lookupRoute(host: HostState, to: IpAddress): Lookup {
  if (isLocalAddress(host, to)) {
    return { kind: "local" };
  }
  let best: Route | undefined;
  for (const route of host.routes) {
    if (route.type === "local" || route.type === "broadcast" || route.type === "multicast") {
      continue;
    }
    if (!prefixContains(route.dst, to)) continue;
    if (
      !best || route.dst.length > best.dst.length ||
      (route.dst.length === best.dst.length && route.metric < best.metric)
    ) best = route;
  }
  if (!best) return { kind: "none" };
  if (best.type === "unicast") return { kind: "route", route: best };
  return { kind: "rejected", route: best };
}
