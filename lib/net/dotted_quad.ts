/**
 * The fast path of IPv4 parsing, for the thousands of addresses a registry or a routing table
 * holds: lib/net's parsers and the registry's key parser try it first. Not part of the library
 * API (lib/net/mod.ts does not re-export it): it accepts or declines, the careful parsers say why.
 *
 * @module
 */
import type { Prefix } from "./prefix.ts";

/**
 * The value of a dotted quad in the one form address.ts's `parseV4` accepts (four decimal parts 0-255
 * without leading zeros), read character by character, or -1 for anything else: a registry or
 * a routing table holds thousands of addresses, and the checks by regular expression cost
 * several times more. Anything it does not take goes the careful way, which says why. Reads
 * `text` from `start` to `end` (all of it by default).
 */
export function fastV4(text: string, start = 0, end = text.length): number {
  if (end - start < 7 || end - start > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57) return -1;
    // A leading zero ("010") is refused, with its reason, by `parseV4`.
    if (digits > 0 && part === 0) return -1;
    part = part * 10 + (c - 48);
    if (part > 255) return -1;
    digits++;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/**
 * The prefix `text` names when it is `a.b.c.d/len` in the one form `parsePrefix` accepts (a
 * canonical dotted quad, a length 0-32 without sign or leading zeros, no host bits set), or
 * undefined for anything else (which then goes the careful way). `separator` is the character
 * between address and length: "/", or "-" in a registry key (`1.1.1.0-24`).
 */
export function fastV4Prefix(text: string, separator = "/"): Prefix | undefined {
  const slash = text.indexOf(separator);
  if (slash < 7 || slash > 15) return undefined;
  // The dotted quad before the separator, read part by part between its dots. Not a call into
  // fastV4: a registry's keys and a routing table's routes are thousands, and a character loop
  // per key made fastV4 (and this function) hot enough for the JIT's slowest tier to compile,
  // CPU a one-shot command pays for; four calls of a small part reader cost less.
  const dot1 = text.indexOf(".");
  const dot2 = text.indexOf(".", dot1 + 1);
  const dot3 = text.indexOf(".", dot2 + 1);
  if (dot1 < 0 || dot2 < 0 || dot3 < 0 || dot3 > slash) return undefined;
  const a = decimalPart(text, 0, dot1);
  const b = decimalPart(text, dot1 + 1, dot2);
  const c = decimalPart(text, dot2 + 1, dot3);
  const d = decimalPart(text, dot3 + 1, slash);
  if (a < 0 || b < 0 || c < 0 || d < 0) return undefined;
  const value = ((a * 256 + b) * 256 + c) * 256 + d;
  const digits = text.length - slash - 1;
  if (digits < 1 || digits > 2) return undefined;
  const d0 = text.charCodeAt(slash + 1) - 48;
  if (d0 < 0 || d0 > 9) return undefined;
  let length = d0;
  if (digits === 2) {
    const d1 = text.charCodeAt(slash + 2) - 48;
    if (d0 === 0 || d1 < 0 || d1 > 9) return undefined;
    length = d0 * 10 + d1;
  }
  if (length > 32 || value % 2 ** (32 - length) !== 0) return undefined;
  // As prefix.ts builds every prefix: frozen, the address frozen too.
  return Object.freeze({ address: Object.freeze({ family: 4, value: BigInt(value) }), length });
}

/**
 * One part of a dotted quad, `text` from `from` to `to`: 1-3 decimal digits without a leading
 * zero ("010" is refused, with its reason, by the careful parser), 0-255; else -1.
 */
function decimalPart(text: string, from: number, to: number): number {
  const n = to - from;
  if (n < 1 || n > 3) return -1;
  const c0 = text.charCodeAt(from) - 48;
  if (c0 < 0 || c0 > 9) return -1;
  if (n === 1) return c0;
  if (c0 === 0) return -1;
  const c1 = text.charCodeAt(from + 1) - 48;
  if (c1 < 0 || c1 > 9) return -1;
  if (n === 2) return c0 * 10 + c1;
  const c2 = text.charCodeAt(from + 2) - 48;
  if (c2 < 0 || c2 > 9) return -1;
  const value = c0 * 100 + c1 * 10 + c2;
  return value > 255 ? -1 : value;
}
