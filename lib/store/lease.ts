/**
 * Lease values in flannel's format, so that hg and flanneld read each other's leases:
 * `{"PublicIP":"10.0.12.11","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}`,
 * plus `HgNode`, the node name hg matches a returning host by (flannel ignores unknown fields).
 * A VXLAN host's lease carries its VTEP in `BackendData` as flannel's do:
 * `"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:56:0a:00:0c:0b"}`.
 * Keys name the subnet with "-" for "/": `1.1.1.0-24`.
 *
 * Dual-stack leases are flannel's too: the key names both subnets, `10.5.52.0-24&fc00::-64`, and
 * the value carries `PublicIPv6`. An IPv6-only lease (flannel's etcd registry has none: it always
 * leases IPv4) is keyed by its IPv6 subnet alone, `fc00::-64`, with `"PublicIP":null`. In a
 * {@link Lease}, `subnet` and `attrs.publicIp` are the primary family's (IPv4, or IPv6 on an
 * IPv6-only network); `ipv6Subnet` and `attrs.publicIpv6` are a dual-stack lease's IPv6 side.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { type IpAddress, parseAddressOf } from "../net/address.ts";
import { specialAddressError } from "../net/special.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../net/prefix.ts";
import { fastV4Prefix } from "../net/dotted_quad.ts";
import type { Family } from "../net/address.ts";
import { parseMac, vtepMac } from "../vxlan/vtep.ts";
import type { NetworkConfig } from "./config.ts";
import type { Lease } from "./store.ts";

/** What a lease says about its holder. */
export interface LeaseAttrs {
  /**
   * The address other hosts route the subnet through: IPv4, or IPv6 on an IPv6-only network
   * (always the family of the lease's `subnet`).
   */
  readonly publicIp: IpAddress;
  /** A dual-stack host's IPv6 address: what other hosts route its IPv6 subnet through. */
  readonly publicIpv6?: IpAddress;
  readonly backendType: string;
  /** The holder's node name, when hg wrote the lease. */
  readonly node?: string;
  /** A vxlan lease's VTEP: where other hosts send the subnet's encapsulated traffic. */
  readonly vtep?: LeaseVtep;
}

/** What a vxlan lease's `BackendData` says. */
export interface LeaseVtep {
  readonly mac: string;
  /** flannel writes its VNI too (older flanneld did not). */
  readonly vni?: number;
}

/**
 * This host's lease attributes on a network (its families and `backend`): the addresses of the
 * families the network has (an IPv6-only network's `publicIp` is the host's IPv6 address; an
 * IPv4 network keeps no `publicIpv6`), and for a vxlan network the backend and the host's VTEP
 * MAC (see `vtepMac`); a host-gw lease has neither.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "./config.ts";
 *
 * const vxlan = { type: "vxlan", vni: 1, port: 8472, directRouting: false } as const;
 * const vxlanConfig = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24, {}, vxlan);
 * const attrs: LeaseAttrs = { publicIp: parseAddress("10.0.12.11"), backendType: "host-gw" };
 * leaseAttrsFor(attrs, vxlanConfig).vtep;
 * // { mac: "0e:56:0a:00:0c:0b", vni: 1 }
 * ```
 */
export function leaseAttrsFor<T extends LeaseAttrs>(
  attrs: T,
  network: Pick<NetworkConfig, "network" | "ipv6" | "backend">,
): T {
  const { vtep: _, publicIpv6, ...rest } = attrs;
  const families = network.network.address.family === 6
    // The host's IPv6 address: given as --public-ip, or found beside its IPv4 one.
    ? { publicIp: attrs.publicIp.family === 6 ? attrs.publicIp : publicIpv6 ?? attrs.publicIp }
    : network.ipv6 && publicIpv6
    ? { publicIpv6 }
    : {};
  const fitted = { ...rest, ...families };
  const { backend } = network;
  if (backend.type === "host-gw") return { ...fitted, backendType: "host-gw" } as T;
  return {
    ...fitted,
    backendType: "vxlan",
    vtep: { mac: vtepMac(attrs.publicIp), vni: backend.vni },
  } as T;
}

/**
 * Why `address` cannot be the address a lease carries (undefined: it can): a unicast address of
 * `family` (the network's family for that side of the lease). `role` names where it came from
 * ("--public-ip", "public address").
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * leaseAddressError("--public-ip", parseAddress("fd00::7"), 4)?.message; // "--public-ip fd00::7 is IPv6: ..."
 * ```
 */
export function leaseAddressError(
  role: string,
  address: IpAddress,
  family: Family = 4,
): InputError | undefined {
  if (address.family !== family) {
    return new InputError(
      `${role} ${formatAddress(address)} is IPv${address.family}: the network's ${
        family === 4
          ? "IPv4 subnets are routed through an IPv4"
          : "IPv6 subnets are routed through an IPv6"
      } address`,
    );
  }
  return specialAddressError(role, address);
}

