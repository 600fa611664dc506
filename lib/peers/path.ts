/**
 * Which way each peer goes (host-gw or VXLAN) and why, in one wording for the reconciler's
 * decision and for what `hg status` and `hg peer ls` read back from the host. Pure.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import { hgRoutes } from "./list.ts";
import { type OnLink, onLinkInterface } from "./onlink.ts";

/** The two ways to a peer. */
export type PeerMode = "host-gw" | "vxlan";

/** Why a peer goes host-gw: its address is on a local network. */
export function onLinkReason(via: IpAddress, onLink: OnLink): string {
  return `${formatAddress(via)} is on ${onLink.ifname} (${formatPrefix(onLink.prefix)})`;
}

/**
 * Why a peer goes over VXLAN: off-link, or on-link with DirectRouting off (`onLink` given).
 */
export function vxlanReason(via: IpAddress, device: string, onLink?: OnLink): string {
  return onLink
    ? `DirectRouting is off: through ${device}, although ${
      formatAddress(via)
    } is on ${onLink.ifname}`
    : `${formatAddress(via)} is not on a local network: through ${device}`;
}

/** One of hg's peer routes read back from the host, with its way and the peer's address. */
export interface ObservedPeer {
  readonly subnet: string;
  /** The route's gateway (a VXLAN peer's: its subnet's network address). */
  readonly via: string | null;
  readonly dev: string | null;
  readonly linkdown: boolean;
  readonly mode: PeerMode;
  /** The peer host's address: the gateway (host-gw), the fdb entry's destination (VXLAN). */
  readonly peer: string | null;
  /** A VXLAN peer's VTEP MAC (its neighbour entry's). */
  readonly vtepMac: string | null;
  /** Why it goes this way, or what is wrong with it now. */
  readonly reason: string;
}

/**
 * hg's peer routes as the host has them, each with its way and why.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // flannel.1 on eth0 10.0.12.11/22, a route to 1.1.5.0/24 through it
 * observedPeers(state)[0]; // { subnet: "1.1.5.0/24", mode: "vxlan", peer: "10.0.20.12", reason: "10.0.20.12 is not on a local network: through flannel.1", ... }
 * ```
 */
export function observedPeers(state: HostState): ObservedPeer[] {
  const device = findVxlanDevice(state)?.ifname;
  return hgRoutes(state).map((r) => {
    const base = {
      subnet: formatPrefix(r.dst),
      via: r.gateway ? formatAddress(r.gateway) : null,
      dev: r.dev ?? null,
      linkdown: r.flags.includes("linkdown"),
    };
    if (device !== undefined && r.dev === device) {
      const gateway = r.gateway;
      const mac = gateway &&
        state.neighbours.find((n) => n.dev === device && addressEquals(n.dst, gateway))?.lladdr;
      const dst = mac && state.fdb.find((f) => f.dev === device && f.mac === mac)?.dst;
      const reason = !mac
        ? `no neighbour entry for ${base.via} on ${device}: its packets cannot be encapsulated`
        : !dst
        ? `no fdb entry for ${mac} on ${device}: its packets have no destination host`
        : vxlanReason(dst, device, onLinkInterface(state, dst));
      return {
        ...base,
        mode: "vxlan",
        peer: dst ? formatAddress(dst) : null,
        vtepMac: mac ?? null,
        reason,
      };
    }
    const onLink = r.gateway && onLinkInterface(state, r.gateway);
    return {
      ...base,
      mode: "host-gw",
      peer: base.via,
      vtepMac: null,
      reason: !r.gateway
        ? "the route has no gateway"
        : onLink
        ? onLinkReason(r.gateway, onLink)
        : `${base.via} is no longer on a local network: host-gw cannot reach it`,
    };
  });
}
