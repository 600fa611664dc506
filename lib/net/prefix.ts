/**
 * IPv4 and IPv6 prefixes (CIDR blocks): strict parsing, containment, overlap, subnetting
 * and host arithmetic. All math is on bigint so IPv4 and IPv6 share one code path.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { familyBits, formatAddress, type IpAddress, parseAddress } from "./address.ts";
import { fastV4Prefix } from "./dotted_quad.ts";

/**
 * A network prefix. `address` is always the network address (host bits zero); use
 * {@link parseInterfaceAddress} to keep an address that has host bits.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * const p: Prefix = parsePrefix("10.1.0.0/16");
 * formatAddress(p.address); // "10.1.0.0"
 * p.length; // 16
 * ```
 */
export interface Prefix {
  /** The network address: the first address of the prefix, host bits zero. */
  readonly address: IpAddress;
  /** Prefix length in bits, 0-32 (IPv4) or 0-128 (IPv6). */
  readonly length: number;
}

const LENGTH_TEXT = /^(?:0|[1-9][0-9]{0,2})$/;

/** The host masks of every prefix length, per address width: bigint shifts cost on hot paths. */
const HOST_MASKS: Readonly<Record<number, readonly bigint[]>> = {
  32: Array.from({ length: 33 }, (_, length) => (1n << BigInt(32 - length)) - 1n),
  128: Array.from({ length: 129 }, (_, length) => (1n << BigInt(128 - length)) - 1n),
};
/** Their complements (the network masks), for the same reason. */
const NETWORK_MASKS: Readonly<Record<number, readonly bigint[]>> = {
  32: HOST_MASKS[32].map((m) => ~m),
  128: HOST_MASKS[128].map((m) => ~m),
};

/** The largest address of each width: compared with, not shifted by, on hot paths. */
const MAX_VALUE: Readonly<Record<number, bigint>> = { 32: 0xffffffffn, 128: (1n << 128n) - 1n };

/** The mask of the host bits of a `length` prefix in a `bits`-wide address. */
function hostMask(bits: number, length: number): bigint {
  return HOST_MASKS[bits]?.[length] ?? (1n << BigInt(bits - length)) - 1n;
}

/** `~hostMask(bits, length)`: the mask of the network bits. */
function networkMask(bits: number, length: number): bigint {
  return NETWORK_MASKS[bits]?.[length] ?? ~hostMask(bits, length);
}

/** The network address of `p`, masked again in case `p` was built by hand. */
function networkValue(p: Prefix): bigint {
  const bits = familyBits(p.address.family);
  return p.address.value & networkMask(bits, p.length);
}

/** The last address of `p` (the IPv4 broadcast address). */
function lastAddress(p: Prefix): bigint {
  return networkValue(p) | hostMask(familyBits(p.address.family), p.length);
}

function makePrefix(family: 4 | 6, value: bigint, length: number): Prefix {
  return Object.freeze({ address: Object.freeze({ family, value }), length });
}

function toBigInt(n: bigint | number, what: string): bigint {
  if (typeof n === "bigint") return n;
  if (typeof n === "number" && Number.isSafeInteger(n)) return BigInt(n);
  throw new InputError(`${String(n)} is not a valid ${what}: expected a whole number`);
}

