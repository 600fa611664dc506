/**
 * Choosing a container's address inside the host's subnet.
 *
 * @module
 */
import { HgError, InputError } from "../errors.ts";
import type { HostState } from "../host/state.ts";
import { containerEntries } from "./list.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import {
  formatPrefix,
  hostAt,
  isUsableHost,
  type Prefix,
  prefixContains,
  subnetCount,
} from "../net/prefix.ts";

/**
 * The address for a new container: `requested` when it is a free host address of `subnet`,
 * otherwise the lowest free one. `taken` holds the gateway and the other containers' addresses.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * pickAddress(parsePrefix("1.1.1.0/24"), [parseAddress("1.1.1.1")]); // 1.1.1.2
 * ```
 */
export function pickAddress(
  subnet: Prefix,
  taken: readonly IpAddress[],
  requested?: IpAddress,
): IpAddress {
  const isTaken = (a: IpAddress) => taken.some((t) => addressEquals(t, a));
  if (requested) {
    if (requested.family !== subnet.address.family) {
      throw new InputError(
        `address ${formatAddress(requested)} is IPv${requested.family}, the subnet ${
          formatPrefix(subnet)
        } is IPv${subnet.address.family}`,
      );
    }
    if (!prefixContains(subnet, requested)) {
      throw new InputError(
        `address ${formatAddress(requested)} is outside this host's subnet ${formatPrefix(subnet)}`,
      );
    }
    if (!isUsableHost(subnet, requested)) {
      throw new InputError(
        `address ${formatAddress(requested)} is the network or broadcast address of ${
          formatPrefix(subnet)
        }`,
      );
    }
    if (isTaken(requested)) {
      throw new InputError(
        `address ${
          formatAddress(requested)
        } is already used on this host (gateway or another container)`,
      );
    }
    return requested;
  }
  const size = subnetCount(subnet, subnet.address.family === 4 ? 32 : 128);
  for (let n = 1n; n < size; n++) {
    const candidate = hostAt(subnet, n);
    if (isUsableHost(subnet, candidate) && !isTaken(candidate)) return candidate;
  }
  throw new HgError(
    `subnet ${formatPrefix(subnet)} has no free address left for another container`,
  );
}

/**
 * The addresses of the host's one container pool that are in use: the gateway, and every
 * marked veth's (hg's own containers and runtime containers alike).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const host: HostState; // bridge cni0 1.1.1.1/24, container web1 at 1.1.1.2
 * pickAddress(parsePrefix("1.1.1.0/24"), takenAddresses(host, parseAddress("1.1.1.1"))); // 1.1.1.3
 * ```
 */
export function takenAddresses(host: Pick<HostState, "links">, gateway: IpAddress): IpAddress[] {
  return [
    gateway,
    ...containerEntries(host).flatMap((c) => c.ipv6 ? [c.address, c.ipv6.address] : [c.address]),
  ];
}
