/**
 * Plans `hg peer sync`: this host's hg routes made equal to the registry's leases of the other
 * hosts. Every lease is checked first (inside the cluster network, of the configured size, no
 * overlap with another lease or a local network, a gateway that is on-link and not this host);
 * a lease that fails is reported with its reason and never installed. Pure.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { findBridge } from "../host/bridge.ts";
import type { IpAddress } from "../net/address.ts";
import { formatPrefix, type Prefix, prefixCovers, prefixEquals } from "../net/prefix.ts";
import type { Step } from "../plan/step.ts";
import {
  configRanges,
  describeNetworks,
  type NetworkConfig,
  rangeOf,
  type SubnetRange,
} from "../store/config.ts";
import { type LeaseAttrs, leaseRoutes } from "../store/lease.ts";
import type { RegistryEntry } from "../store/store.ts";
import { containerSpaces } from "./plan.ts";
import type { PeerMode } from "./path.ts";
import { reconcilePeers, type VxlanContext } from "./reconcile.ts";
import type { PeerRequest } from "./request.ts";
import { localVtep } from "../vxlan/device.ts";
import type { Lease } from "../store/store.ts";

/** A registry key that will not be routed, and why. */
export interface RefusedLease {
  readonly key: string;
  readonly reason: string;
}

/** The plan of a sync and what it decided about each lease. */
export interface PeerSync {
  readonly plan: Step[];
  readonly refused: RefusedLease[];
  /** Leases whose route was already right. */
  readonly unchanged: number;
  /** The leases routed after the sync (the other hosts), each with which way and why. */
  readonly peers: SyncedPeer[];
  /** Why this host has no VXLAN end on a VXLAN network (its peers then go host-gw or nowhere). */
  readonly vxlanProblem?: string;
  /** The VXLAN device's MTU, when a peer goes over VXLAN: the bridge and containers get it. */
  readonly tunnelMtu?: number;
}

/** A routed lease, as the sync's result and `hg status` tell it. */
export interface SyncedPeer {
  readonly subnet: string;
  readonly via: string;
  readonly node?: string;
  readonly mode: PeerMode;
  readonly reason: string;
}

/** A lease's route as the reconciler's request, with the lease's key and node name. */
interface LeaseRequest extends PeerRequest {
  readonly leaseKey: string;
  readonly node: string | undefined;
}

/** How this host knows its own lease: its node name, and the subnet on its bridge. */
export interface SelfIdentity {
  readonly node?: string;
  readonly bridge: string;
  /**
   * Host-side veths of the containers whose namespace exists: on a VXLAN network they get the
   * VXLAN MTU (none when not given).
   */
  readonly present?: ReadonlySet<string>;
}

/**
 * Plans the routes for a registry listing.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { NetworkConfig } from "../store/config.ts";
 * import type { LeaseListing } from "../store/store.ts";
 * declare const state: HostState;
 * declare const config: NetworkConfig;
 * declare const listing: LeaseListing;
 * const { plan, refused } = planPeerSync(state, config, listing.entries, { node: "h1", bridge: "cni0" });
 * ```
 */
