/**
 * The fast IPv4 paths (lib/net/dotted_quad.ts) against an oracle of their own: they must take
 * exactly the canonical texts the careful parsers take, with the same values, and leave every
 * other text to the careful parsers, whose messages stay as they were.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatAddress, parseAddress, parseAddressOf } from "../../../lib/net/address.ts";
import { fastV4, fastV4Prefix } from "../../../lib/net/dotted_quad.ts";
import { formatPrefix, parsePrefix } from "../../../lib/net/prefix.ts";

/** The oracle: a canonical dotted quad by regular expression and arithmetic, its value or -1. */
function oracleV4(text: string): number {
  const m = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/
    .exec(text);
  if (!m) return -1;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return -1;
  return ((parts[0] * 256 + parts[1]) * 256 + parts[2]) * 256 + parts[3];
}

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Texts near the canonical form: digits, dots, slashes, dashes and a few strangers. */
function texts(count: number): string[] {
  const next = random(7);
  const alphabet = "0123456789....//-: a";
  const out = [
    "0.0.0.0",
    "255.255.255.255",
    "256.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.02.3.4",
    "1.2.3.00",
    "1..3.4",
    ".1.2.3",
    "1.2.3.",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4\n",
    "１.2.3.4",
    "",
  ];
  for (let i = 0; i < count; i++) {
    if (next() < 0.5) {
      // Mostly well-formed quads, some with leading zeros or parts over 255.
      const part = () => {
        const r = next();
        return r < 0.1 ? `0${Math.floor(next() * 10)}` : String(Math.floor(next() * 300));
      };
      out.push(`${part()}.${part()}.${part()}.${part()}`);
    } else {
      const length = 1 + Math.floor(next() * 16);
      out.push(
        Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join(""),
      );
    }
  }
  return out;
}

describe("fastV4", () => {
  it("takes exactly the canonical dotted quads, with their values", () => {
    for (const text of texts(5000)) {
      assert.equal(fastV4(text), oracleV4(text), JSON.stringify(text));
    }
  });

  it("reads the part of a text it is given", () => {
    assert.equal(fastV4("x10.0.12.7/24", 1, 10), oracleV4("10.0.12.7"));
    assert.equal(fastV4("10.0.12.7-24", 0, 9), oracleV4("10.0.12.7"));
    assert.equal(fastV4("10.0.12.7", 0, 8), -1); // "10.0.12."
  });
});

describe("the parsers with the fast path in front", () => {
  it("parse what they parsed, with the same values", () => {
    for (const text of texts(3000)) {
      const want = oracleV4(text);
      if (want < 0) continue;
      assert.equal(parseAddress(text).value, BigInt(want));
      assert.equal(parseAddressOf(4, text).value, BigInt(want));
      assert.equal(formatAddress(parseAddress(text)), text);
    }
  });

  it("give back one frozen address for repeated texts", () => {
    const a = parseAddressOf(4, "10.0.12.7");
    assert.ok(Object.isFrozen(a));
    assert.deepEqual(parseAddress("10.0.12.7"), a);
    assert.equal(parseAddress("10.0.12.7").family, 4);
  });

  it("refuse what they refused, with the careful parsers' messages", () => {
    assert.throws(() => parseAddress("01.1.1.1"), /part "01" has a leading zero/);
    assert.throws(() => parseAddressOf(4, "1.1.1.256"), /each of the four parts must be/);
    assert.throws(() => parseAddressOf(4, " 1.1.1.1"), /must not contain whitespace/);
    assert.throws(() => parsePrefix("1.1.1.5/24"), /has host bits set: did you mean 1.1.1.0\/24\?/);
    assert.throws(() => parsePrefix("1.1.1.0/024"), /without sign or leading zeros/);
    assert.throws(() => parsePrefix("1.1.1.0/33"), /length must be 0-32 for IPv4/);
  });
});

describe("fastV4Prefix", () => {
  it("takes exactly the prefixes parsePrefix takes in IPv4, with the same prefix", () => {
    const next = random(11);
    const candidates = texts(3000).map((t) => {
      const r = next();
      const length = r < 0.1 ? `0${Math.floor(next() * 10)}` : String(Math.floor(next() * 40));
      return `${t}/${length}`;
    });
    for (const text of [...candidates, "0.0.0.0/0", "1.1.1.0/24", "1.1.1.1/32", "1.1.1.0/"]) {
      const slash = text.indexOf("/");
      const value = oracleV4(text.slice(0, slash));
      const lengthText = text.slice(slash + 1);
      const length = /^(0|[1-9][0-9]?)$/.test(lengthText) ? Number(lengthText) : 99;
      const canonical = value >= 0 && length <= 32 && value % 2 ** (32 - length) === 0;
      const fast = fastV4Prefix(text);
      assert.equal(fast !== undefined, canonical, text);
      if (fast) {
        assert.ok(Object.isFrozen(fast) && Object.isFrozen(fast.address));
        assert.deepEqual(fast, parsePrefix(text));
        assert.equal(formatPrefix(fast), text);
      }
    }
  });

  it("reads a registry key's dash as the slash", () => {
    assert.deepEqual(fastV4Prefix("1.1.4.0-24", "-"), parsePrefix("1.1.4.0/24"));
    assert.equal(fastV4Prefix("1.1.4.0-24"), undefined);
    assert.equal(fastV4Prefix("1.1.4.5-24", "-"), undefined);
  });
});
