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

/** The addresses this host publishes in its lease (see `LeaseAttrs`). */
export interface LeaseAddresses {
  /** Its IPv4 address, or its IPv6 address when it has no IPv4 one (an IPv6-only host). */
  readonly publicIp: IpAddress;
  /** Its IPv6 address beside an IPv4 one, for dual-stack networks. */
  readonly publicIpv6?: IpAddress;
}

/**
 * The addresses this host publishes in its lease: the given ones (`--public-ip`, IPv4 or IPv6;
 * `--public-ipv6`) when they can be a host's (unicast, not the network or broadcast address of
 * a segment this host is on), else the ones {@link publicAddress} finds: a global address of
 * each family on `iface`, on the interface of a given address, or on the default route's. The
 * lease keeps what its network's families need (see `leaseAttrsFor`).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * leaseAddresses(state, {}, "eth0"); // { publicIp: 10.0.12.11, publicIpv6: fd00:12::11 }
 * leaseAddresses(state, { publicIp: parseAddress("10.0.12.0") }); // throws: the network address of 10.0.12.0/22
 * ```
 */
export function leaseAddresses(
  state: HostState,
  given: { readonly publicIp?: IpAddress; readonly publicIpv6?: IpAddress },
  iface?: string,
): LeaseAddresses {
  if (given.publicIp !== undefined && iface !== undefined) {
    throw new InputError("give --public-ip or --iface, not both");
  }
  for (
    const [role, address] of [["--public-ip", given.publicIp], [
      "--public-ipv6",
      given.publicIpv6,
    ]] as const
  ) {
    if (address === undefined) continue;
    const unusable = leaseAddressError(
      role,
      address,
      role === "--public-ipv6" ? 6 : address.family,
    );
    if (unusable) throw unusable;
    for (const link of state.addresses) {
      for (const a of link.addresses) {
        const edge = segmentEdgeError(role, address, a.prefix, link.ifname);
        if (edge) throw edge;
      }
    }
  }
  // A given --public-ip is the lease's primary address as it is (an IPv4 network refuses an
  // IPv6 one with its reason); only its IPv6 partner may be found, on the same interface. Else
  // each family is found on iface or the default route's interface; only a host with neither
  // address is an error (IPv4's, as before).
  const find = (family: 4 | 6, where: string | undefined) => {
    try {
      return publicAddress(state, where, family).address;
    } catch (e) {
      if (e instanceof EnvironmentError) return undefined;
      throw e;
    }
  };
  if (given.publicIp) {
    if (given.publicIp.family === 6) return { publicIp: given.publicIp };
    const holder = interfaceWithAddress(state, given.publicIp)?.ifname;
    const v6 = given.publicIpv6 ?? (holder === undefined ? undefined : find(6, holder));
    return v6 ? { publicIp: given.publicIp, publicIpv6: v6 } : { publicIp: given.publicIp };
  }
  const v4 = find(4, iface);
  const v6 = given.publicIpv6 ?? find(6, iface);
  if (!v4 && !v6) publicAddress(state, iface, 4);
  if (v4) return v6 ? { publicIp: v4, publicIpv6: v6 } : { publicIp: v4 };
  return { publicIp: v6! };
}

/**
 * The host's public address of `family`, as flanneld picks it: on `iface` (a name or one of its
 * addresses) when given, else on the interface of the default route (of that family, else of
 * the other); the first global address there (IPv6: not tentative, deprecated or dadfailed).
 *
 * @example
 * ```ts
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * publicAddress(state); // { address: 10.0.12.11, ifname: "eth0" }
 * publicAddress(state, "10.0.12.11"); // the same, found by address
 * ```
 */
export function publicAddress(state: HostState, iface?: string, family: 4 | 6 = 4): PublicAddress {
  const global = (ifname: string) =>
    state.addresses.find((l) => l.ifname === ifname)?.addresses.find((a) =>
      a.address.family === family && a.scope === "global" &&
      !a.flags?.some((f) => f === "tentative" || f === "dadfailed" || f === "deprecated")
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
    const defaults = state.routes.filter((r) => r.dst.length === 0 && r.dev !== undefined);
    ifname = (defaults.find((r) => r.dst.address.family === family) ?? defaults[0])?.dev;
    if (!ifname) {
      throw new EnvironmentError(
        "cannot tell this host's public address: there is no default route; give --public-ip or --iface",
      );
    }
  }
  const found = global(ifname);
  if (!found) {
    throw new EnvironmentError(
      `interface ${ifname} has no global IPv${family} address; give --public-ip${
        family === 6 ? "v6" : ""
      }`,
    );
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
 * import { parseAddress } from "../net/address.ts";
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
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
 * import { parseAddress } from "../net/address.ts";
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * interfaceWithAddress(state, parseAddress("10.0.12.11"))?.ifname; // "eth0"
 * ```
 */
export function interfaceWithAddress(
  state: HostState,
  address: IpAddress,
): AddressedLink | undefined {
  return state.addresses.find((l) => l.addresses.some((a) => addressEquals(a.address, address)));
}
