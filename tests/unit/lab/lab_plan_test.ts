/**
 * The lab's pure parts: host numbering after removals, the routes a host lacks, the pairs a
 * reachability check covers, and the bounded parallel runner.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type HostRouting, missingRoutes } from "../../../lib/lab/convergence.ts";
import {
  afterRemove,
  afterUp,
  type HostNumbers,
  hostsToBuild,
  nextHostNumber,
} from "../../../lib/lab/host_numbers.ts";
import { inParallel } from "../../../lib/lab/parallel.ts";
import {
  ALL_PAIRS_MAX,
  checkedPairs,
  SAMPLE_PEERS,
  sampleOffsets,
} from "../../../lib/lab/reach.ts";
import {
  defaultSegment,
  labHost,
  labTopology,
  MAX_HOST_INDEX,
  withHosts,
} from "../../../lib/lab/topology.ts";

describe("lab host numbers", () => {
  it("a new host comes after the highest number ever used, removed hosts stay removed", () => {
    let numbers: HostNumbers = afterUp({ highest: 0, removed: [] }, 3);
    assert.deepEqual(numbers, { highest: 3, removed: [] });
    numbers = afterRemove(numbers, 2);
    assert.equal(nextHostNumber(numbers), 4);
    numbers = { ...numbers, highest: 4 };
    numbers = afterRemove(numbers, 4);
    assert.equal(nextHostNumber(numbers), 5, "the removed h4 is not handed out again");
    assert.deepEqual(numbers.removed, [2, 4]);
    // `lab up --nodes 3` again builds 1 and 3, not the removed 2, and forgets nothing.
    assert.deepEqual(hostsToBuild(numbers, 3), [1, 3]);
    assert.deepEqual(afterUp(numbers, 3), numbers);
    assert.deepEqual(afterUp(numbers, 6).highest, 6);
  });

  it("hosts are named, addressed and given subnets by number", () => {
    const h7 = labHost("hglab", 7);
    assert.equal(h7.netns, "hglab-h7");
    assert.equal(h7.container, "hglab-h7-c1");
    assert.deepEqual(
      withHosts(labTopology("hglab", 1), [1, 3]).hosts.map((h) => h.netns),
      ["hglab-h1", "hglab-h3"],
    );
    assert.throws(() => labHost("hglab", MAX_HOST_INDEX + 1), /host number 255 is not valid/);
    assert.throws(() => labHost("hglab", 0), /host number 0 is not valid/);
  });
});

describe("missing routes", () => {
  const host = (n: number, subnet: string | undefined, routes: string[]): HostRouting => ({
    netns: `h${n}`,
    address: `10.0.12.${10 + n}`,
    subnet,
    routes,
  });

  it("a host routes every other's subnet through that host's address", () => {
    const hosts = [
      host(1, "1.1.5.0/24", ["1.1.9.0/24 via 10.0.12.12", "1.1.7.0/24 via 10.0.12.13"]),
      host(2, "1.1.9.0/24", ["1.1.5.0/24 via 10.0.12.11"]),
      host(3, "1.1.7.0/24", ["1.1.5.0/24 via 10.0.12.11", "1.1.9.0/24 via 10.0.12.99"]),
    ];
    assert.deepEqual(missingRoutes(hosts[0], hosts), []);
    assert.deepEqual(missingRoutes(hosts[1], hosts), [
      "h2 has no route 1.1.7.0/24 via 10.0.12.13 (to h3)",
    ]);
    assert.deepEqual(
      missingRoutes(hosts[2], hosts),
      ["h3 has no route 1.1.9.0/24 via 10.0.12.12 (to h2)"],
      "a route through the wrong gateway does not count",
    );
  });

  it("a host without a lease lacks its lease, and nobody can route to it yet", () => {
    const hosts = [host(1, undefined, []), host(2, "1.1.9.0/24", [])];
    assert.deepEqual(missingRoutes(hosts[0], hosts), ["h1 has no lease yet"]);
    assert.deepEqual(missingRoutes(hosts[1], hosts), []);
  });
});

describe("checked pairs", () => {
  it("every ordered pair of a small lab", () => {
    assert.equal(checkedPairs(3).length, 6);
    assert.equal(checkedPairs(ALL_PAIRS_MAX).length, ALL_PAIRS_MAX * (ALL_PAIRS_MAX - 1));
    assert.deepEqual(checkedPairs(1), []);
  });

  for (const n of [ALL_PAIRS_MAX + 1, 20, 37, 50]) {
    it(`a sample of ${n} containers: each sends and receives ${SAMPLE_PEERS}, no pair twice, none to itself`, () => {
      const pairs = checkedPairs(n);
      assert.equal(pairs.length, n * SAMPLE_PEERS);
      assert.equal(new Set(pairs.map(([a, b]) => `${a}>${b}`)).size, pairs.length);
      assert.ok(pairs.every(([a, b]) => a !== b && a >= 0 && b >= 0 && a < n && b < n));
      for (let i = 0; i < n; i++) {
        assert.equal(pairs.filter(([a]) => a === i).length, SAMPLE_PEERS);
        assert.equal(pairs.filter(([, b]) => b === i).length, SAMPLE_PEERS);
      }
    });
  }
});

describe("the sample's pairs across segments", () => {
  it("a lab of 2, 3 or 4 segments pings pairs on one segment and across, at every size", () => {
    for (let n = ALL_PAIRS_MAX + 1; n <= 100; n++) {
      const pairs = checkedPairs(n);
      for (const segments of [2, 3, 4]) {
        // Container i is host i+1's, on segment defaultSegment(i+1).
        const across = pairs.map(([a, b]) =>
          defaultSegment(a + 1, segments) !== defaultSegment(b + 1, segments)
        );
        assert.ok(across.includes(true), `${n} hosts, ${segments} segments: a pair across`);
        assert.ok(across.includes(false), `${n} hosts, ${segments} segments: a pair within one`);
      }
    }
  });

  it("offsets stay near n/5, 2n/5, 3n/5, 4n/5 (2 at most away)", () => {
    for (let n = ALL_PAIRS_MAX + 1; n <= 100; n++) {
      const offsets = sampleOffsets(n);
      offsets.forEach((o, j) => {
        assert.ok(Math.abs(o - Math.round(((j + 1) * n) / 5)) <= 2, `${n}: ${offsets}`);
      });
    }
    // Evenly spread 50 would be 10, 20, 30, 40: all even, never across 2 segments.
    assert.ok(sampleOffsets(50).some((o) => o % 2 === 1));
  });
});

describe("inParallel", () => {
  it("keeps the order and never runs more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const results = await inParallel([5, 1, 4, 2, 3, 0], 2, async (ms, i) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return i;
    });
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5]);
    assert.equal(most, 2);
  });

  it("rejects with the first failure once the started jobs are done, and starts no more", async () => {
    const started: number[] = [];
    let running = 0;
    await assert.rejects(
      inParallel([0, 1, 2, 3, 4], 2, async (n) => {
        started.push(n);
        running++;
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (n === 1) throw new Error("job 1 failed");
      }),
      /job 1 failed/,
    );
    assert.equal(running, 0, "nothing is left running");
    assert.ok(!started.includes(4), `started ${started}`);
  });
});