/** The subnets a lease holds: its primary one and, dual-stack, its IPv6 one. */
export interface LeaseSubnets {
  /** The primary subnet: IPv4, or IPv6 on an IPv6-only network. */
  readonly subnet: Prefix;
  /** A dual-stack lease's IPv6 subnet. */
  readonly ipv6Subnet?: Prefix;
}

/**
 * Every subnet of a lease, the primary one first.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * leaseSubnets({ subnet: parsePrefix("1.1.1.0/24"), ipv6Subnet: parsePrefix("fd00:1:1::/64") }).length; // 2
 * ```
 */
export function leaseSubnets(lease: LeaseSubnets): Prefix[] {
  return lease.ipv6Subnet ? [lease.subnet, lease.ipv6Subnet] : [lease.subnet];
}

/** One family of a lease: its subnet and the address other hosts route it through. */
export interface LeaseRoute {
  readonly subnet: Prefix;
  readonly via: IpAddress;
}

/**
 * What other hosts route for a lease: each of its subnets via the holder's address of that
 * family. A dual-stack lease without `publicIpv6` is refused when it is read, so both are there.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { formatPrefix, parsePrefix } from "../net/prefix.ts";
 *
 * const lease = {
 *   subnet: parsePrefix("1.1.1.0/24"),
 *   ipv6Subnet: parsePrefix("fd00:1:1::/64"),
 *   attrs: {
 *     publicIp: parseAddress("10.0.12.11"),
 *     publicIpv6: parseAddress("fd00:12::11"),
 *     backendType: "host-gw",
 *   },
 * };
 * leaseRoutes(lease).map((r) => formatPrefix(r.subnet)); // ["1.1.1.0/24", "fd00:1:1::/64"]
 * ```
 */
export function leaseRoutes(lease: LeaseSubnets & { readonly attrs: LeaseAttrs }): LeaseRoute[] {
  const routes = [{ subnet: lease.subnet, via: lease.attrs.publicIp }];
  if (lease.ipv6Subnet && lease.attrs.publicIpv6) {
    routes.push({ subnet: lease.ipv6Subnet, via: lease.attrs.publicIpv6 });
  }
  return routes;
}

/**
 * The registry key of a lease's subnets: `1.1.1.0-24`, `1.1.1.0-24&fd00:1:1::-64` (dual-stack),
 * `fd00:1:1::-64` (IPv6-only).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * subnetKey(parsePrefix("1.1.1.0/24")); // "1.1.1.0-24"
 * ```
 */
export function subnetKey(subnet: Prefix, ipv6Subnet?: Prefix): string {
  const key = (p: Prefix) => formatPrefix(p).replace("/", "-");
  return ipv6Subnet ? `${key(subnet)}&${key(ipv6Subnet)}` : key(subnet);
}

/** The registry key of a lease (see {@link subnetKey}). */
export function leaseKey(lease: LeaseSubnets): string {
  return subnetKey(lease.subnet, lease.ipv6Subnet);
}

const V4_KEY = String.raw`(\d+\.\d+\.\d+\.\d+)-(\d+)`;
const V6_KEY = String.raw`([0-9a-f:]+)-(\d+)`;
const KEY = new RegExp(`^(?:${V4_KEY}(?:&${V6_KEY})?|${V6_KEY})$`);

/**
 * The subnets a registry key names, or undefined when the key is not a lease's (a key must be
 * written as hg and flannel write it: the canonical form of each prefix).
 *
 * @example
 * ```ts
 * subnetsOfKey("10.5.52.0-24&fc00::-64")?.ipv6Subnet; // fc00::/64
 * ```
 */
export function subnetsOfKey(key: string): LeaseSubnets | undefined {
  // The common key, one IPv4 subnet written canonically, without the regular expression and
  // the round trip through formatting: a registry holds thousands. The rest goes the long way.
  if (key.indexOf("&") < 0) {
    const subnet = fastV4Prefix(key, "-");
    if (subnet) return { subnet };
  }
  const match = KEY.exec(key);
  if (!match) return undefined;
  const [, v4, v4len, v6, v6len, only6, only6len] = match;
  try {
    const subnets = v4 === undefined ? { subnet: parsePrefix(`${only6}/${only6len}`) } : {
      subnet: parsePrefix(`${v4}/${v4len}`),
      ...(v6 === undefined ? {} : { ipv6Subnet: parsePrefix(`${v6}/${v6len}`) }),
    };
    if (subnets.subnet.address.family !== (v4 === undefined ? 6 : 4)) return undefined;
    if ("ipv6Subnet" in subnets && subnets.ipv6Subnet!.address.family !== 6) return undefined;
    // One name per lease: "fc00:0::-64" would be a second key for fc00::-64.
    return leaseKey(subnets) === key ? subnets : undefined;
  } catch {
    return undefined;
  }
}

/** The primary subnet a registry key names (see {@link subnetsOfKey}). */
export function subnetOfKey(key: string): Prefix | undefined {
  return subnetsOfKey(key)?.subnet;
}

/**
 * Puts a lease's key and value together, or throws an Error saying why they do not fit: each
 * subnet needs the holder's address of its family.
 *
 * @example
 * ```ts
 * leaseOf(subnetsOfKey("1.1.1.0-24")!, parseLeaseValue('{"PublicIP":"10.0.12.11"}')).subnet; // 1.1.1.0/24
 * ```
 */
