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

  it("gives the first and last address of a prefix", () => {
    const { first, last } = prefixRange(parsePrefix("1.1.2.0/24"));
    assert.equal(last - first, 255n);
  });
});
