/**
 * Address ranges that are never one host's unicast address (RFC 6890): they can be no gateway, no
 * public address and no part of a container subnet. One message per range, for every place an
 * address enters hg.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { formatAddress, type IpAddress } from "./address.ts";
import {
  formatPrefix,
  isUsableHost,
  parsePrefix,
  type Prefix,
  prefixContains,
  prefixCovers,
  prefixesOverlap,
} from "./prefix.ts";

/** A range no host address or container subnet may come from, and what it is. */
interface SpecialRange {
  readonly prefix: Prefix;
  /** What an address of the range is, after "is": "a multicast address". */
  readonly address: string;
  /** The range's name, after "the": "multicast range". */
  readonly range: string;
}

const range = (cidr: string, address: string, name: string): SpecialRange => ({
  prefix: parsePrefix(cidr),
  address,
  range: name,
});

const IPV6_LINK_LOCAL = parsePrefix("fe80::/10");

// Most specific first: 255.255.255.255 is named before the rest of 240.0.0.0/4.
const SPECIAL: readonly SpecialRange[] = [
  range("0.0.0.0/8", 'an unspecified ("this network") address', '"this network" range'),
  range("127.0.0.0/8", "a loopback address", "loopback range"),
  range("224.0.0.0/4", "a multicast address", "multicast range"),
  range("255.255.255.255/32", "the limited broadcast address", "limited broadcast address"),
  range("240.0.0.0/4", "a reserved (class E) address", "reserved (class E) range"),
  range("::/128", "the unspecified address", "unspecified address"),
  range("::1/128", "the loopback address", "loopback address"),
  range("ff00::/8", "a multicast address", "multicast range"),
  // A link-local address is only meaningful with its interface: no route goes via one alone,
  // and no container subnet lives there.
  { prefix: IPV6_LINK_LOCAL, address: "a link-local address", range: "link-local range" },
];

/**
 * Whether `prefix` lies in IPv6's link-local range: the kernel's `fe80::/64` on every IPv6 link,
 * and its addresses there. No peer's subnet can be there (see the range above).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "./prefix.ts";
 * isIpv6LinkLocal(parsePrefix("fe80::/64")); // true
 * ```
 */
export function isIpv6LinkLocal(prefix: Prefix): boolean {
  return prefixCovers(IPV6_LINK_LOCAL, prefix);
}

/**
 * Why `address` can never be a host's unicast address (undefined: it can).
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * specialAddress(parseAddress("224.0.0.1")); // "a multicast address"
 * specialAddress(parseAddress("10.0.12.7")); // undefined
 * ```
 */
export function specialAddress(address: IpAddress): string | undefined {
  return SPECIAL.find((r) => prefixContains(r.prefix, address))?.address;
}

/** The IPv4 special ranges as plain numbers (first and last address), in {@link SPECIAL}'s order. */
const SPECIAL_V4 = SPECIAL.filter((r) => r.prefix.address.family === 4).map((r) => {
  const first = Number(r.prefix.address.value);
  return { range: r, first, last: first + 2 ** (32 - r.prefix.length) - 1 };
});

/**
 * For each first octet, whether no special range meets its /8 block: then every prefix of /8 or
 * longer there is ordinary, told without looking at the ranges.
 */
const ORDINARY_V4_BLOCK: readonly boolean[] = Array.from({ length: 256 }, (_, octet) => {
  const first = octet * 2 ** 24;
  const last = first + 2 ** 24 - 1;
  return SPECIAL_V4.every((s) => last < s.first || s.last < first);
});

/**
 * Whether `prefix` is an IPv4 prefix of /8 or longer in an address block that no special range
 * meets, so that {@link specialPrefixError} has nothing to say about it (false: ask it). A few
 * comparisons, small enough for the JIT to inline into the loops that check thousands of
 * leases' subnets.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "./prefix.ts";
 * isOrdinaryV4(parsePrefix("100.64.3.0/24")); // true
 * isOrdinaryV4(parsePrefix("127.1.0.0/16")); // false
 * ```
 */
export function isOrdinaryV4(prefix: Prefix): boolean {
  return prefix.address.family === 4 && prefix.length >= 8 &&
    ORDINARY_V4_BLOCK[Number(prefix.address.value) >>> 24];
}

/**
 * The first special range an IPv4 prefix overlaps, as `SPECIAL.find(prefixesOverlap)` finds it:
 * two CIDR blocks overlap when their address ranges meet. In plain numbers, since a sync checks
 * every lease's subnet.
 */
function firstSpecialV4(prefix: Prefix): SpecialRange | undefined {
  const size = 2 ** (32 - prefix.length);
  // Masked as prefixContains does, for a prefix built by hand with host bits.
  const first = Math.floor(Number(prefix.address.value) / size) * size;
  const last = first + size - 1;
  for (const s of SPECIAL_V4) {
    if (first <= s.last && s.first <= last) return s.range;
  }
  return undefined;
}

/**
 * The error for an address that can never be a host's (undefined: it can be one); `role` names
 * where it came from ("gateway", "--public-ip").
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * specialAddressError("gateway", parseAddress("127.0.0.1"))?.message;
 * // "gateway 127.0.0.1 is a loopback address: give a host's unicast address"
 * ```
 */
export function specialAddressError(role: string, address: IpAddress): InputError | undefined {
  const what = specialAddress(address);
  return what === undefined
    ? undefined
    : new InputError(`${role} ${formatAddress(address)} is ${what}: give a host's unicast address`);
}

/**
 * The error for a prefix that takes addresses from a special range (undefined: none): no
 * container, peer or cluster subnet can hold hosts there. `role` names it ("subnet", "--network").
 *
 * @example
 * ```ts
 * import { parsePrefix } from "./prefix.ts";
 * specialPrefixError("subnet", parsePrefix("224.1.0.0/24"))?.message;
 * // "subnet 224.1.0.0/24 is in the multicast range 224.0.0.0/4: container subnets hold unicast host addresses"
 * ```
 */
export function specialPrefixError(role: string, prefix: Prefix): InputError | undefined {
  if (isOrdinaryV4(prefix)) return undefined;
  const hit = prefix.address.family === 4
    ? firstSpecialV4(prefix)
    : SPECIAL.find((r) => prefixesOverlap(r.prefix, prefix));
  if (!hit) return undefined;
  const where = prefixCovers(hit.prefix, prefix) ? "is in" : "overlaps";
  return new InputError(
    `${role} ${formatPrefix(prefix)} ${where} the ${hit.range} ${
      formatPrefix(hit.prefix)
    }: container subnets hold unicast host addresses`,
  );
}

/**
 * The error for an address that is the network or broadcast address of `prefix`, the segment
 * of interface `ifname` (undefined: it can be a host's there; /31 and /32 have no such address).
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * import { parsePrefix } from "./prefix.ts";
 * segmentEdgeError("gateway", parseAddress("10.0.12.0"), parsePrefix("10.0.12.0/22"), "eth0")?.message;
 * // "gateway 10.0.12.0 is the network or broadcast address of 10.0.12.0/22 on eth0: ..."
 * ```
 */
export function segmentEdgeError(
  role: string,
  address: IpAddress,
  prefix: Prefix,
  ifname: string,
): InputError | undefined {
  if (!prefixContains(prefix, address) || isUsableHost(prefix, address)) return undefined;
  return new InputError(
    `${role} ${formatAddress(address)} is the network or broadcast address of ${
      formatPrefix(prefix)
    } on ${ifname}: give a host's own address`,
  );
}
