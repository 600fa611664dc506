/**
 * IPv4 and IPv6 addresses as unsigned integers: strict parsing, canonical formatting.
 *
 * Parsing is deliberately stricter than most libraries: forms that different tools read
 * differently (leading zeros, short IPv4 like `1.1`, hex parts, zone ids, brackets) are
 * rejected with an {@link InputError} that names the value and says what is expected.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { fastV4 } from "./dotted_quad.ts";

/**
 * The IP version of an address or prefix.
 *
 * @example
 * ```ts
 * const family: Family = parseAddress("fd00::1").family; // 6
 * ```
 */
export type Family = 4 | 6;

/**
 * An IP address. `value` is the address as an unsigned integer (32 bits for IPv4,
 * 128 bits for IPv6), which makes masking and subnet math plain bigint arithmetic.
 *
 * @example
 * ```ts
 * const a: IpAddress = parseAddress("10.0.0.1");
 * a.family; // 4
 * a.value; // 167772161n
 * ```
 */
export interface IpAddress {
  /** 4 or 6. */
  readonly family: Family;
  /** The address as an unsigned integer, 0 to 2^32-1 (IPv4) or 2^128-1 (IPv6). */
  readonly value: bigint;
}

const V4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const V4_EXAMPLE = "192.0.2.1";
const V6_EXAMPLE = "2001:db8::1";

/**
 * The number of bits in an address of the family.
 *
 * @example
 * ```ts
 * familyBits(4); // 32
 * familyBits(6); // 128
 * ```
 */
export function familyBits(family: Family): 32 | 128 {
  if (family === 4) return 32;
  if (family === 6) return 128;
  throw new InputError(`${String(family)} is not a valid IP family: expected 4 or 6`);
}

/** Quote a value for an error message; JSON keeps control characters on one line. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** Describe a value of unknown type for an error message. */
function describe(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  return `an ${Array.isArray(value) ? "array" : "object"}`;
}

function invalid(text: string, what: string, reason: string): InputError {
  return new InputError(`${quote(text)} is not a valid ${what}: ${reason}`);
}

/** Checks shared by every parser; narrows `text` to a non-empty string without whitespace. */
function checkText(text: unknown, what: string): asserts text is string {
  if (typeof text !== "string") {
    throw new InputError(
      `${describe(text)} is not a valid ${what}: expected a string, got ${
        text === null ? "null" : typeof text
      }`,
    );
  }
  if (text === "") {
    throw invalid(text, what, `expected an address like ${V4_EXAMPLE} or ${V6_EXAMPLE}`);
  }
  if (/\s/.test(text)) throw invalid(text, what, "it must not contain whitespace");
}

/** Parse dotted-quad IPv4; returns the value, or the reason it is invalid. */
function parseV4(text: string): bigint | string {
  const fast = fastV4(text);
  if (fast >= 0) return BigInt(fast);
  const parts = text.split(".");
  if (parts.length !== 4) {
    return `expected four dot-separated decimal parts like ${V4_EXAMPLE}`;
  }
  let value = 0;
  for (const part of parts) {
    // "010" is 10 to some tools and 8 (octal) to others, so refuse to guess.
    if (/^0[0-9]+$/.test(part)) {
      return `part "${part}" has a leading zero (ambiguous, could be read as octal)`;
    }
    if (!V4_PART.test(part) || Number(part) > 255) {
      return "each of the four parts must be a decimal number 0-255";
    }
    value = value * 256 + Number(part);
  }
  return BigInt(value);
}

/** Parse the 16-bit groups of one side of "::" (or of the whole address). */
function parseGroups(side: string, endsAddress: boolean): bigint[] | string {
  if (side === "") return [];
  const groups = side.split(":");
  const words: bigint[] = [];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i];
    if (group.includes(".")) {
      if (!endsAddress || i !== groups.length - 1) {
        return `an embedded IPv4 part ("${group}") is only allowed at the end`;
      }
      const v4 = parseV4(group);
      if (typeof v4 === "string") return `embedded IPv4 part "${group}" is invalid: ${v4}`;
      words.push(v4 >> 16n, v4 & 0xffffn);
    } else if (group === "") {
      return 'it has an empty group (only a single "::" may stand for zero groups)';
    } else if (!HEX_GROUP.test(group)) {
      return `group "${group}" must be 1-4 hex digits`;
    } else {
      words.push(BigInt(`0x${group}`));
    }
  }
  return words;
}

