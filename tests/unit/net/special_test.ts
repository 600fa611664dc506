/**
 * isOrdinaryV4, the few comparisons a sync asks of each lease's subnet before the special-range
 * check, against an oracle of its own: the special ranges written out here, compared by address
 * range. An ordinary prefix overlaps none of them, and specialPrefixError says nothing about it;
 * every other prefix goes the careful way, whose answer stays as it was.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../../../lib/net/prefix.ts";
import { isOrdinaryV4, specialPrefixError } from "../../../lib/net/special.ts";

/** RFC 6890's IPv4 ranges no host address comes from, as first and last address. */
const SPECIAL = ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32"]
  .map((cidr) => {
    const [address, length] = cidr.split("/");
    const first = Number(parseAddress(address).value);
    return { first, last: first + 2 ** (32 - Number(length)) - 1 };
  });

/** Whether the prefix's addresses meet a special range (host bits ignored, as the checks do). */
function overlapsSpecial(p: Prefix): boolean {
  const size = 2 ** (32 - p.length);
  const first = Math.floor(Number(p.address.value) / size) * size;
  const last = first + size - 1;
  return SPECIAL.some((s) => first <= s.last && s.first <= last);
}

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Prefixes of every first octet and many lengths, some with host bits set (built by hand). */
function prefixes(): Prefix[] {
  const next = random(11);
  const out: Prefix[] = [];
  for (let octet = 0; octet < 256; octet++) {
    for (const length of [0, 1, 4, 7, 8, 9, 16, 24, 31, 32]) {
      const value = octet * 2 ** 24 + Math.floor(next() * 2 ** 24);
      const size = 2 ** (32 - length);
      const network = Math.floor(value / size) * size;
      out.push(parsePrefix(`${formatV4(network)}/${length}`));
      out.push({ address: { family: 4, value: BigInt(value) }, length });
    }
  }
  return out;
}

function formatV4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

describe("isOrdinaryV4", () => {
  it("is true only for prefixes of /8 or longer that meet no special range", () => {
    const all = prefixes();
    for (const p of all) {
      const expected = p.length >= 8 && !overlapsSpecial(p);
      assert.equal(isOrdinaryV4(p), expected, `${formatPrefix(p)} (value ${p.address.value})`);
    }
    // Both answers occur, over every first octet.
    assert.ok(all.some(isOrdinaryV4) && !all.every(isOrdinaryV4));
  });

  it("leaves shorter prefixes and IPv6 ones to the careful check, which still answers", () => {
    assert.equal(isOrdinaryV4(parsePrefix("100.0.0.0/7")), false);
    assert.equal(specialPrefixError("subnet", parsePrefix("100.0.0.0/7")), undefined);
    assert.equal(isOrdinaryV4(parsePrefix("fd00:1::/64")), false);
    assert.equal(specialPrefixError("subnet", parsePrefix("fd00:1::/64")), undefined);
    assert.equal(isOrdinaryV4(parsePrefix("126.0.0.0/7")), false);
    assert.match(
      specialPrefixError("subnet", parsePrefix("126.0.0.0/7"))!.message,
      /overlaps the loopback range 127.0.0.0\/8/,
    );
  });

  it("agrees with specialPrefixError on every prefix: ordinary ones are never refused", () => {
    for (const p of prefixes()) {
      const refused = specialPrefixError("subnet", p) !== undefined;
      assert.equal(refused, overlapsSpecial(p), formatPrefix(p));
      if (isOrdinaryV4(p)) assert.equal(refused, false, formatPrefix(p));
    }
  });

  it("tells the edges of the ordinary blocks", () => {
    const ordinary = (cidr: string) => isOrdinaryV4(parsePrefix(cidr));
    assert.equal(ordinary("1.0.0.0/8"), true);
    assert.equal(ordinary("126.255.255.255/32"), true);
    assert.equal(ordinary("127.0.0.0/8"), false);
    assert.equal(ordinary("128.0.0.0/8"), true);
    assert.equal(ordinary("223.255.255.0/24"), true);
    assert.equal(ordinary("224.0.0.0/24"), false);
    assert.equal(ordinary("255.255.255.255/32"), false);
    assert.equal(ordinary("0.255.0.0/16"), false);
  });
});
