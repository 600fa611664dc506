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
 * The lab `name` with `nodes` hosts: host N is namespace NAME-hN at 10.0.12.(10+N)/22 with
 * subnet 1.1.N.0/24 and container NAME-hN-c1.
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
  const network = parsePrefix(LAB_NETWORK);
  const hosts = Array.from({ length: nodes }, (_, i): LabHost => {
    const index = i + 1;
    return {
      index,
      netns: `${name}-h${index}`,
      address: hostAt(underlay, 10 + index),
      subnet: nthSubnet(network, 24, index),
      container: `${name}-h${index}-c1`,
      underlayPort: `ul-h${index}`,
    };
  });
  return {
    name,
    underlayNetns: `${name}-ul`,
    underlayBridge: "ul0",
    underlay,
    registryAddress: hostAt(underlay, 2),
    network,
    hosts,
  };
}

/** The address a host's container gets: the second host address of its subnet. */
export function containerAddress(host: LabHost): IpAddress {
  return hostAt(host.subnet, 2);
}

/** Whether a namespace name belongs to the lab `name`. */
export function belongsToLab(name: string, netns: string): boolean {
  return netns === `${name}-ul` || new RegExp(`^${name}-h\\d+(-c\\d+)?$`).test(netns);
}