/** Parse IPv6 text; returns the value, or the reason it is invalid. */
function parseV6(text: string): bigint | string {
  const zone = text.indexOf("%");
  if (zone >= 0) {
    return `zone ids ("${text.slice(zone)}") are not supported; remove the "%" suffix`;
  }
  if (text.includes("[") || text.includes("]")) {
    return `brackets are not allowed; write the bare address like ${V6_EXAMPLE}`;
  }
  if (!text.includes(":")) return `expected colon-separated hex groups like ${V6_EXAMPLE}`;
  const halves = text.split("::");
  if (halves.length > 2) return 'at most one "::" is allowed';
  let words: bigint[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0], false);
    if (typeof head === "string") return head;
    const tail = parseGroups(halves[1], true);
    if (typeof tail === "string") return tail;
    // "::" must stand for at least one zero group.
    if (head.length + tail.length > 7) {
      return `too many groups: with "::" there can be at most 7 groups, got ${
        head.length + tail.length
      }`;
    }
    const zeros = new Array<bigint>(8 - head.length - tail.length).fill(0n);
    words = [...head, ...zeros, ...tail];
  } else {
    const all = parseGroups(text, true);
    if (typeof all === "string") return all;
    if (all.length !== 8) {
      return `expected 8 colon-separated groups (or "::" for a run of zeros), got ${all.length}`;
    }
    words = all;
  }
  return words.reduce((acc, w) => (acc << 16n) | w, 0n);
}

/**
 * Recently parsed IPv4 addresses by their text. Addresses are frozen, so one object can stand for
 * every copy of the text: a registry's or a routing table's thousands of entries name a handful
 * of gateways. Bounded: emptied when full.
 */
const RECENT_V4 = new Map<string, IpAddress>();
const RECENT_V4_MAX = 4096;

/** The IPv4 address `text` names when it is a canonical dotted quad, else undefined. */
function v4Address(text: string): IpAddress | undefined {
  // Small, so that the common case (a known address) costs its callers no call: the parse
  // stays out of line.
  return RECENT_V4.get(text) ?? newV4Address(text);
}

/** {@link v4Address} of a text not among the recent ones. */
function newV4Address(text: string): IpAddress | undefined {
  const value = fastV4(text);
  if (value < 0) return undefined;
  const address: IpAddress = Object.freeze({ family: 4, value: BigInt(value) });
  if (RECENT_V4.size >= RECENT_V4_MAX) RECENT_V4.clear();
  RECENT_V4.set(text, address);
  return address;
}

/**
 * Parse an IPv4 or IPv6 address; the text decides the family (a ":" means IPv6).
 *
 * @throws {InputError} for anything but a plain address, e.g. `"01.1.1.1"`, `"1.1"`,
 * `"fe80::1%eth0"`, `"[::1]"`, `" 1.1.1.1"`.
 * @example
 * ```ts
 * parseAddress("192.0.2.1"); // { family: 4, value: 3221225985n }
 * parseAddress("::ffff:1.2.3.4").family; // 6
 * ```
 */
export function parseAddress(text: string): IpAddress {
  if (typeof text === "string") {
    const fast = v4Address(text);
    if (fast) return fast;
  }
  checkText(text, "IP address");
  if (text.includes(":")) return parseAddressOf(6, text);
  if (text.includes(".")) return parseAddressOf(4, text);
  throw invalid(text, "IP address", `expected an address like ${V4_EXAMPLE} or ${V6_EXAMPLE}`);
}