/** Split "address/length" and parse both parts; shared by the two prefix parsers. */
function parseWithLength(text: string, what: string): { address: IpAddress; length: number } {
  if (typeof text !== "string") {
    throw new InputError(
      `${String(text)} is not a valid ${what}: expected a string, got ${
        text === null ? "null" : typeof text
      }`,
    );
  }
  const quoted = JSON.stringify(text);
  const slash = text.indexOf("/");
  if (slash < 0) {
    throw new InputError(
      `${quoted} is not a valid ${what}: expected address/length like 192.0.2.0/24 or fd00::/64`,
    );
  }
  const addressText = text.slice(0, slash);
  const lengthText = text.slice(slash + 1);
  let address: IpAddress;
  try {
    address = parseAddress(addressText);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new InputError(`${quoted} is not a valid ${what}: ${error.message}`, { cause: error });
  }
  const bits = familyBits(address.family);
  if (!LENGTH_TEXT.test(lengthText)) {
    throw new InputError(
      `${quoted} is not a valid ${what}: length ${
        JSON.stringify(lengthText)
      } must be a decimal number 0-${bits} without sign or leading zeros`,
    );
  }
  if (Number(lengthText) > bits) {
    throw new InputError(
      `${quoted} is not a valid ${what}: length must be 0-${bits} for IPv${address.family}`,
    );
  }
  return { address, length: Number(lengthText) };
}

/**
 * Parse a prefix in CIDR notation. Strict: the length is required and host bits must be
 * zero, because "10.1.1.5/24" usually means a typo or an interface address.
 *
 * @throws {InputError} e.g. `"1.1.1.5/24" has host bits set: did you mean 1.1.1.0/24?`
 * @example
 * ```ts
 * formatPrefix(parsePrefix("fd00:0012::/48")); // "fd00:12::/48"
 * parsePrefix("1.1.1.5/24"); // throws InputError
 * ```
 */
export function parsePrefix(text: string): Prefix {
  if (typeof text === "string") {
    const fast = fastV4Prefix(text);
    if (fast) return fast;
  }
  const { address, length } = parseWithLength(text, "prefix");
  const prefix = prefixOf(address, length);
  if (prefix.address.value !== address.value) {
    throw new InputError(
      `${JSON.stringify(text)} has host bits set: did you mean ${formatPrefix(prefix)}?`,
    );
  }
  return prefix;
}

/**
 * Parse an address with its prefix length as configured on an interface; host bits are
 * allowed (and expected).
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * const { address, prefix } = parseInterfaceAddress("1.1.1.5/24");
 * formatAddress(address); // "1.1.1.5"
 * formatPrefix(prefix); // "1.1.1.0/24"
 * ```
 */
export function parseInterfaceAddress(text: string): { address: IpAddress; prefix: Prefix } {
  const { address, length } = parseWithLength(text, "interface address");
  return { address, prefix: prefixOf(address, length) };
}

/**
 * Format a prefix as "address/length" (IPv6 in RFC 5952 canonical form).
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * formatPrefix(prefixOf(parseAddress("fd00:0:0:1::5"), 64)); // "fd00:0:0:1::/64"
 * ```
 */
