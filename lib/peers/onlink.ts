import type { HostState } from "../host/state.ts";
import type { IpAddress } from "../net/address.ts";
import { interfaceWithAddress } from "../host/public_address.ts";
import { type Prefix, prefixContains } from "../net/prefix.ts";

/** Where a gateway is directly reachable. */
export interface OnLink {
  readonly ifname: string;
  readonly prefix: Prefix;
}

/**
 * The interface whose directly connected network holds `gateway`, or undefined when no local
 * network does: host-gw can only route through a peer on the same L2 segment.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * onLinkInterface(state, parseAddress("10.0.12.7")); // { ifname: "eth0", prefix: 10.0.12.0/22 }
 * ```
 */
export function onLinkInterface(state: HostState, gateway: IpAddress): OnLink | undefined {
  for (const link of state.addresses) {
    for (const a of link.addresses) {
      const bits = a.address.family === 4 ? 32 : 128;
      if (a.scope === "host" || a.prefix.length === bits) continue;
      if (prefixContains(a.prefix, gateway)) return { ifname: link.ifname, prefix: a.prefix };
    }
  }
  return undefined;
}

/** Whether `address` is one of this host's own addresses. */
export function isLocalAddress(state: HostState, address: IpAddress): boolean {
  return interfaceWithAddress(state, address) !== undefined;
}
