/**
 * Plans `hg peer add` and `hg peer rm`: one route per peer subnet via the peer host's address,
 * tagged with hg's route protocol. Pure.
 *
 * @module
 */
import { EnvironmentError, InputError } from "../errors.ts";
import { existingVtep } from "../vxlan/device.ts";
import { planVxlanEntryRemoval } from "../vxlan/peer.ts";
import { findBridge } from "../host/bridge.ts";
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { formatPrefix, type Prefix, prefixEquals } from "../net/prefix.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { hgRoutes } from "./list.ts";
import {
  type ContainerSpace,
  reconcilePeers,
  type Reconciliation,
  type VxlanContext,
} from "./reconcile.ts";
import type { PeerRequest } from "./request.ts";

/**
 * Plans the route to one peer's subnet: nothing when it is already there, a replace when hg's
 * route points elsewhere. Throws when the peer is refused (a gateway that is off-link, local,
 * not unicast or inside `containers`, a subnet that collides with a local network, a route hg
 * did not make).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22, no route to 1.1.2.0/24 yet
 * planPeerAdd(state, { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") }).plan;
 * // [ip route replace 1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104]
 * ```
 */
export function planPeerAdd(
  state: HostState,
  request: PeerRequest,
  containers: readonly ContainerSpace[] = [],
  vxlan?: VxlanContext,
): Reconciliation {
  const planned = reconcilePeers(state, [request], "add", containers, vxlan);
  if (planned.rejected.length > 0) throw planned.rejected[0].error;
  return planned;
}

/**
 * What `hg peer add --vtep-mac` tunnels through: hg's VXLAN device as it is, plain routes to
 * on-link peers (DirectRouting). Throws when the host has no such device.
 */
export function handMadeVxlan(
  state: HostState,
  bridge: string,
  present: ReadonlySet<string>,
): VxlanContext {
  const vtep = existingVtep(state, bridge);
  if ("error" in vtep) throw new EnvironmentError(vtep.error);
  return { vtep, directRouting: true, bridge, present };
}

/**
 * Plans removing hg's route to `subnet`.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // hg's route to 1.1.2.0/24 via 10.0.12.7
 * planPeerRemove(state, parsePrefix("1.1.2.0/24")); // [ip route del 1.1.2.0/24 proto 104]
 * ```
 * A VXLAN peer's neighbour and fdb entries go too.
 *
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // the VXLAN peer 1.1.5.0/24 through flannel.1
 * planPeerRemove(state, parsePrefix("1.1.5.0/24")); // [ip route del ..., ip neigh del 1.1.5.0 dev flannel.1, bridge fdb del ...]
 * ```
 */
export function planPeerRemove(state: HostState, subnet: Prefix): Plan {
  if (!hgRoutes(state).some((r) => prefixEquals(r.dst, subnet))) {
    throw new InputError(`no hg route to ${formatPrefix(subnet)}: "hg peer ls" lists them`);
  }
  return [
    ipStep(["route", "del", formatPrefix(subnet), "proto", String(HG_ROUTE_PROTOCOL)]),
    // A VXLAN peer's neighbour and fdb entries go with its route.
    ...planVxlanEntryRemoval(state, [subnet]),
  ];
}

/**
 * This host's container address space: its bridge's subnet, and the cluster network when known.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * containerSpaces(state, "cni0", [parsePrefix("1.1.0.0/16")]);
 * // [{ prefix: 1.1.1.0/24, what: "the container subnet of bridge cni0" },
 * //  { prefix: 1.1.0.0/16, what: "the cluster network" }]
 * ```
 */
export function containerSpaces(
  state: HostState,
  bridge: string,
  networks: readonly Prefix[] = [],
): ContainerSpace[] {
  const own = findBridge(state, bridge)?.gateways.map((g) => g.prefix) ?? [];
  return [
    ...own.map((prefix) => ({ prefix, what: `the container subnet of bridge ${bridge}` })),
    ...networks.map((prefix) => ({ prefix, what: "the cluster network" })),
  ];
}