/**
 * Parse an address that must be of the given family.
 *
 * @throws {InputError} when the text is not a valid address of that family, including a
 * valid address of the other family ("expected an IPv4 address, got IPv6 address ...").
 * @example
 * ```ts
 * parseAddressOf(6, "fd00::1"); // { family: 6, value: 336294682933583715844663186250927177729n }
 * parseAddressOf(4, "fd00::1"); // throws InputError
 * ```
 */
export function parseAddressOf(family: Family, text: string): IpAddress {
  if (family === 4 && typeof text === "string") {
    const fast = v4Address(text);
    if (fast) return fast;
  }
  familyBits(family);
  const what = `IPv${family} address`;
  checkText(text, what);
  const looksV6 = text.includes(":");
  if (looksV6 !== (family === 6)) {
    // Written in the other family's syntax: if it is valid there, say exactly that.
    const other = looksV6 ? 6 : 4;
    if (typeof (looksV6 ? parseV6(text) : parseV4(text)) === "bigint") {
      throw new InputError(
        `expected an IPv${family} address, got IPv${other} address ${quote(text)}`,
      );
    }
  }
  const value = family === 4 ? parseV4(text) : parseV6(text);
  if (typeof value === "string") throw invalid(text, what, value);
  return Object.freeze({ family, value });
}

const MAX_V4 = 0xffffffffn;
const MAX_V6 = (1n << 128n) - 1n;

function formatV4(value: bigint): string {
  // Plain numbers: exact below 2^32, and much cheaper than bigint shifts on hot paths.
  const n = Number(value);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function formatV6(value: bigint): string {
  // IPv4-mapped addresses read best in mixed notation (RFC 5952 section 5).
  if (value >> 32n === 0xffffn) return `::ffff:${formatV4(value & 0xffffffffn)}`;
  // One bigint operation, then strings: per-group bigint shifts and number formatting cost
  // 2-3x more, and a sync formats thousands of IPv6 addresses.
  const digits = value.toString(16).padStart(32, "0");
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) {
    let k = i;
    while (k < i + 3 && digits.charCodeAt(k) === 48) k++; // no leading zeros ("0" stays)
    groups.push(digits.slice(k, i + 4));
  }
  // Longest run of two or more zero groups, the first one on a tie (RFC 5952 section 4.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${
    groups.slice(bestStart + bestLength).join(":")
  }`;
}

/**
 * Format an address: dotted quad for IPv4, RFC 5952 canonical text for IPv6 (lowercase,
 * no leading zeros, the longest run of two or more zero groups as "::"; IPv4-mapped
 * addresses as `::ffff:a.b.c.d`).
 *
 * @throws {InputError} if the address object is malformed (value out of range).
 * @example
 * ```ts
 * formatAddress(parseAddress("2001:0DB8:0:0:1:0:0:1")); // "2001:db8::1:0:0:1"
 * formatAddress(parseAddress("10.0.0.1")); // "10.0.0.1"
 * ```
 */
export function formatAddress(a: IpAddress): string {
  // The common address in one step, in a function small enough for the JIT to inline: a sync
  // formats thousands. The rest is checked first.
  return a.family === 4 && typeof a.value === "bigint" && a.value >= 0n && a.value <= MAX_V4
    ? formatV4(a.value)
    : formatChecked(a);
}

/** {@link formatAddress} of any address, checked. */
function formatChecked(a: IpAddress): string {
  const bits = familyBits(a.family);
  // Compared, not shifted: a sync formats thousands of addresses.
  if (typeof a.value !== "bigint" || a.value < 0n || a.value > (bits === 32 ? MAX_V4 : MAX_V6)) {
    throw new InputError(
      `${describe(a.value)} is not a valid IPv${a.family} address value: expected 0 to 2^${bits}-1`,
    );
  }
  return a.family === 4 ? formatV4(a.value) : formatV6(a.value);
}

/**
 * Whether two addresses are the same (same family and value; `1.2.3.4` is not
 * equal to `::ffff:1.2.3.4`).
 *
 * @example
 * ```ts
 * addressEquals(parseAddress("fd00::1"), parseAddress("FD00:0::0:1")); // true
 * ```
 */
export function addressEquals(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}
