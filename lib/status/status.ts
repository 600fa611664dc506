/**
 * The document behind `hg status --json`. Its shape is a contract for scripts (documented in the
 * README): fields are only ever added, never renamed or removed, within one `schema` number.
 *
 * @module
 */
import { listContainers } from "../containers/list.ts";
import { findBridge } from "../host/bridge.ts";
import type { HostState } from "../host/state.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { type ObservedPeer, observedPeers } from "../peers/path.ts";

/**
 * One of hg's peer routes, as scripts see it: `subnet`, `via` (the route's gateway), `dev`,
 * `linkdown` (the kernel marks the route so: its device has no carrier), `mode` (host-gw or
 * vxlan), `peer` (the peer host's address), `vtepMac` (VXLAN), `reason` (why this way).
 */
export type PeerStatus = ObservedPeer;

/** One container, as scripts see it. */
export interface ContainerStatus {
  /** Who made it: `hg netns add` ("netns") or a container runtime through hg's CNI plugin ("cni"). */
  readonly kind: "netns" | "cni";
  /** The namespace's name (netns); the runtime's name for the container, else its id (cni). */
  readonly name: string;
  /** The runtime's container id; null for hg's own namespaces. */
  readonly containerId: string | null;
  /** The container's network namespace path; null when hg does not know it. */
  readonly netns: string | null;
  /** The interface inside the container. */
  readonly ifname: string;
  /** Address with prefix length, e.g. "1.1.1.2/24" (IPv6 on an IPv6-only host). */
  readonly address: string;
  /** A dual-stack container's IPv6 address with prefix length; null otherwise. */
  readonly ipv6Address: string | null;
  readonly hostVeth: string;
  /** The veth is a port of the bridge. */
  readonly attached: boolean;
  readonly up: boolean;
  /** The container's namespace exists (seen from this mount namespace). */
  readonly present: boolean;
}

/** `hg status --json`. */
export interface Status {
  readonly schema: 1;
  readonly bridge: {
    readonly name: string;
    readonly present: boolean;
    readonly up: boolean;
    /** Gateway address with prefix length, e.g. "1.1.1.1/24"; null when it has none. */
    readonly address: string | null;
    readonly subnet: string | null;
    /** A dual-stack bridge's IPv6 gateway address and subnet; null otherwise. */
    readonly ipv6Address: string | null;
    readonly ipv6Subnet: string | null;
    readonly mtu: number | null;
    readonly createdByHg: boolean;
  };
  /** IPv4 forwarding (`net.ipv4.ip_forward`). */
  readonly forwarding: boolean;
  /** IPv6 forwarding (`net.ipv6.conf.all.forwarding`). */
  readonly forwarding6: boolean;
  readonly containers: readonly ContainerStatus[];
  readonly peers: readonly PeerStatus[];
}

/**
 * Builds the status document from a host's state.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * buildStatus(state, "cni0", new Set(["hgv1234abcd"])).bridge.subnet; // "1.1.1.0/24"
 * ```
 */
export function buildStatus(
  state: HostState,
  bridgeName: string,
  present: ReadonlySet<string>,
): Status {
  const bridge = findBridge(state, bridgeName);
  const second = bridge?.gateways[1];
  return {
    schema: 1,
    bridge: {
      name: bridgeName,
      present: bridge !== undefined,
      up: bridge?.link.up ?? false,
      address: bridge?.gateway
        ? `${formatAddress(bridge.gateway.address)}/${bridge.gateway.prefix.length}`
        : null,
      subnet: bridge?.gateway ? formatPrefix(bridge.gateway.prefix) : null,
      ipv6Address: second ? `${formatAddress(second.address)}/${second.prefix.length}` : null,
      ipv6Subnet: second ? formatPrefix(second.prefix) : null,
      mtu: bridge?.link.mtu ?? null,
      createdByHg: bridge?.createdByHg ?? false,
    },
    forwarding: state.forwarding,
    forwarding6: state.forwarding6,
    containers: containerStatuses(state, bridgeName, present),
    peers: peerStatuses(state),
  };
}

/**
 * This host's containers, as scripts see them; `present` holds the host-side veths of those
 * whose namespace exists (`presentContainers`).
 */
export function containerStatuses(
  state: HostState,
  bridgeName: string,
  present: ReadonlySet<string>,
): ContainerStatus[] {
  return listContainers(state).map((c) => ({
    kind: c.kind,
    name: c.name,
    containerId: c.containerId ?? null,
    netns: c.netns ?? null,
    ifname: c.ifname,
    address: `${formatAddress(c.address)}/${c.prefixLength}`,
    ipv6Address: c.ipv6 ? `${formatAddress(c.ipv6.address)}/${c.ipv6.prefixLength}` : null,
    hostVeth: c.hostVeth,
    attached: c.master === bridgeName,
    up: c.vethUp,
    present: present.has(c.hostVeth),
  }));
}

/** hg's peer routes, as scripts see them. */
export function peerStatuses(state: HostState): PeerStatus[] {
  return observedPeers(state);
}
