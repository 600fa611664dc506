/**
 * PrefixIndex (lib/peers/prefix_index.ts) against a pass over every item: the items overlapping
 * a prefix are the same for nested, equal, disjoint and covering prefixes of both families,
 * after items are added one by one and deleted (the same prefix held by two items too).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatPrefix,
  parsePrefix,
  type Prefix,
  prefixesOverlap,
} from "../../../lib/net/prefix.ts";
import { PrefixIndex } from "../../../lib/peers/prefix_index.ts";

/** A small deterministic generator, so that a failure can be run again. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** A random IPv4 prefix inside 10.0.0.0/8 (many nest), or IPv6 inside fd00::/16. */
function prefixes(n: number, rnd: () => number): Prefix[] {
  return Array.from({ length: n }, () => {
    if (rnd() < 0.25) {
      const length = 16 + Math.floor(rnd() * 113);
      const groups = Array.from({ length: 7 }, () => Math.floor(rnd() * 4).toString(16));
      const p = parsePrefix(`fd00:${groups.join(":")}/128`);
      return {
        address: {
          ...p.address,
          value: (p.address.value >> BigInt(128 - length)) << BigInt(128 - length),
        },
        length,
      } as Prefix;
    }
    const length = 8 + Math.floor(rnd() * 25);
    const value = 10 * 2 ** 24 + Math.floor(rnd() * 2 ** 12) * 2 ** 12 +
      Math.floor(rnd() * 4) * 256;
    const size = 2 ** (32 - length);
    const network = Math.floor(value / size) * size;
    const text = [24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join(".");
    return parsePrefix(`${text}/${length}`);
  });
}

describe("PrefixIndex", () => {
  it("finds what a pass over every item finds, built at once or added one by one, and after deletions", () => {
    const rnd = random(7);
    const items = prefixes(600, rnd).map((p, i) => ({ p, i }));
    // The same prefix twice, as two items.
    items.push({ p: items[3].p, i: 600 });
    type Item = { p: Prefix; i: number };
    const whole = new PrefixIndex((x: Item) => x.p, items);
    const added = new PrefixIndex((x: Item) => x.p);
    for (const item of items) added.add(item);
    const questions = [
      ...prefixes(300, rnd),
      items[3].p,
      parsePrefix("0.0.0.0/0"),
      parsePrefix("::/0"),
    ];
    const check = (index: PrefixIndex<Item>, held: typeof items) => {
      for (const q of questions) {
        const want = held.filter((x) => prefixesOverlap(x.p, q)).map((x) => x.i).sort((a, b) =>
          a - b
        );
        const got = index.overlapping(q).map((x) => x.i).sort((a, b) => a - b);
        assert.deepEqual(got, want, formatPrefix(q));
      }
    };
    check(whole, items);
    check(added, items);
    assert.ok(
      questions.some((q) => whole.overlapping(q).length > 2),
      "some questions find several",
    );
    const kept = items.filter((x) => x.i % 3 !== 0);
    for (const x of items) if (x.i % 3 === 0) assert.ok(whole.delete(x));
    assert.equal(whole.delete(items[0]), false, "deleted already");
    assert.equal(whole.size, kept.length);
    check(whole, kept);
  });
});
