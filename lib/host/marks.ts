/**
 * How hg marks the links it creates, so it can find them again without a state file and never
 * mistake an admin's link for its own: the link alias (`ip link set X alias ...`).
 *
 * - the bridge: `hg:bridge`
 * - the gateway address hg adds to a bridge it did not create: the address label `BRIDGE:hg`
 * - a container's host-side veth: `hg:NAME@ADDRESS/LEN` (the container's name and address)
 *
 * @module
 */
import { type IpAddress, parseAddressOf } from "../net/address.ts";
import { formatAddress } from "../net/address.ts";

/** The alias of a bridge that hg created. */
export const BRIDGE_ALIAS = "hg:bridge";

/**
 * The label of the gateway address hg adds to a bridge it did not create, so that teardown
 * removes that address and nothing else of the bridge; undefined when `bridge:hg` would not fit
 * the kernel's 15 characters (IFNAMSIZ), and the address then stays an admin's.
 *
 * @example
 * ```ts
 * addressLabel("br-lan"); // "br-lan:hg"
 * ```
 */
export function addressLabel(bridge: string): string | undefined {
  const label = `${bridge}:hg`;
  return label.length <= 15 ? label : undefined;
}

/** What a container's host-side veth alias records. */
export interface ContainerMark {
  readonly name: string;
  readonly address: IpAddress;
  readonly prefixLength: number;
}

/**
 * The alias for a container's host-side veth.
 *
 * @example
 * ```ts
 * containerAlias({ name: "web1", address: parseAddress("1.1.1.2"), prefixLength: 24 }); // "hg:web1@1.1.1.2/24"
 * ```
 */
export function containerAlias(mark: ContainerMark): string {
  return `hg:${mark.name}@${formatAddress(mark.address)}/${mark.prefixLength}`;
}

/** Reads a container mark back from an alias, or undefined when the alias is not one. */
export function parseContainerAlias(alias: string | undefined): ContainerMark | undefined {
  const match = alias === undefined ? null : /^hg:([A-Za-z0-9_.-]+)@([0-9.]+)\/(\d+)$/.exec(alias);
  if (!match) return undefined;
  try {
    return { name: match[1], address: parseAddressOf(4, match[2]), prefixLength: Number(match[3]) };
  } catch {
    return undefined;
  }
}
