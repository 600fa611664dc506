/**
 * Plans `hg peer add` and `hg peer rm`: one route per peer subnet via the peer host's address,
 * tagged with hg's route protocol. Pure.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { formatPrefix, type Prefix, prefixEquals } from "../net/prefix.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { hgRoutes } from "./list.ts";
import { reconcilePeers } from "./reconcile.ts";
import type { PeerRequest } from "./request.ts";

/**
 * Plans the route to one peer's subnet: nothing when it is already there, a replace when hg's
 * route points elsewhere. Throws when the peer is refused (off-link or local gateway, a subnet
 * that collides with a local network, a route hg did not make).
 *
 * @example
 * ```ts
 * planPeerAdd(state, { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") });
 * // [ip route replace 1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104]
 * ```
 */
export function planPeerAdd(state: HostState, request: PeerRequest): Plan {
  const { plan, rejected } = reconcilePeers(state, [request], "add");
  if (rejected.length > 0) throw rejected[0].error;
  return plan;
}

/**
 * Plans removing hg's route to `subnet`.
 *
 * @example
 * ```ts
 * planPeerRemove(state, parsePrefix("1.1.2.0/24")); // [ip route del 1.1.2.0/24 proto 104]
 * ```
 */
export function planPeerRemove(state: HostState, subnet: Prefix): Plan {
  if (!hgRoutes(state).some((r) => prefixEquals(r.dst, subnet))) {
    throw new InputError(`no hg route to ${formatPrefix(subnet)}: "hg peer ls" lists them`);
  }
  return [ipStep(["route", "del", formatPrefix(subnet), "proto", String(HG_ROUTE_PROTOCOL)])];
}
