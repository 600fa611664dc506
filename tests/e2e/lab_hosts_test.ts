/**
 * A lab's hosts over its life: hosts added after removals are numbered after the highest number
 * ever used and removed hosts never come back (not with add-node, not with `lab up` again), and
 * the underlay keeps the registry's MAC address while hosts come and go; an agent killed with
 * SIGKILL is started again by `lab start-agent` with the same flags (the TTL given to
 * `lab up --ttl`), keeps its subnet, and the host stays routed; bad input to the new flag and
 * command is one line with its exit code, and changes nothing.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  assertOneLine,
  bridgeSubnetOf,
  hg,
  hgIn,
  ipJson,
  labName,
  netnsList,
  pings,
  run,
  withLab,
} from "./harness.ts";

const hgRoutes = (host: string) =>
  (ipJson(host, ["route", "show", "proto", "104"]) as { dst: string; gateway: string }[])
    .map((r) => `${r.dst} via ${r.gateway}`).sort();

const status = (host: string) => {
  const r = hgIn(host, ["status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

/** The lab's host namespaces (not containers, not the underlay), by number. */
const hostsOf = (lab: string) =>
  netnsList().filter((ns) => new RegExp(`^${lab}-h\\d+$`).test(ns))
    .sort((a, b) => Number(a.split("-h")[1]) - Number(b.split("-h")[1]));

const agentPid = (lab: string, host: string) =>
  Number(readFileSync(`/run/hg/lab-${lab}/${host}.agent.pid`, "utf8"));

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");

/** The PIDs of the agents running for this lab (any host), from the process table. */
const agentsOfLab = (lab: string) =>
  run("pgrep", ["-f", `agent --store .* --node ${lab}-h`]).stdout.trim().split("\n").filter(
    Boolean,
  );

type Addr = { addr_info: { local: string; prefixlen: number }[] };

/** A container's address. */
const addressOf = (container: string) =>
  (ipJson(container, ["-4", "addr", "show", "eth0"]) as Addr[])[0].addr_info[0].local;

/** Every host routes to every other (hg's routes only) through that host's address. */
function assertFullyRouted(lab: string): void {
  const hosts = hostsOf(lab);
  const subnets = new Map(hosts.map((h) => [h, bridgeSubnetOf(h)]));
  for (const h of hosts) {
    const want = hosts.filter((p) => p !== h)
      .map((p) => `${subnets.get(p)} via 10.0.12.${10 + Number(p.split("-h")[1])}`).sort();
    assert.deepEqual(hgRoutes(h), want, `${h} routes to every other host`);
  }
}

