/**
 * The cluster network config in flannel's format (`<prefix>/config` in etcd):
 * `{"Network":"1.1.0.0/16","SubnetLen":24,"SubnetMin":"1.1.1.0","SubnetMax":"1.1.255.0","Backend":{"Type":"host-gw"}}`.
 * The backend is host-gw (plain routes, peers on one segment) or vxlan with flannel's options
 * (`VNI`, `Port`, `DirectRouting`: plain routes to on-link peers, VXLAN to the others).
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

/** The cluster network and how it is cut into host subnets. */
export interface NetworkConfig {
  readonly network: Prefix;
  /** The prefix length of each host's subnet. */
  readonly subnetLen: number;
  /** The first and last subnet that may be handed out (their network addresses). */
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
  readonly backend: Backend;
}

/** flannel's default subnet length: /24 for networks of /22 or larger, else two bits more. */
export function defaultSubnetLen(network: Prefix): number {
  return network.length <= 22 ? 24 : network.length + 2;
}

/**
 * A validated config. Like flannel, the first subnet of the network is skipped by default
 * (SubnetMin = the second subnet) and SubnetMax is the last one.
 *
 * @example
 * ```ts
 * makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24).subnetMin; // 1.1.1.0
 * ```
 */
export function makeNetworkConfig(
  network: Prefix,
  subnetLen = defaultSubnetLen(network),
  bounds: { min?: IpAddress; max?: IpAddress } = {},
  backend: Backend = HOST_GW,
): NetworkConfig {
  const where = `network ${formatPrefix(network)}`;
  if (network.address.family !== 4) {
    throw new InputError(`${where} is IPv6: hg registries take IPv4 networks`);
  }
  const special = specialPrefixError("network", network);
  if (special) throw special;
  if (!Number.isInteger(subnetLen) || subnetLen <= network.length || subnetLen > 30) {
    throw new InputError(
      `subnet length ${subnetLen} does not fit ${where}: expected ${network.length + 1}-30`,
    );
  }
  const count = subnetCount(network, subnetLen);
  const min = bounds.min ?? nthSubnet(network, subnetLen, count > 1n ? 1 : 0).address;
  const max = bounds.max ?? nthSubnet(network, subnetLen, count - 1n).address;
  for (const [name, value] of [["SubnetMin", min], ["SubnetMax", max]] as const) {
    if (
      !prefixContains(network, value) || !addressEquals(prefixOf(value, subnetLen).address, value)
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
  return { network, subnetLen, subnetMin: min, subnetMax: max, backend };
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
  return JSON.stringify({
    Network: formatPrefix(config.network),
    SubnetLen: config.subnetLen,
    SubnetMin: formatAddress(config.subnetMin),
    SubnetMax: formatAddress(config.subnetMax),
    Backend: backendJson(config.backend),
  });
}

/**
 * Parses flannel's config JSON, filling in flannel's defaults. Throws an InputError naming the
 * field that is wrong.
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
  if (typeof v.Network !== "string") throw new InputError("the network config has no Network");
  const network = parsePrefix(v.Network);
  if (v.SubnetLen !== undefined && typeof v.SubnetLen !== "number") {
    throw new InputError("the network config's SubnetLen is not a number");
  }
  const address = (name: string, value: unknown) => {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      throw new InputError(`the network config's ${name} is not a string`);
    }
    return parseAddressOf(4, value);
  };
  return makeNetworkConfig(
    network,
    (v.SubnetLen as number | undefined) ?? defaultSubnetLen(network),
    { min: address("SubnetMin", v.SubnetMin), max: address("SubnetMax", v.SubnetMax) },
    parseBackend(v.Backend),
  );
}

/** Whether two configs describe the same network and subnets. */
export function configEquals(a: NetworkConfig, b: NetworkConfig): boolean {
  return prefixEquals(a.network, b.network) && a.subnetLen === b.subnetLen &&
    addressEquals(a.subnetMin, b.subnetMin) && addressEquals(a.subnetMax, b.subnetMax) &&
    backendEquals(a.backend, b.backend);
}