export function formatPrefix(p: Prefix): string {
  const { address, length } = p;
  // The common prefix in one step, formatAddress's IPv4 text written out: a sync formats
  // thousands, and each function called for each is one more for the JIT's slowest tier.
  if (
    address.family === 4 && typeof address.value === "bigint" && address.value >= 0n &&
    address.value <= 0xffffffffn
  ) {
    const n = Number(address.value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${length}`;
  }
  return `${formatAddress(address)}/${length}`;
}

/**
 * The prefix of the given length that contains `address` (host bits masked off).
 *
 * @throws {InputError} if the length is not a whole number 0-32 (IPv4) or 0-128 (IPv6).
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * formatPrefix(prefixOf(parseAddress("10.1.2.3"), 16)); // "10.1.0.0/16"
 * ```
 */
export function prefixOf(address: IpAddress, length: number): Prefix {
  const bits = familyBits(address.family);
  const value = address.value;
  if (typeof value !== "bigint" || value < 0n || value > MAX_VALUE[bits]) {
    throw new InputError(
      `${String(value)} is not a valid IPv${address.family} address value: ` +
        `expected a bigint 0 to 2^${bits}-1`,
    );
  }
  if (!Number.isInteger(length) || length < 0 || length > bits) {
    throw new InputError(
      `${String(length)} is not a valid IPv${address.family} prefix length: ` +
        `expected a whole number 0-${bits}`,
    );
  }
  return makePrefix(address.family, value & networkMask(bits, length), length);
}

/**
 * Whether `a` lies inside `p`; always false for an address of the other family.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * prefixContains(parsePrefix("10.0.0.0/8"), parseAddress("10.9.9.9")); // true
 * prefixContains(parsePrefix("::/0"), parseAddress("10.9.9.9")); // false
 * ```
 */
export function prefixContains(p: Prefix, a: IpAddress): boolean {
  if (p.address.family !== a.family) return false;
  if (a.family === 4) {
    // Plain numbers for IPv4 (exact below 2^53): a sync checks thousands of gateways this way.
    const size = 2 ** (32 - p.length);
    return Math.floor(Number(a.value) / size) === Math.floor(Number(p.address.value) / size);
  }
  const bits = familyBits(a.family);
  return (a.value & networkMask(bits, p.length)) === networkValue(p);
}

/**
 * Whether `inner` lies entirely inside `outer` (a prefix covers itself).
 *
 * @example
 * ```ts
 * prefixCovers(parsePrefix("10.0.0.0/8"), parsePrefix("10.1.0.0/16")); // true
 * prefixCovers(parsePrefix("10.1.0.0/16"), parsePrefix("10.0.0.0/8")); // false
 * ```
 */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.length <= inner.length && prefixContains(outer, inner.address);
}

/**
 * Whether two prefixes share any address; false for different families. (Two CIDR blocks
 * either nest or are disjoint, so overlap means one covers the other.)
 *
 * @example
 * ```ts
 * prefixesOverlap(parsePrefix("10.0.0.0/8"), parsePrefix("10.1.0.0/16")); // true
 * prefixesOverlap(parsePrefix("10.0.0.0/16"), parsePrefix("10.1.0.0/16")); // false
 * ```
 */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixCovers(a, b) || prefixCovers(b, a);
}

/**
 * Whether two prefixes are the same network (family, address and length).
 *
 * @example
 * ```ts
 * prefixEquals(parsePrefix("fd00::/48"), parsePrefix("FD00:0::/48")); // true
 * ```
 */
export function prefixEquals(a: Prefix, b: Prefix): boolean {
  return a.address.family === b.address.family && a.length === b.length &&
    networkValue(a) === networkValue(b);
}

/** Validate a subnet length for `network` and return the address width. */
function checkSubnetLength(net: Prefix, length: number): number {
  const bits = familyBits(net.address.family);
  if (!Number.isInteger(length) || length < net.length || length > bits) {
    throw new InputError(
      `cannot split ${formatPrefix(net)} into /${String(length)} subnets: ` +
        `length must be a whole number ${net.length}-${bits}`,
    );
  }
  return bits;
}

/**
 * How many subnets of the given length fit in `network`.
 *
 * @throws {InputError} if `length` is shorter than the network's or longer than the family's.
 * @example
 * ```ts
 * subnetCount(parsePrefix("10.1.0.0/16"), 24); // 256n
 * subnetCount(parsePrefix("fd00::/48"), 64); // 65536n
 * ```
 */
export function subnetCount(network: Prefix, length: number): bigint {
  checkSubnetLength(network, length);
  return 1n << BigInt(length - network.length);
}

/**
 * The n-th (0-based) subnet of the given length inside `network`.
 *
 * @throws {InputError} if the length is invalid or `n` is not in 0 to count-1.
 * @example
 * ```ts
 * formatPrefix(nthSubnet(parsePrefix("1.1.0.0/16"), 24, 1)); // "1.1.1.0/24"
 * formatPrefix(nthSubnet(parsePrefix("fd00::/48"), 64, 0x12n)); // "fd00:0:0:12::/64"
 * ```
 */
export function nthSubnet(network: Prefix, length: number, n: bigint | number): Prefix {
  const bits = checkSubnetLength(network, length);
  const index = toBigInt(n, "subnet index");
  const count = 1n << BigInt(length - network.length);
  if (index < 0n || index >= count) {
    throw new InputError(
      `subnet index ${index} is out of range: ${formatPrefix(network)} has ${count} ` +
        `/${length} subnets (0-${count - 1n})`,
    );
  }
  const value = networkValue(network) + (index << BigInt(bits - length));
  return makePrefix(network.address.family, value, length);
}

/**
 * The index of `subnet` among the subnets of its length in `network`; the inverse of
 * {@link nthSubnet}.
 *
 * @throws {InputError} if `subnet` is not covered by `network`.
 * @example
 * ```ts
 * subnetIndex(parsePrefix("1.1.0.0/16"), parsePrefix("1.1.255.0/24")); // 255n
 * ```
 */
export function subnetIndex(network: Prefix, subnet: Prefix): bigint {
  if (!prefixCovers(network, subnet)) {
    throw new InputError(
      `${formatPrefix(subnet)} is not inside ${formatPrefix(network)}: cannot compute its index`,
    );
  }
  const bits = familyBits(subnet.address.family);
  return (networkValue(subnet) - networkValue(network)) >> BigInt(bits - subnet.length);
}

/**
 * The first address to give a host: network+1 for IPv4 up to /30 and IPv6 up to /126
 * (skipping the network or subnet-router anycast address); for /31, /32, /127 and /128
 * (point-to-point and single-host prefixes, RFC 3021 and RFC 6164) the first address itself.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(firstHost(parsePrefix("10.0.0.0/24"))); // "10.0.0.1"
 * formatAddress(firstHost(parsePrefix("10.0.0.0/31"))); // "10.0.0.0"
 * ```
 */
export function firstHost(p: Prefix): IpAddress {
  const bits = familyBits(p.address.family);
  const skip = p.length <= bits - 2 ? 1n : 0n;
  return Object.freeze({ family: p.address.family, value: networkValue(p) + skip });
}

/**
 * The last address to give a host: for IPv4 up to /30 the one before the broadcast
 * address; otherwise (IPv6 has no broadcast, /31 and /32 have none) the last address.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(lastHost(parsePrefix("10.0.0.0/24"))); // "10.0.0.254"
 * formatAddress(lastHost(parsePrefix("fd00::/64"))); // "fd00::ffff:ffff:ffff:ffff"
 * ```
 */
export function lastHost(p: Prefix): IpAddress {
  const skip = p.address.family === 4 && p.length <= 30 ? 1n : 0n;
  return Object.freeze({ family: p.address.family, value: lastAddress(p) - skip });
}

/**
 * The address `n` places after the network address of `p` (n = 0 is the network address).
 *
 * @throws {InputError} if the result would fall outside `p`.
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(hostAt(parsePrefix("10.0.0.0/24"), 10)); // "10.0.0.10"
 * hostAt(parsePrefix("10.0.0.0/24"), 256); // throws InputError
 * ```
 */
export function hostAt(p: Prefix, n: bigint | number): IpAddress {
  const index = toBigInt(n, "host index");
  const size = lastAddress(p) - networkValue(p) + 1n;
  if (index < 0n || index >= size) {
    throw new InputError(
      `host index ${index} is outside ${formatPrefix(p)}: expected 0-${size - 1n}`,
    );
  }
  return Object.freeze({ family: p.address.family, value: networkValue(p) + index });
}

/**
 * Whether `a` can be assigned to a host in `p`: inside `p` and, for IPv4 up to /30, not
 * the network or broadcast address.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * isUsableHost(parsePrefix("10.0.0.0/24"), parseAddress("10.0.0.7")); // true
 * isUsableHost(parsePrefix("10.0.0.0/24"), parseAddress("10.0.0.255")); // false
 * ```
 */
export function isUsableHost(p: Prefix, a: IpAddress): boolean {
  if (!prefixContains(p, a)) return false;
  if (p.address.family === 6 || p.length > 30) return true;
  return a.value !== networkValue(p) && a.value !== lastAddress(p);
}
