import { EnvironmentError } from "../errors.ts";
import { addressEquals, type IpAddress, parseAddress } from "../net/address.ts";
import type { AddressedLink } from "../ip/addr.ts";
import type { HostState } from "./state.ts";

/** The address and interface other hosts reach this host on. */
export interface PublicAddress {
  readonly address: IpAddress;
  readonly ifname: string;
}

/**
 * The host's public address, as flanneld picks it: on `iface` (a name or one of its addresses)
 * when given, else on the interface of the default route; the first global IPv4 address there.
 *
 * @example
 * ```ts
 * publicAddress(state); // { address: 10.0.12.11, ifname: "eth0" }
 * publicAddress(state, "10.0.12.11"); // the same, found by address
 * ```
 */
export function publicAddress(state: HostState, iface?: string): PublicAddress {
  const global4 = (ifname: string) =>
    state.addresses.find((l) => l.ifname === ifname)?.addresses.find((a) =>
      a.address.family === 4 && a.scope === "global"
    );
  let ifname: string | undefined;
  if (iface !== undefined) {
    let byAddress: IpAddress | undefined;
    try {
      byAddress = parseAddress(iface);
    } catch {
      byAddress = undefined;
    }
    ifname = byAddress
      ? interfaceWithAddress(state, byAddress)?.ifname
      : state.addresses.find((l) => l.ifname === iface)?.ifname;
    if (!ifname) throw new EnvironmentError(`no interface ${iface} on this host`);
  } else {
    ifname = state.routes.find((r) => r.dst.length === 0 && r.dev !== undefined)?.dev;
    if (!ifname) {
      throw new EnvironmentError(
        "cannot tell this host's public address: there is no default route; give --public-ip or --iface",
      );
    }
  }
  const found = global4(ifname);
  if (!found) {
    throw new EnvironmentError(`interface ${ifname} has no global IPv4 address; give --public-ip`);
  }
  return { address: found.address, ifname };
}

/**
 * The MTU flanneld reports for a host: its uplink's, the interface holding `address` (1500
 * when none does).
 */
export function uplinkMtu(state: HostState, address: IpAddress | undefined): number {
  return (address && interfaceWithAddress(state, address))?.mtu ?? 1500;
}

/**
 * The interface that has `address`, if any.
 *
 * @example
 * ```ts
 * interfaceWithAddress(state, parseAddress("10.0.12.11"))?.ifname; // "eth0"
 * ```
 */
export function interfaceWithAddress(
  state: HostState,
  address: IpAddress,
): AddressedLink | undefined {
  return state.addresses.find((l) => l.addresses.some((a) => addressEquals(a.address, address)));
}