describe("lab host numbers and restarting agents (e2e, root)", () => {
  it("removed hosts never come back; a killed agent is started again as lab up started it", async () => {
    await withLab(
      3,
      (lab) => {
        const [h1, h2, h3] = [1, 2, 3].map((i) => `${lab}-h${i}`);

        // The registry's address on the underlay keeps its MAC while hosts come and go (a
        // bridge would otherwise take its lowest port's, behind every host's ARP cache).
        const bridgeMac = () =>
          (ipJson(`${lab}-ul`, ["link", "show", "ul0"]) as { address: string }[])[0].address;
        assert.equal(bridgeMac(), "02:68:67:00:0c:02");

        // h2 leaves; the next host is h4 and h2 is not built again, not even as a bare namespace.
        assert.equal(hg(["lab", "rm-node", h2, "--name", lab]).code, 0);
        const add = hg(["lab", "add-node", "--name", lab]);
        assert.equal(add.code, 0, add.stderr);
        assert.equal(add.stdout.trim(), `added ${lab}-h4`);
        assert.deepEqual(hostsOf(lab), [h1, h3, `${lab}-h4`]);
        assert.ok(!netnsList().some((ns) => ns.startsWith(`${h2}`)), "nothing of h2 is left");
        assertFullyRouted(lab);

        // h4 leaves too: the next one is h5, not h4 again.
        assert.equal(hg(["lab", "rm-node", `${lab}-h4`, "--name", lab]).code, 0);
        const again = hg(["lab", "add-node", "--name", lab, "--json"]);
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(JSON.parse(again.stdout), { name: lab, added: `${lab}-h5` });
        const h5 = `${lab}-h5`;
        assert.deepEqual(hostsOf(lab), [h1, h3, h5]);
        assert.equal(bridgeMac(), "02:68:67:00:0c:02");

        // `lab up` again builds neither h2 nor a second agent anywhere, and keeps the TTL.
        const up = hg(["lab", "up", "--nodes", "3", "--agent", "--name", lab]);
        assert.equal(up.code, 0, up.stderr);
        assert.deepEqual(hostsOf(lab), [h1, h3, h5]);
        assert.equal(agentsOfLab(lab).length, 3, `one agent per host: ${agentsOfLab(lab)}`);
        assertFullyRouted(lab);

        // The TTL given to lab up went to every agent, the one add-node started too.
        for (const h of [h1, h3, h5]) {
          const argv = cmdline(agentPid(lab, h));
          assert.equal(argv[argv.indexOf("--ttl") + 1], "30", `${h}: ${argv.join(" ")}`);
        }

        // h3's agent is killed; its routes stay, and start-agent brings it back as it was.
        const before = { pid: agentPid(lab, h3), subnet: status(h3).agent.subnet as string };
        const argvBefore = cmdline(before.pid);
        const logPath = `/run/hg/lab-${lab}/${h3}.agent.log`;
        const logBefore = readFileSync(logPath, "utf8");
        process.kill(before.pid, "SIGKILL");
        const start = hg(["lab", "start-agent", h3, "--name", lab]);
        assert.equal(start.code, 0, start.stderr);
        const pid = agentPid(lab, h3);
        assert.notEqual(pid, before.pid);
        assert.equal(start.stdout, `started the agent of ${h3} (pid ${pid})\n`);
        assert.deepEqual(cmdline(pid).slice(1), argvBefore.slice(1), "the same flags");
        const now = status(h3).agent;
        assert.equal(now.pid, pid);
        assert.equal(now.subnet, before.subnet, "it keeps its subnet");
        assertFullyRouted(lab);
        assert.equal(bridgeSubnetOf(h3), before.subnet);
        assert.ok(pings(`${h3}-c1`, addressOf(`${h5}-c1`)), "h3's container reaches h5's");
        assert.ok(pings(`${h5}-c1`, addressOf(`${h3}-c1`)), "h5's container reaches h3's");
        const log = readFileSync(logPath, "utf8");
        assert.ok(log.startsWith(logBefore) && log.length > logBefore.length, "log appended");

        // Bad input and wrong states: one line, its exit code, nothing changed.
        const agents = agentsOfLab(lab).sort();
        assertOneLine(
          hg(["lab", "start-agent", h3, "--name", lab]),
          1,
          new RegExp(`the agent of ${h3} already runs \\(pid ${pid}\\)`),
        );
        assertOneLine(
          hg(["lab", "start-agent", h2, "--name", lab]),
          2,
          new RegExp(`lab ${lab} has no host "${h2}": expected one of ${h1}, ${h3}, ${h5}`),
        );
        assertOneLine(hg(["lab", "start-agent", "--name", lab]), 2, /missing required argument/);
        assertOneLine(
          hg(["lab", "up", "--nodes", "3", "--agent", "--ttl", "90", "--name", lab]),
          1,
          new RegExp(`lab ${lab}'s agents run with --ttl 30: "hg lab down" first`),
        );
        assert.deepEqual(agentsOfLab(lab).sort(), agents);
        assert.deepEqual(hostsOf(lab), [h1, h3, h5]);
      },
      "etcd",
      true,
      ["--ttl", "30"],
    );
  });

  it("bad --ttl, start-agent in no lab, and where no agents run: one line, exit 2 or 1, nothing made", async () => {
    const fresh = labName();
    for (
      const [args, code, what] of [
        [["--agent", "--ttl", "0"], 2, /--ttl "0" is not valid: expected a whole number 3-86400/],
        [["--agent", "--ttl", "2"], 2, /--ttl "2" is not valid/],
        [["--agent", "--ttl", "1m"], 2, /--ttl "1m" is not valid/],
        [["--ttl", "30"], 2, /--ttl 30 is the agents' lease TTL: it needs --agent/],
        [["--store", "file", "--ttl", "30"], 2, /it needs --agent/],
      ] as const
    ) {
      assertOneLine(hg(["lab", "up", "--name", fresh, ...args]), code, what);
    }
    assertOneLine(
      hg(["lab", "start-agent", `${fresh}-h1`, "--name", fresh]),
      2,
      new RegExp(`no lab named ${fresh}: "hg lab up --name ${fresh}" builds one`),
    );
    assert.deepEqual(netnsList().filter((ns) => ns.startsWith(`${fresh}-`)), []);
    await withLab(1, (lab) => {
      assertOneLine(
        hg(["lab", "start-agent", `${lab}-h1`, "--name", lab]),
        1,
        new RegExp(`lab ${lab} runs no agents: start-agent needs a lab made with --agent`),
      );
      assert.deepEqual(agentsOfLab(lab), []);
    });
  });
});
