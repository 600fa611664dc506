/**
 * Plans `hg peer add` and `hg peer rm`: one route per peer subnet via the peer host's address,
 * tagged with hg's route protocol. Pure.
 *
 * @module
 */
import { HgError, InputError } from "../errors.ts";
import { overlappingNetworks } from "../host/overlap.ts";
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL, protocolName } from "../ip/protocol.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix, type Prefix, prefixEquals } from "../net/prefix.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { hgRoutes } from "./list.ts";
import { isLocalAddress, onLinkInterface } from "./onlink.ts";

/** A peer route: the other host's subnet and that host's address. */
export interface PeerRequest {
  readonly subnet: Prefix;
  readonly via: IpAddress;
  readonly dev?: string;
}

/** The message for a gateway that is not on a directly connected network. */
export function notOnLinkMessage(via: IpAddress): string {
  return `gateway ${formatAddress(via)} is not on a directly connected network: host-gw needs the hosts ` +
    `to share an L2 segment (a router between them breaks it); use the peer's address on this host's segment`;
}

/** The `ip` arguments that install a peer route. */
export function peerRouteArgs(subnet: Prefix, via: IpAddress, dev: string): string[] {
  return [
    "route",
    "replace",
    formatPrefix(subnet),
    "via",
    formatAddress(via),
    "dev",
    dev,
    "proto",
    String(HG_ROUTE_PROTOCOL),
  ];
}

/**
 * Plans the route to a peer's subnet: nothing when it is already there, a replace when hg's
 * route points elsewhere. Refuses a gateway that is off-link or this host, and a subnet that
 * collides with a local network or a route hg did not make.
 *
 * @example
 * ```ts
 * planPeerAdd(state, { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") });
 * // [ip route replace 1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104]
 * ```
 */
export function planPeerAdd(state: HostState, request: PeerRequest): Plan {
  const { subnet, via } = request;
  if (subnet.address.family !== 4) {
    throw new InputError(`subnet ${formatPrefix(subnet)} is IPv6: hg peer takes IPv4 subnets`);
  }
  if (via.family !== subnet.address.family) {
    throw new InputError(
      `gateway ${formatAddress(via)} is IPv${via.family} but subnet ${formatPrefix(subnet)} is IPv4`,
    );
  }
  if (subnet.length === 0) throw new InputError(`subnet ${formatPrefix(subnet)} is the whole address space: give a peer's subnet`);
  if (isLocalAddress(state, via)) {
    throw new InputError(`gateway ${formatAddress(via)} is this host's own address: give the peer host's address`);
  }
  const onLink = onLinkInterface(state, via);
  if (!onLink) throw new InputError(notOnLinkMessage(via));
  if (request.dev !== undefined && request.dev !== onLink.ifname) {
    throw new InputError(
      `gateway ${formatAddress(via)} is on ${onLink.ifname} (${formatPrefix(onLink.prefix)}), not on ${request.dev}`,
    );
  }
  const mine = hgRoutes(state).find((r) => prefixEquals(r.dst, subnet));
  const foreign = state.routes.find((r) => prefixEquals(r.dst, subnet) && r.protocol !== HG_ROUTE_PROTOCOL);
  // A route to exactly this subnet is judged below: hg's own is replaced, an admin's is refused.
  const conflicts = overlappingNetworks(state, subnet).filter((c) =>
    !(c.source === "route" && prefixEquals(c.prefix, subnet))
  );
  if (conflicts.length > 0) {
    const c = conflicts[0];
    throw new InputError(`subnet ${formatPrefix(subnet)} overlaps ${formatPrefix(c.prefix)} (${c.where}) on this host`);
  }
  if (foreign) {
    throw new HgError(
      `a route to ${formatPrefix(subnet)} that hg did not make exists (proto ${protocolName(foreign.protocol)}` +
        `${foreign.gateway ? ` via ${formatAddress(foreign.gateway)}` : ""}${foreign.dev ? ` dev ${foreign.dev}` : ""}): ` +
        `hg will not replace it; remove it with "ip route del ${formatPrefix(subnet)}" if it should go`,
    );
  }
  if (mine && mine.gateway && addressEquals(mine.gateway, via) && mine.dev === onLink.ifname) return [];
  return [ipStep(peerRouteArgs(subnet, via, onLink.ifname))];
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
