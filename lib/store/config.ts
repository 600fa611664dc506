/**
 * The cluster network config in flannel's format (`<prefix>/config` in etcd):
 * `{"Network":"1.1.0.0/16","SubnetLen":24,"SubnetMin":"1.1.1.0","SubnetMax":"1.1.255.0","Backend":{"Type":"host-gw"}}`.
 * The backend is host-gw (plain routes, peers on one segment) or vxlan with flannel's options
 * (`VNI`, `Port`, `DirectRouting`: plain routes to on-link peers, VXLAN to the others).
 *
 * IPv6 uses flannel's fields too: `EnableIPv6`, `IPv6Network`, `IPv6SubnetLen`, `IPv6SubnetMin`,
 * `IPv6SubnetMax`, and `EnableIPv4: false` for an IPv6-only network. A config has a primary range
 * (`network`...: IPv4, or IPv6 when the network is IPv6-only) and, dual-stack, an IPv6 range
 * beside it (`ipv6`), so that code that serves one family reads the primary range unchanged.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { DEFAULT_VXLAN, portError, vniError } from "../vxlan/vtep.ts";
import { specialPrefixError } from "../net/special.ts";
import { addressEquals, formatAddress, type IpAddress, parseAddressOf } from "../net/address.ts";
import {
  formatPrefix,
  nthSubnet,
  parsePrefix,
  type Prefix,
  prefixContains,
  prefixEquals,
  subnetCount,
} from "../net/prefix.ts";
import { prefixOf } from "../net/prefix.ts";

/** How hosts reach each other's subnets. */
export type Backend =
  | { readonly type: "host-gw" }
  | {
    readonly type: "vxlan";
    readonly vni: number;
    readonly port: number;
    /** Plain routes to peers on a local network, VXLAN only to the others (flannel's name). */
    readonly directRouting: boolean;
  };

/** The default backend: host-gw. */
export const HOST_GW: Backend = { type: "host-gw" };

/** One family's network and how it is cut into host subnets. */
export interface SubnetRange {
  readonly network: Prefix;
  /** The prefix length of each host's subnet. */
  readonly subnetLen: number;
  /** The first and last subnet that may be handed out (their network addresses). */
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
}

/**
 * The cluster network: its primary range (IPv4, or IPv6 on an IPv6-only network), a dual-stack
 * network's IPv6 range, and the backend.
 */
export interface NetworkConfig extends SubnetRange {
  /** A dual-stack network's IPv6 range (an IPv6-only network's range is the primary one). */
  readonly ipv6?: SubnetRange;
  readonly backend: Backend;
}

/**
 * Every range of the config: the primary one first, then a dual-stack network's IPv6 range.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * configRanges(makeNetworkConfig(parsePrefix("1.1.0.0/16"))).length; // 1
 * ```
 */
export function configRanges(config: NetworkConfig): SubnetRange[] {
  return config.ipv6 ? [config, config.ipv6] : [config];
}

/** The config's range of `family`, or undefined when the network has none. */
export function rangeOf(config: NetworkConfig, family: 4 | 6): SubnetRange | undefined {
  return configRanges(config).find((r) => r.network.address.family === family);
}

/**
 * flannel's default subnet length. IPv4: /24 for networks of /22 or larger, else two bits more.
 * IPv6: /64 for networks of /62 or larger, else two bits more.
 */
export function defaultSubnetLen(network: Prefix): number {
  if (network.address.family === 6) return network.length <= 62 ? 64 : network.length + 2;
  return network.length <= 22 ? 24 : network.length + 2;
}

/**
 * A validated range of one family. Like flannel, the first subnet of the network is skipped by
 * default (SubnetMin = the second subnet) and SubnetMax is the last one. Subnets hold at least
 * two hosts and a gateway: /30 at most for IPv4, /126 for IPv6 (flannel's limits).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * makeSubnetRange(parsePrefix("fd00:1::/56")).subnetLen; // 64
 * ```
 */
export function makeSubnetRange(
  network: Prefix,
  subnetLen = defaultSubnetLen(network),
  bounds: { min?: IpAddress; max?: IpAddress } = {},
): SubnetRange {
  const where = `network ${formatPrefix(network)}`;
  const special = specialPrefixError("network", network);
  if (special) throw special;
  const longest = network.address.family === 4 ? 30 : 126;
  if (!Number.isInteger(subnetLen) || subnetLen <= network.length || subnetLen > longest) {
    throw new InputError(
      `subnet length ${subnetLen} does not fit ${where}: expected ${network.length + 1}-${longest}`,
    );
  }
  const count = subnetCount(network, subnetLen);
  const min = bounds.min ?? nthSubnet(network, subnetLen, count > 1n ? 1 : 0).address;
  const max = bounds.max ?? nthSubnet(network, subnetLen, count - 1n).address;
  for (const [name, value] of [["SubnetMin", min], ["SubnetMax", max]] as const) {
    if (
      value.family !== network.address.family || !prefixContains(network, value) ||
      !addressEquals(prefixOf(value, subnetLen).address, value)
    ) {
      throw new InputError(
        `${name} ${formatAddress(value)} is not the start of a /${subnetLen} inside ${where}`,
      );
    }
  }
  if (min.value > max.value) {
    throw new InputError(
      `SubnetMin ${formatAddress(min)} is above SubnetMax ${formatAddress(max)}`,
    );
  }
  return { network, subnetLen, subnetMin: min, subnetMax: max };
}

