/**
 * The scale tier (`deno task test:scale`, once in CI against the compiled executable): a lab
 * of 50 hosts without a registry. Each host runs `hg setup --subnet`, `hg netns add` and one
 * `hg peer sync` from the lab's peers file (not one `hg peer add` per peer: 2,450 hg runs). It
 * comes up with every sampled pair answering, every host routes to all 49 others through their
 * addresses, `lab up` again changes nothing in any host and leaves the file alone, and
 * `lab down` leaves no namespace. The time of each step is printed, for the CI log.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { hg, ipJson, labName, netnsList } from "../e2e/harness.ts";

const NODES = 50;

/** Runs `step`, printing how long it took. */
function timed<T>(what: string, step: () => T): T {
  const start = performance.now();
  const result = step();
  console.log(`${what}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return result;
}

describe(`a ${NODES}-host lab without a registry (scale, root)`, () => {
  it("routes every host to all others through one peer sync each; lab up again changes nothing", () => {
    const lab = labName();
    const hosts = Array.from({ length: NODES }, (_, i) => `${lab}-h${i + 1}`);
    const peersFile = `/run/hg/lab-${lab}/peers.json`;
    let failure: unknown;
    try {
      const up = timed(
        `hg lab up --nodes ${NODES}`,
        () => hg(["lab", "up", "--nodes", String(NODES), "--name", lab]),
      );
      assert.equal(up.code, 0, `lab up failed (${up.code}): ${up.stderr}`);
      const ran = up.stderr.split("\n").filter((l) => /^\S+-h\d+: hg /.test(l));
      assert.equal(ran.filter((l) => / hg peer add /.test(l)).length, 0);
      assert.deepEqual(
        ran.filter((l) => / hg peer sync /.test(l)).map((l) => l.split(":")[0]).sort(),
        [...hosts].sort(),
        "one peer sync in each host",
      );
      assert.match(up.stderr, /pinged a sample: 200 of the 2450 pairs of 50 containers/);

      timed("checking every host's routes", () => {
        hosts.forEach((host, i) => {
          const routes = (ipJson(host, ["route", "show", "proto", "104"]) as {
            dst: string;
            gateway: string;
          }[]).map((r) => `${r.dst} via ${r.gateway}`).sort();
          const want = hosts.flatMap((_, j) =>
            j === i ? [] : [`1.1.${j + 1}.0/24 via 10.0.12.${11 + j}`]
          ).sort();
          assert.deepEqual(routes, want, `${host} routes to all ${NODES - 1} others`);
        });
      });

      const file = readFileSync(peersFile, "utf8");
      const again = timed(
        "hg lab up again",
        () => hg(["lab", "up", "--nodes", "50", "--name", lab]),
      );
      assert.equal(again.code, 0, again.stderr);
      const lines = again.stderr.split("\n").filter((l) => /^\S+-h\d+: hg /.test(l));
      assert.equal(lines.length, 3 * NODES, "setup, netns add and peer sync in each host");
      for (const line of lines) assert.match(line, /# nothing to do/, line);
      assert.equal(readFileSync(peersFile, "utf8"), file, "the peers file is left alone");
    } catch (e) {
      failure = e;
    }
    const down = timed("hg lab down", () => hg(["lab", "down", "--name", lab]));
    const left = netnsList().filter((ns) => ns.startsWith(`${lab}-`));
    if (failure) throw failure;
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(left, [], "lab down leaves no namespace");
    assert.ok(!existsSync(peersFile), "nor its peers file");
  });
});