export function planPeerSync(
  state: HostState,
  config: NetworkConfig,
  entries: readonly RegistryEntry[],
  self: SelfIdentity,
): PeerSync {
  const refused: RefusedLease[] = [];
  const ownSubnet = findBridge(state, self.bridge)?.gateway?.prefix;
  const candidates: LeaseRequest[] = [];
  let own: Lease | undefined;
  // Each family's range looked up once, not once per lease.
  const ranges = { 4: rangeOf(config, 4), 6: rangeOf(config, 6) } as const;
  const inV4 = ranges[4] && v4Span(ranges[4]);
  for (let e = 0; e < entries.length; e++) {
    const entry = entries[e];
    if (!("lease" in entry)) {
      refused.push({ key: entry.key, reason: entry.problem });
      continue;
    }
    const lease = entry.lease;
    const { subnet, attrs } = lease;
    // Named leases are matched by name; a lease without one (flanneld's) by the bridge's subnet.
    const isMine = self.node !== undefined && attrs.node !== undefined
      ? attrs.node === self.node
      : ownSubnet !== undefined && prefixEquals(subnet, ownSubnet);
    if (isMine) {
      own = lease;
      continue;
    }
    // The common lease, one IPv4 subnet of the network's size inside it, told in numbers.
    if (
      inV4 && lease.ipv6Subnet === undefined && subnet.address.family === 4 &&
      subnet.length === inV4.subnetLen
    ) {
      const first = Number(subnet.address.value);
      if (first >= inV4.first && first <= inV4.last) {
        // leaseRequest's, written out for a lease without a VTEP: one call fewer per lease.
        candidates.push(
          attrs.vtep
            ? leaseRequest(subnet, attrs.publicIp, entry.key, attrs)
            : { subnet, via: attrs.publicIp, leaseKey: entry.key, node: attrs.node },
        );
        continue;
      }
    }
    // Each family's subnet goes via the holder's address of that family (a dual-stack lease
    // gives two routes).
    for (const route of leaseRoutes(lease)) {
      const outside = outsideReason(config, ranges[route.subnet.address.family], route.subnet);
      if (outside) {
        refused.push({ key: entry.key, reason: outside });
        continue;
      }
      candidates.push(leaseRequest(route.subnet, route.via, entry.key, attrs));
    }
  }
  const { backend } = config;
  let vxlan: VxlanContext | undefined;
  let vxlanProblem: string | undefined;
  if (backend.type === "vxlan") {
    const vtep = own
      ? localVtep(state, backend, own.attrs.publicIp, own.subnet)
      : { error: "this host holds no lease: its VTEP is not known" };
    if ("error" in vtep) vxlanProblem = vtep.error;
    else {
      vxlan = {
        vtep,
        directRouting: backend.directRouting,
        bridge: self.bridge,
        present: self.present ?? new Set(),
      };
    }
  }
  const { plan, rejected, unchanged, routed } = reconcilePeers(
    state,
    candidates,
    "sync",
    containerSpaces(state, self.bridge, configRanges(config).map((r) => r.network)),
    vxlan,
    vxlanProblem !== undefined,
  );
  // The reconciler hands back the requests it was given: each knows its lease.
  for (const r of rejected) {
    refused.push({ key: (r.request as LeaseRequest).leaseKey, reason: r.error.message });
  }
  // The reconciler formatted each subnet and gateway once, for the plan's lines.
  const peers: SyncedPeer[] = [];
  for (const { request, mode, reason, subnetText, viaText } of routed) {
    const { node } = request as LeaseRequest;
    peers.push(
      node === undefined
        ? { subnet: subnetText, via: viaText, mode, reason }
        : { subnet: subnetText, via: viaText, node, mode, reason },
    );
  }
  const tunnels = vxlan !== undefined && routed.some((r) => r.mode === "vxlan");
  return {
    plan,
    refused,
    unchanged,
    peers,
    ...(tunnels ? { tunnelMtu: vxlan!.vtep.mtu } : {}),
    ...(vxlanProblem === undefined ? {} : { vxlanProblem }),
  };
}

/** A lease's route as the reconciler's request: a vxlan lease's IPv4 route carries its VTEP MAC. */
function leaseRequest(
  subnet: Prefix,
  via: IpAddress,
  leaseKey: string,
  attrs: LeaseAttrs,
): LeaseRequest {
  return attrs.vtep && subnet.address.family === 4
    ? { subnet, via, vtepMac: attrs.vtep.mac, leaseKey, node: attrs.node }
    : { subnet, via, leaseKey, node: attrs.node };
}

/**
 * The IPv4 range's subnets as numbers: the first and last address a subnet of it may start at
 * (as `prefixCovers` tells them), and their length. Undefined when no subnet can be inside.
 */
function v4Span(
  range: SubnetRange,
): { readonly first: number; readonly last: number; readonly subnetLen: number } | undefined {
  const { network, subnetLen } = range;
  if (network.address.family !== 4 || subnetLen < network.length) return undefined;
  const size = 2 ** (32 - network.length);
  const first = Math.floor(Number(network.address.value) / size) * size;
  return { first, last: first + size - 1, subnetLen };
}

/** Why a lease's subnet is not one of the network's (undefined: it is). */
function outsideReason(
  config: NetworkConfig,
  range: SubnetRange | undefined,
  subnet: Prefix,
): string | undefined {
  const family = subnet.address.family;
  if (!range) {
    return `${formatPrefix(subnet)} is IPv${family}: the cluster network ${
      describeNetworks(config)
    } has no IPv${family} subnets`;
  }
  if (!prefixCovers(range.network, subnet)) {
    return `${formatPrefix(subnet)} is outside the cluster network ${formatPrefix(range.network)}`;
  }
  if (subnet.length !== range.subnetLen) {
    return `${formatPrefix(subnet)} is not a /${range.subnetLen} as the network config says`;
  }
  return undefined;
}
