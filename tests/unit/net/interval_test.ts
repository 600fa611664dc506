import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { overlappingPairs, prefixRange } from "../../../lib/net/interval.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../../../lib/net/prefix.ts";

const names = (pairs: [Prefix, Prefix][]) =>
  pairs.map((pair) => pair.map(formatPrefix).sort().join(" ~ "));

describe("overlappingPairs", () => {
  it("finds nested and equal prefixes, in both families, and nothing between families", () => {
    const prefixes = [
      "1.1.2.0/24",
      "1.1.0.0/16",
      "1.2.0.0/16",
      "1.1.2.0/24",
      "fd00::/64",
      "fd00::/48",
      "::/0",
      "0.0.0.0/1",
    ]
      .map((p) => parsePrefix(p));
    assert.deepEqual(names(overlappingPairs(prefixes, (p) => p)).sort(), [
      "0.0.0.0/1 ~ 1.1.0.0/16",
      "0.0.0.0/1 ~ 1.1.2.0/24",
      "0.0.0.0/1 ~ 1.1.2.0/24",
      "0.0.0.0/1 ~ 1.2.0.0/16",
      "1.1.0.0/16 ~ 1.1.2.0/24",
      "1.1.0.0/16 ~ 1.1.2.0/24",
      "1.1.2.0/24 ~ 1.1.2.0/24",
      "::/0 ~ fd00::/48",
      "::/0 ~ fd00::/64",
      "fd00::/48 ~ fd00::/64",
    ]);
  });

  it("finds none among adjacent prefixes", () => {
    const prefixes = ["1.1.0.0/24", "1.1.1.0/24", "1.1.2.0/23", "255.255.255.255/32"].map((p) =>
      parsePrefix(p)
    );
    assert.deepEqual(overlappingPairs(prefixes, (p) => p), []);
  });

  it("gives the pairs in the order of a stable sort by first address (many IPv4 ranges, ties, both families)", () => {
    // The reference: sort objects by first address (stable), then sweep.
    const reference = (items: readonly Prefix[]): [Prefix, Prefix][] => {
      const out: [Prefix, Prefix][] = [];
      for (const family of [4, 6]) {
        const sorted = items.filter((p) => p.address.family === family)
          .map((p) => ({ p, ...prefixRange(p) }))
          .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length && sorted[j].first <= sorted[i].last; j++) {
            out.push([sorted[i].p, sorted[j].p]);
          }
        }
      }
      return out;
    };
    let seed = 5;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    // A /8 and a few /16s over many /22-/32s, equal prefixes among them (ties), some IPv6.
    const items: Prefix[] = [parsePrefix("10.0.0.0/8")];
    for (let i = 0; i < 1000; i++) {
      const third = Math.floor(next() * 40);
      const r = next();
      const text = r < 0.01
        ? `10.${third % 3}.0.0/16`
        : r < 0.2
        ? `10.1.${(third >> 2) << 2}.0/22`
        : r < 0.8
        ? `10.1.${third}.0/24`
        : r < 0.9
        ? `10.1.${third}.${Math.floor(next() * 2) * 128}/25`
        : `10.1.${third}.${Math.floor(next() * 256)}/32`;
      items.push(parsePrefix(text));
      if (next() < 0.05) items.push(parsePrefix(`fd00:${third}::/64`));
    }
    const got = overlappingPairs(items, (p) => p);
    assert.ok(got.length > 1000);
    const want = reference(items);
    assert.equal(got.length, want.length);
    for (let k = 0; k < want.length; k++) {
      assert.ok(got[k][0] === want[k][0] && got[k][1] === want[k][1], `pair ${k}`);
    }
  });

  it("gives the first and last address of a prefix", () => {
    const { first, last } = prefixRange(parsePrefix("1.1.2.0/24"));
    assert.equal(last - first, 255n);
  });
});
