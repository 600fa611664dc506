import { EnvironmentError, InputError } from "../errors.ts";
import { addressEquals, type IpAddress, parseAddress } from "../net/address.ts";
import { segmentEdgeError } from "../net/special.ts";
import { leaseAddressError } from "../store/lease.ts";
import type { AddressedLink } from "../ip/addr.ts";
import { BRIDGE_ALIAS } from "./marks.ts";
import type { HostState } from "./state.ts";

/** The address and interface other hosts reach this host on. */
export interface PublicAddress {
  readonly address: IpAddress;
  readonly ifname: string;
}

/**
 * The address this host publishes in its lease: `given` (`--public-ip`) when it can be a host's
 * address (unicast IPv4, not the network or broadcast address of a segment this host is on),
 * else the one {@link publicAddress} finds on `iface` or the default route's interface.
 *
 * @example
 * ```ts
 * leaseAddress(state, undefined, "eth0"); // 10.0.12.11
 * leaseAddress(state, parseAddress("10.0.12.0")); // throws: the network address of 10.0.12.0/22
 * ```
 */
export function leaseAddress(
  state: HostState,
  given: IpAddress | undefined,
  iface?: string,
): IpAddress {
  if (given === undefined) return publicAddress(state, iface).address;
  if (iface !== undefined) throw new InputError("give --public-ip or --iface, not both");
  const unusable = leaseAddressError("--public-ip", given);
  if (unusable) throw unusable;
  for (const link of state.addresses) {
    for (const a of link.addresses) {
      const edge = segmentEdgeError("--public-ip", given, a.prefix, link.ifname);
      if (edge) throw edge;
    }
  }
  return given;
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
    if (!ifname) throw new InputError(`--iface ${iface}: no such interface on this host`);
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
 * The interface other hosts are reached through: the one holding `address` (the public
 * address), else the default route's, else the only interface with a global IPv4 address
 * (leaving out lo and hg's bridge: a host with no default route); undefined when none tells.
 *
 * @example
 * ```ts
 * uplinkOf(state, parseAddress("10.0.12.11")); // { ifname: "eth0", mtu: 1500 }
 * ```
 */
export function uplinkOf(
  state: HostState,
  address: IpAddress | undefined,
): { readonly ifname: string; readonly mtu: number } | undefined {
  const holder = address && interfaceWithAddress(state, address);
  if (holder) return { ifname: holder.ifname, mtu: holder.mtu };
  const dev = state.routes.find((r) => r.dst.length === 0 && r.dev !== undefined)?.dev;
  const link = state.links.find((l) => l.ifname === dev);
  if (link) return { ifname: link.ifname, mtu: link.mtu };
  const hgBridges = new Set(
    state.links.filter((l) => l.alias === BRIDGE_ALIAS).map((l) => l.ifname),
  );
  const addressed = state.addresses.filter((l) =>
    l.ifname !== "lo" && !hgBridges.has(l.ifname) &&
    l.addresses.some((a) => a.address.family === 4 && a.scope === "global")
  );
  return addressed.length === 1
    ? { ifname: addressed[0].ifname, mtu: addressed[0].mtu }
    : undefined;
}

/** The MTU flanneld reports for a host: its uplink's (1500 when it has none). */
export function uplinkMtu(state: HostState, address: IpAddress | undefined): number {
  return uplinkOf(state, address)?.mtu ?? 1500;
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
