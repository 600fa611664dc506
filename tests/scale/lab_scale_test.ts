/**
 * The scale tier, run once in CI against the compiled executable (`deno task test:scale`): a lab
 * of 50 hosts whose agents lease from etcd comes up, every host routes to all 49 others through
 * their addresses, a sample of container pairs ping (lab up's own sample and another one here),
 * `lab status` covers every host, the agents logged no error, and `lab down` leaves no namespace
 * and no process behind. The time of each step is printed, for the CI log.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  bridgeSubnetOf,
  hg,
  hgArgv,
  ipJson,
  labName,
  netnsList,
  pings,
  run,
} from "../e2e/harness.ts";

const NODES = 50;

/** Runs `step`, printing how long it took; returns its result and the seconds. */
function timed<T>(what: string, step: () => T): [T, number] {
  const start = performance.now();
  const result = step();
  const seconds = (performance.now() - start) / 1000;
  console.log(`${what}: ${seconds.toFixed(1)} s`);
  return [result, seconds];
}

/** The processes (agents and etcd) whose command line names this lab. */
const processesOf = (lab: string) =>
  run("pgrep", ["-af", `(--node ${lab}-h[0-9]+ |/lab-${lab}/)`]).stdout.trim();

/**
 * For the CI log, when lab up failed: the end of the logs it kept of the hosts its message
 * names, and of etcd's (a CI machine's files are gone once the run ends).
 */
function printKeptLogs(stderr: string): void {
  const kept = /logs kept in (\S+)\)/.exec(stderr)?.[1];
  if (!kept) return;
  const named = new Set([...stderr.matchAll(/(\S+-h\d+) has not/g)].map((m) => m[1]));
  const files = readdirSync(kept).filter((f) =>
    f.startsWith("etcd") || named.has(f.replace(/\.agent\.log$/, ""))
  );
  for (const file of files) {
    const lines = readFileSync(`${kept}/${file}`, "utf8").trimEnd().split("\n");
    console.log(`--- the last lines of ${kept}/${file} ---\n${lines.slice(-40).join("\n")}`);
  }
}

describe(`a ${NODES}-host lab with agents on etcd (scale, root)`, () => {
  it("comes up and converges, every host routes to all others, pings work, and lab down leaves nothing", async () => {
    const lab = labName();
    const hosts = Array.from({ length: NODES }, (_, i) => `${lab}-h${i + 1}`);
    let failure: unknown;
    try {
      const [up, upSeconds] = timed(
        `hg lab up --nodes ${NODES} --agent`,
        () => hg(["lab", "up", "--nodes", String(NODES), "--agent", "--name", lab, "--json"]),
      );
      if (up.code !== 0) printKeptLogs(up.stderr);
      assert.equal(up.code, 0, `lab up failed (${up.code}): ${up.stderr}`);
      // Far more than it takes; it catches waiting that grows out of hand with the lab's size.
      assert.ok(upSeconds < 240, `lab up took ${upSeconds} s`);
      const doc = JSON.parse(up.stdout) as {
        pairs: number;
        reachability: { from: string; to: string; ok: boolean }[];
      };
      assert.equal(doc.pairs, NODES * (NODES - 1));
      assert.ok(doc.reachability.length >= 4 * NODES, `${doc.reachability.length} pings`);
      assert.deepEqual(doc.reachability.filter((r) => !r.ok), [], "every sampled pair pings");

      const [, routeSeconds] = timed("checking every host's routes", () => {
        const subnets = hosts.map(bridgeSubnetOf);
        assert.equal(new Set(subnets).size, NODES, "every host has a subnet of its own");
        hosts.forEach((host, i) => {
          const routes = (ipJson(host, ["route", "show", "proto", "104"]) as {
            dst: string;
            gateway: string;
          }[]).map((r) => `${r.dst} via ${r.gateway}`).sort();
          const want = hosts.flatMap((_, j) =>
            j === i ? [] : [`${subnets[j]} via 10.0.12.${11 + j}`]
          ).sort();
          assert.deepEqual(routes, want, `${host} routes to all ${NODES - 1} others`);
        });
      });
      assert.ok(routeSeconds < 60);

      // Pairs lab up's sample does not have: each container to the next one.
      timed("pinging each container from the one before it", () => {
        hosts.forEach((host, i) => {
          const next = hosts[(i + 1) % NODES];
          const address = bridgeSubnetOf(next).replace(/\.0\/24$/, ".2");
          assert.ok(pings(`${host}-c1`, address), `${host}-c1 reaches ${next}-c1 at ${address}`);
        });
      });

      const [status] = timed("hg lab status", () => hg(["lab", "status", "--name", lab, "--json"]));
      assert.equal(status.code, 0, status.stderr);
      const statusDoc = JSON.parse(status.stdout) as {
        hosts: { netns: string; status: { peers: unknown[] } }[];
      };
      assert.deepEqual(statusDoc.hosts.map((h) => h.netns), hosts, "every host, in order");
      assert.ok(statusDoc.hosts.every((h) => h.status.peers.length === NODES - 1));

      // An idle agent never takes the host lock: while hosts sit idle and then get containers
      // (hg netns add, which takes the lock, and whose new links wake every agent's check), no
      // agent changes its host, so no netns add ever waits for an agent. The longest the agents
      // held the lock at all (for their changes while the lab came up) is printed.
      const agents = () => {
        const r = hg(["lab", "status", "--name", lab, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as {
          hosts: { status: { agent: { hostChanges: number; longestLockMs: number } } }[];
        }).hosts.map((h) => h.status.agent);
      };
      const before = agents();
      await new Promise((r) => setTimeout(r, 10_000));
      for (const host of hosts.slice(0, 10)) {
        const add = run("nsenter", [
          `--net=/run/netns/${host}`,
          ...hgArgv(),
          "netns",
          "add",
          `${host}-c2`,
        ]);
        assert.equal(add.code, 0, add.stderr);
      }
      await new Promise((r) => setTimeout(r, 1000)); // their checks ran
      const after = agents();
      assert.deepEqual(
        after.map((a) => a.hostChanges),
        before.map((a) => a.hostChanges),
        "no agent changed its host (or took its lock) while idle or while containers were added",
      );
      console.log(
        `longest host lock hold of an agent: ${Math.max(...after.map((a) => a.longestLockMs))} ms`,
      );

      const dir = `/run/hg/lab-${lab}`;
      const errors = readdirSync(dir).filter((f) => f.endsWith(".agent.log"))
        .flatMap((f) =>
          readFileSync(`${dir}/${f}`, "utf8").split("\n").filter((l) => /\bERROR\b/.test(l))
        );
      assert.deepEqual(errors, [], "the agents logged no error");
    } catch (e) {
      failure = e;
    }
    const [down] = timed("hg lab down", () => hg(["lab", "down", "--name", lab]));
    const left = netnsList().filter((ns) => ns.startsWith(`${lab}-`));
    const processes = processesOf(lab);
    if (failure) throw failure;
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(left, [], "lab down leaves no namespace");
    assert.equal(processes, "", "lab down leaves no agent or etcd");
  });
});