/**
 * A validated config: `network` is the primary range (IPv4, or IPv6 for an IPv6-only network);
 * `ipv6`, an IPv6 range beside an IPv4 one, makes the network dual-stack. hg's vxlan backend
 * carries IPv4 only.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24).subnetMin; // 1.1.1.0
 * ```
 */
export function makeNetworkConfig(
  network: Prefix,
  subnetLen = defaultSubnetLen(network),
  bounds: { min?: IpAddress; max?: IpAddress } = {},
  backend: Backend = HOST_GW,
  ipv6?: SubnetRange,
): NetworkConfig {
  const primary = makeSubnetRange(network, subnetLen, bounds);
  if (ipv6) {
    if (network.address.family !== 4) {
      throw new InputError(
        `network ${formatPrefix(network)} is IPv6: a dual-stack network's Network is IPv4`,
      );
    }
    if (ipv6.network.address.family !== 6) {
      throw new InputError(`IPv6Network ${formatPrefix(ipv6.network)} is not IPv6`);
    }
  }
  if (backend.type === "vxlan" && (ipv6 || network.address.family === 6)) {
    throw new InputError(
      "hg's vxlan backend carries IPv4 only: use host-gw for an IPv6 or dual-stack network",
    );
  }
  return { ...primary, ...(ipv6 ? { ipv6 } : {}), backend };
}

/** The backend as flannel's `Backend` object. */
export function backendJson(backend: Backend): Record<string, unknown> {
  if (backend.type === "host-gw") return { Type: "host-gw" };
  return {
    Type: "vxlan",
    VNI: backend.vni,
    Port: backend.port,
    ...(backend.directRouting ? { DirectRouting: true } : {}),
  };
}

/**
 * Parses flannel's `Backend` object (absent: host-gw). Throws an InputError naming the field
 * that is wrong; a backend hg does not speak (udp, wireguard, ipip...) is refused, since hg
 * could not reach the hosts that use it.
 *
 * @example
 * ```ts
 * parseBackend({ Type: "vxlan", DirectRouting: true }); // { type: "vxlan", vni: 1, port: 8472, directRouting: true }
 * ```
 */
export function parseBackend(value: unknown): Backend {
  if (value === undefined || value === null) return HOST_GW;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new InputError("the network config's Backend is not a JSON object");
  }
  const v = value as Record<string, unknown>;
  const type = v.Type ?? "host-gw";
  if (type === "host-gw") return HOST_GW;
  if (type !== "vxlan") {
    throw new InputError(
      `the network config's Backend.Type ${
        JSON.stringify(type)
      } is not one hg speaks: host-gw or vxlan`,
    );
  }
  const vni = v.VNI ?? DEFAULT_VXLAN.vni;
  const port = v.Port ?? DEFAULT_VXLAN.port;
  const bad = vniError("the network config's Backend.VNI", vni) ??
    portError("the network config's Backend.Port", port);
  if (bad) throw bad;
  const directRouting = v.DirectRouting ?? false;
  if (typeof directRouting !== "boolean") {
    throw new InputError("the network config's Backend.DirectRouting is not true or false");
  }
  return { type: "vxlan", vni: vni as number, port: port as number, directRouting };
}

/**
 * The backend in words.
 *
 * @example
 * ```ts
 * describeBackend({ type: "vxlan", vni: 1, port: 8472, directRouting: true }); // "vxlan (VNI 1, port 8472, DirectRouting)"
 * ```
 */
export function describeBackend(backend: Backend): string {
  if (backend.type === "host-gw") return "host-gw";
  return `vxlan (VNI ${backend.vni}, port ${backend.port}${
    backend.directRouting ? ", DirectRouting" : ""
  })`;
}

/** Whether two backends are the same. */
export function backendEquals(a: Backend, b: Backend): boolean {
  return JSON.stringify(backendJson(a)) === JSON.stringify(backendJson(b));
}

