import { formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix, type Prefix } from "../net/prefix.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";

/** A peer route: the other host's subnet and that host's address. */
export interface PeerRequest {
  readonly subnet: Prefix;
  readonly via: IpAddress;
  readonly dev?: string;
  /** The peer's VTEP MAC (its lease's `BackendData.VtepMAC`): it can be reached over VXLAN. */
  readonly vtepMac?: string;
}

/** The message for a gateway that is not on a directly connected network. */
export function notOnLinkMessage(via: IpAddress): string {
  return `gateway ${
    formatAddress(via)
  } is not on a directly connected network: host-gw needs the hosts ` +
    `to share an L2 segment (a router between them breaks it); use the peer's address on this host's segment`;
}

/**
 * The `ip` arguments that install a peer route; `replace` so that a route hg's observation
 * missed (a race with another writer) does not fail the batch with "File exists".
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * peerRouteArgs(parsePrefix("1.1.2.0/24"), parseAddress("10.0.12.7"), "eth0");
 * // ["route", "replace", "1.1.2.0/24", "via", "10.0.12.7", "dev", "eth0", "proto", "104"]
 * ```
 */
export function peerRouteArgs(subnet: Prefix, via: IpAddress, dev: string): string[] {
  return peerRouteArgsOf(formatPrefix(subnet), formatAddress(via), dev);
}

/** The route's protocol as the lines write it. */
const PROTO = String(HG_ROUTE_PROTOCOL);

/**
 * {@link peerRouteArgs} of a subnet and gateway already formatted: a sync formats each subnet
 * once and each of the handful of gateways once, not once per route.
 *
 * @example
 * ```ts
 * peerRouteArgsOf("1.1.2.0/24", "10.0.12.7", "eth0");
 * // ["route", "replace", "1.1.2.0/24", "via", "10.0.12.7", "dev", "eth0", "proto", "104"]
 * ```
 */
export function peerRouteArgsOf(subnet: string, via: string, dev: string): string[] {
  return ["route", "replace", subnet, "via", via, "dev", dev, "proto", PROTO];
}