export function leaseOf(subnets: LeaseSubnets, attrs: LeaseAttrs): Lease {
  const v6Only = subnets.subnet.address.family === 6;
  // A value written for a dual-stack network names its IPv4 address as PublicIP.
  const publicIp = v6Only && attrs.publicIp.family === 4 ? attrs.publicIpv6 : attrs.publicIp;
  if (!publicIp) throw new Error("an IPv6 lease has no PublicIPv6");
  if (subnets.ipv6Subnet && !attrs.publicIpv6) {
    throw new Error("a dual-stack lease has no PublicIPv6");
  }
  // A single-family lease keeps one address (an IPv4 lease's value may name an IPv6 one too).
  if (subnets.ipv6Subnet) return { subnet: subnets.subnet, ipv6Subnet: subnets.ipv6Subnet, attrs };
  if (attrs.publicIpv6 === undefined && publicIp === attrs.publicIp) {
    return { subnet: subnets.subnet, attrs };
  }
  const { publicIpv6: _, ...single } = attrs;
  return { subnet: subnets.subnet, attrs: { ...single, publicIp } };
}

/**
 * A lease value as flannel writes it, plus hg's node name.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * formatLeaseValue({ publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1" });
 * // '{"PublicIP":"10.0.12.11","PublicIPv6":null,"BackendType":"host-gw","BackendData":null,"HgNode":"h1"}'
 * ```
 */
export function formatLeaseValue(attrs: LeaseAttrs): string {
  return JSON.stringify(leaseValue(attrs));
}

/** The lease value as a JSON object (what {@link formatLeaseValue} writes). */
export function leaseValue(attrs: LeaseAttrs): Record<string, unknown> {
  const v6Only = attrs.publicIp.family === 6;
  const v6 = v6Only ? attrs.publicIp : attrs.publicIpv6;
  return {
    PublicIP: v6Only ? null : formatAddress(attrs.publicIp),
    PublicIPv6: v6 ? formatAddress(v6) : null,
    BackendType: attrs.backendType,
    BackendData: attrs.vtep
      ? {
        ...(attrs.vtep.vni === undefined ? {} : { VNI: attrs.vtep.vni }),
        VtepMAC: attrs.vtep.mac,
      }
      : null,
    ...(attrs.node === undefined ? {} : { HgNode: attrs.node }),
  };
}

/** Parses a lease value; throws an Error with a one-line reason when it is not a valid one. */
export function parseLeaseValue(text: string): LeaseAttrs {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`value is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return leaseAttrsOf(data);
}

/** Checks a lease value already parsed from JSON (a file registry's, a snapshot's). */
export function leaseAttrsOf(data: unknown): LeaseAttrs {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("value is not a JSON object");
  }
  const v = data as Record<string, unknown>;
  if (v.PublicIPv6 !== undefined && v.PublicIPv6 !== null && typeof v.PublicIPv6 !== "string") {
    throw new Error("PublicIPv6 is not a string");
  }
  const publicIpv6 = typeof v.PublicIPv6 === "string" ? parseAddressOf(6, v.PublicIPv6) : undefined;
  // An IPv6-only lease says "PublicIP": null.
  if (typeof v.PublicIP !== "string" && !(v.PublicIP == null && publicIpv6)) {
    throw new Error(`PublicIP is missing or not a string`);
  }
  const publicIp = typeof v.PublicIP === "string" ? parseAddressOf(4, v.PublicIP) : publicIpv6!;
  const backendType = v.BackendType ?? "";
  if (typeof backendType !== "string") throw new Error("BackendType is not a string");
  if (
    v.HgNode !== undefined &&
    (typeof v.HgNode !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(v.HgNode))
  ) {
    throw new Error("HgNode is not a valid node name");
  }
  // Built field by field (in the order the spreads wrote them): a registry holds thousands.
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } =
    publicIpv6 && publicIp.family === 4
      ? { publicIp, publicIpv6, backendType }
      : { publicIp, backendType };
  if (typeof v.HgNode === "string") attrs.node = v.HgNode;
  if (backendType === "vxlan") attrs.vtep = vtepOf(v.BackendData);
  return attrs;
}

/** A vxlan lease's `BackendData`: an object with a unicast `VtepMAC` (and maybe `VNI`). */
function vtepOf(data: unknown): LeaseVtep {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("a vxlan lease has no BackendData object (with VtepMAC)");
  }
  const d = data as Record<string, unknown>;
  if (typeof d.VtepMAC !== "string") throw new Error("BackendData.VtepMAC is missing");
  let mac: string;
  try {
    mac = parseMac("BackendData.VtepMAC", d.VtepMAC);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (d.VNI === undefined) return { mac };
  if (typeof d.VNI !== "number" || !Number.isInteger(d.VNI) || d.VNI < 0 || d.VNI > 0xffffff) {
    throw new Error("BackendData.VNI is not a VNI");
  }
  return { mac, vni: d.VNI };
}