/** The config as flannel's JSON. */
export function formatNetworkConfig(config: NetworkConfig): string {
  const v6 = rangeOf(config, 6);
  const v4 = rangeOf(config, 4);
  return JSON.stringify({
    ...(v4
      ? {
        Network: formatPrefix(v4.network),
        SubnetLen: v4.subnetLen,
        SubnetMin: formatAddress(v4.subnetMin),
        SubnetMax: formatAddress(v4.subnetMax),
      }
      : { EnableIPv4: false }),
    ...(v6
      ? {
        EnableIPv6: true,
        IPv6Network: formatPrefix(v6.network),
        IPv6SubnetLen: v6.subnetLen,
        IPv6SubnetMin: formatAddress(v6.subnetMin),
        IPv6SubnetMax: formatAddress(v6.subnetMax),
      }
      : {}),
    Backend: backendJson(config.backend),
  });
}

/**
 * Parses flannel's config JSON, filling in flannel's defaults. Throws an InputError naming the
 * field that is wrong.
 *
 * @example
 * ```ts
 * parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:1::/56"}').subnetLen; // 64
 * ```
 */
export function parseNetworkConfig(text: string): NetworkConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`the network config is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new InputError("the network config is not a JSON object");
  }
  const v = data as Record<string, unknown>;
  const flag = (name: string, fallback: boolean): boolean => {
    const value = v[name] ?? fallback;
    if (typeof value !== "boolean") {
      throw new InputError(`the network config's ${name} is not true or false`);
    }
    return value;
  };
  const enable4 = flag("EnableIPv4", true);
  const enable6 = flag("EnableIPv6", false);
  if (!enable4 && !enable6) {
    throw new InputError("the network config enables neither IPv4 nor IPv6");
  }
  const backend = parseBackend(v.Backend);
  const v6 = enable6 ? rangeFields(v, "IPv6", 6) : undefined;
  if (!enable4) return makeNetworkConfig(v6!.network, v6!.subnetLen, v6!.bounds, backend);
  const v4 = rangeFields(v, "", 4);
  return makeNetworkConfig(
    v4.network,
    v4.subnetLen,
    v4.bounds,
    backend,
    v6 ? makeSubnetRange(v6.network, v6.subnetLen, v6.bounds) : undefined,
  );
}

/** One family's fields of flannel's config: `Network`... or `IPv6Network`... */
function rangeFields(v: Record<string, unknown>, prefix: "" | "IPv6", family: 4 | 6) {
  const field = (name: string) => `${prefix}${name}`;
  const text = v[field("Network")];
  if (typeof text !== "string") {
    throw new InputError(`the network config has no ${field("Network")}`);
  }
  const network = parsePrefix(text);
  if (network.address.family !== family) {
    throw new InputError(
      `the network config's ${field("Network")} ${text} is not IPv${family}${
        family === 4 ? ': an IPv6-only network says "EnableIPv4": false and "IPv6Network"' : ""
      }`,
    );
  }
  const length = v[field("SubnetLen")];
  if (length !== undefined && typeof length !== "number") {
    throw new InputError(`the network config's ${field("SubnetLen")} is not a number`);
  }
  const address = (name: string) => {
    const value = v[field(name)];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      throw new InputError(`the network config's ${field(name)} is not a string`);
    }
    return parseAddressOf(family, value);
  };
  return {
    network,
    // flannel's 0 means "the default" too.
    subnetLen: length === undefined || length === 0 ? defaultSubnetLen(network) : length,
    bounds: { min: address("SubnetMin"), max: address("SubnetMax") },
  };
}

/** Whether two ranges are the same. */
function rangeEquals(a: SubnetRange, b: SubnetRange): boolean {
  return prefixEquals(a.network, b.network) && a.subnetLen === b.subnetLen &&
    addressEquals(a.subnetMin, b.subnetMin) && addressEquals(a.subnetMax, b.subnetMax);
}

/** Whether two configs describe the same network and subnets. */
export function configEquals(a: NetworkConfig, b: NetworkConfig): boolean {
  return rangeEquals(a, b) &&
    (a.ipv6 && b.ipv6 ? rangeEquals(a.ipv6, b.ipv6) : !a.ipv6 && !b.ipv6) &&
    backendEquals(a.backend, b.backend);
}

/**
 * The config's networks in words: `1.1.0.0/16 /24` or `1.1.0.0/16 /24 + fd00:1::/56 /64`.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * describeNetworks(makeNetworkConfig(parsePrefix("1.1.0.0/16"))); // "1.1.0.0/16 /24"
 * ```
 */
export function describeNetworks(config: NetworkConfig): string {
  return configRanges(config).map((r) => `${formatPrefix(r.network)} /${r.subnetLen}`).join(
    " + ",
  );
}
