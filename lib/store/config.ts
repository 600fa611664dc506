/**
 * The cluster network config in flannel's format (`<prefix>/config` in etcd):
 * `{"Network":"1.1.0.0/16","SubnetLen":24,"SubnetMin":"1.1.1.0","SubnetMax":"1.1.255.0","Backend":{"Type":"host-gw"}}`.
 *
 * @module
 */
import { InputError } from "../errors.ts";
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

/** The cluster network and how it is cut into host subnets. */
export interface NetworkConfig {
  readonly network: Prefix;
  /** The prefix length of each host's subnet. */
  readonly subnetLen: number;
  /** The first and last subnet that may be handed out (their network addresses). */
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
  readonly backendType: string;
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
  backendType = "host-gw",
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
  return { network, subnetLen, subnetMin: min, subnetMax: max, backendType };
}

/** The config as flannel's JSON. */
export function formatNetworkConfig(config: NetworkConfig): string {
  return JSON.stringify({
    Network: formatPrefix(config.network),
    SubnetLen: config.subnetLen,
    SubnetMin: formatAddress(config.subnetMin),
    SubnetMax: formatAddress(config.subnetMax),
    Backend: { Type: config.backendType },
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
  const backend = v.Backend as { Type?: unknown } | undefined;
  const backendType = typeof backend?.Type === "string" ? backend.Type : "host-gw";
  return makeNetworkConfig(
    network,
    (v.SubnetLen as number | undefined) ?? defaultSubnetLen(network),
    { min: address("SubnetMin", v.SubnetMin), max: address("SubnetMax", v.SubnetMax) },
    backendType,
  );
}

/** Whether two configs describe the same network and subnets. */
export function configEquals(a: NetworkConfig, b: NetworkConfig): boolean {
  return prefixEquals(a.network, b.network) && a.subnetLen === b.subnetLen &&
    addressEquals(a.subnetMin, b.subnetMin) && addressEquals(a.subnetMax, b.subnetMax) &&
    a.backendType === b.backendType;
}
