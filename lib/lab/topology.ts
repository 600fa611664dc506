/**
 * The shape of a lab: N "hosts" as network namespaces on one underlay segment (a bridge in a
 * namespace of its own), each owning one subnet of the cluster network and one container.
 * Pure: names and addresses only.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import type { IpAddress } from "../net/address.ts";
import { hostAt, nthSubnet, parsePrefix, type Prefix } from "../net/prefix.ts";

/** The most hosts a lab may have. */
export const MAX_LAB_NODES = 50;

/**
 * The highest host number: host N's subnet is 1.1.N.0/24, so numbers run out at 254 (hosts
 * removed from a lab never give their number back, see `lab add-node`).
 */
export const MAX_HOST_INDEX = 254;

/** The default cluster network of a lab (the seed's). */
export const LAB_NETWORK = "1.1.0.0/16";
/** The hosts' shared segment. */
export const LAB_UNDERLAY = "10.0.12.0/22";

/** One lab host. */
export interface LabHost {
  readonly index: number;
  /** The host's network namespace. */
  readonly netns: string;
  /** The host's address on the underlay, with the underlay's prefix length. */
  readonly address: IpAddress;
  readonly subnet: Prefix;
  /** The one container on this host. */
  readonly container: string;
  /** The underlay-side end of the host's uplink veth. */
  readonly underlayPort: string;
}

/** A whole lab. */
export interface LabTopology {
  readonly name: string;
  readonly underlayNetns: string;
  readonly underlayBridge: string;
  readonly underlay: Prefix;
  /** The underlay namespace's own address: where the lab's etcd listens. */
  readonly registryAddress: IpAddress;
  readonly network: Prefix;
  readonly hosts: readonly LabHost[];
}

/** Checks a lab name: it prefixes every namespace the lab makes. */
export function validateLabName(name: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) {
    throw new InputError(
      `lab name ${
        JSON.stringify(name)
      } is not valid: 1-12 lowercase letters and digits, starting with a letter`,
    );
  }
  return name;
}

/**
 * Host number `index` of the lab `name`: namespace NAME-hN at 10.0.12.(10+N)/22 with subnet
 * 1.1.N.0/24 and container NAME-hN-c1.
 *
 * @example
 * ```ts
 * labHost("hglab", 4).netns; // "hglab-h4"
 * ```
 */
export function labHost(name: string, index: number): LabHost {
  if (!Number.isInteger(index) || index < 1 || index > MAX_HOST_INDEX) {
    throw new InputError(`host number ${index} is not valid: expected 1-${MAX_HOST_INDEX}`);
  }
  return {
    index,
    netns: `${name}-h${index}`,
    address: hostAt(parsePrefix(LAB_UNDERLAY), 10 + index),
    subnet: nthSubnet(parsePrefix(LAB_NETWORK), 24, index),
    container: `${name}-h${index}-c1`,
    underlayPort: `ul-h${index}`,
  };
}

/**
 * The lab `name` with `nodes` hosts, numbered 1 to `nodes` (see {@link labHost}).
 *
 * @example
 * ```ts
 * labTopology("hglab", 2).hosts[1].subnet; // 1.1.2.0/24
 * ```
 */
export function labTopology(name: string, nodes: number): LabTopology {
  validateLabName(name);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_LAB_NODES) {
    throw new InputError(
      `--nodes ${nodes} is not valid: expected a whole number 1-${MAX_LAB_NODES}`,
    );
  }
  const underlay = parsePrefix(LAB_UNDERLAY);
  return {
    name,
    underlayNetns: `${name}-ul`,
    underlayBridge: "ul0",
    underlay,
    registryAddress: hostAt(underlay, 2),
    network: parsePrefix(LAB_NETWORK),
    hosts: Array.from({ length: nodes }, (_, i) => labHost(name, i + 1)),
  };
}

/**
 * The same lab with exactly the hosts numbered `indexes` (a lab whose hosts came and went).
 *
 * @example
 * ```ts
 * withHosts(labTopology("hglab", 1), [1, 3, 4]).hosts.map((h) => h.netns); // hglab-h1, -h3, -h4
 * ```
 */
export function withHosts(topology: LabTopology, indexes: readonly number[]): LabTopology {
  return { ...topology, hosts: indexes.map((i) => labHost(topology.name, i)) };
}

/** The address a host's container gets: the second host address of its subnet. */
export function containerAddress(host: LabHost): IpAddress {
  return hostAt(host.subnet, 2);
}

/** Whether a namespace name belongs to the lab `name`. */
export function belongsToLab(name: string, netns: string): boolean {
  return netns === `${name}-ul` || new RegExp(`^${name}-h\\d+(-c\\d+)?$`).test(netns);
}
