/**
 * Agents and their leases under registry faults, with real etcd, real agents and a container
 * pinging across hosts all along:
 * - etcd stopped (SIGSTOP) for twice the TTL: no agent exits, every host keeps its subnet, and
 *   pings are lost only around the moment the leases really ran out (they did: the agents say
 *   they claimed them again);
 * - claim and renewal answers delayed past the client's timeout by a proxy in front of etcd:
 *   the leases survive, no ping is lost, and a claim answered late is the host's one lease;
 * - an agent killed (SIGKILL), its TTL waited out, and started again: the same subnet, routed
 *   by the other host within 5 s;
 * - etcd killed and started again with its data wiped: the agents write the network config and
 *   their leases back, and a new host joins.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  hg,
  hgArgv,
  hgIn,
  hgRouteDestinations,
  pingRun,
  pings,
  scriptArgv,
  within,
  withLab,
} from "../e2e/harness.ts";
import { isRunning } from "../../lib/exec/daemon.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REGISTRY = "etcd://10.0.12.2:2379";

interface LeaseRow {
  subnet: string;
  node?: string;
}

/** The registry as `hg subnet ls --json` shows it (run in a lab host, which reaches etcd). */
function registry(host: string): { config: unknown; leases: LeaseRow[] } {
  const listed = registryIfUp(host);
  assert.ok(listed, `${REGISTRY} does not answer`);
  return listed;
}

/** {@link registry}, or undefined while etcd does not answer (it is starting again). */
function registryIfUp(host: string): { config: unknown; leases: LeaseRow[] } | undefined {
  const r = hgIn(host, ["subnet", "ls", "--store", REGISTRY, "--json"]);
  if (r.code !== 0 && /etcd is unavailable/.test(r.stderr)) return undefined;
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** node -> subnet of every lease. */
function leasesByNode(host: string): Record<string, string> {
  return Object.fromEntries(registry(host).leases.map((l) => [l.node ?? "?", l.subnet]));
}

const labDir = (lab: string) => `/run/hg/lab-${lab}`;
const agentPid = (lab: string, host: string) =>
  Number(readFileSync(`${labDir(lab)}/${host}.agent.pid`, "utf8"));
const agentLog = (lab: string, host: string) =>
  readFileSync(`${labDir(lab)}/${host}.agent.log`, "utf8");
const containerAddress = (host: string) =>
  JSON.parse(hgIn(host, ["status", "--json"]).stdout).containers[0].address.split("/")[0];
/** Whether a child process has not exited (a signal's end sets signalCode, not exitCode). */
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
/** How many of the pings in `ping`'s output got no answer. */
const lost = (out: string) => {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert.ok(m, out);
  return Number(m[1]) - Number(m[2]);
};

describe("agent leases under registry faults (e2e, root, real etcd)", () => {
  it("etcd stopped for twice the TTL: no agent exits, every host keeps its subnet", async () => {
    const ttl = 3;
    await withLab(
      2,
      async (lab) => {
        const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
        const before = leasesByNode(h1);
        const pids = [h1, h2].map((h) => agentPid(lab, h));
        const etcd = JSON.parse(readFileSync(`${labDir(lab)}/registry.json`, "utf8")).etcdPids[0];
        // A ping every 0.2 s from before the stall to well after it.
        const done = pingRun(`${lab}-h1-c1`, containerAddress(h2), 60, "0.2");
        await sleep(1000);
        process.kill(etcd, "SIGSTOP");
        try {
          await sleep(2 * ttl * 1000);
        } finally {
          process.kill(etcd, "SIGCONT");
        }
        const out = await done;
        for (const [i, h] of [h1, h2].entries()) {
          assert.ok(isRunning(pids[i]), `the agent of ${h} still runs`);
          const log = agentLog(lab, h);
          assert.doesNotMatch(log, /LEASE LOST/);
          // The lease really ran out while etcd was away, and was claimed back by its owner.
          assert.match(log, /had run out: claimed it again/, log);
        }
        await within(
          5000,
          () => JSON.stringify(leasesByNode(h1)) === JSON.stringify(before),
          "the same subnets",
        );
        await within(
          5000,
          () => hgRouteDestinations(h1).includes(before[h2]),
          "h1 routes to h2 again",
        );
        // Only the moments when a lease was really gone cost pings: a fraction of a second.
        assert.ok(lost(out) <= 5, `at most 5 of 60 pings lost:\n${out}`);
      },
      "etcd",
      true,
      ["--ttl", String(ttl)],
    );
  });

  it("claim and renewal answers delayed past the timeout: the leases survive", async () => {
    // Renewals every TTL/3; one whose answer never comes costs the client's 3 s timeout.
    const TTL = 8;
    await withLab(2, async (lab) => {
      const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
      const dir = mkdtempSync(join(tmpdir(), "hg-delay-"));
      const children: ChildProcess[] = [];
      const viaProxy = "etcd://10.0.12.2:23790";
      const controlFile = join(dir, "delay.json");
      const control = (body: unknown) => writeFileSync(controlFile, JSON.stringify(body));
      const delayed = () => Number(readFileSync(`${controlFile}.delayed`, "utf8"));
      const startAgent = (host: string, index: number) => {
        const log = openSync(join(dir, `${host}.log`), "a");
        const child = spawn("nsenter", [
          `--net=/run/netns/${host}`,
          "--",
          ...hgArgv(),
          "agent",
          "--store",
          viaProxy,
          "--node",
          host,
          "--public-ip",
          `10.0.12.${10 + index}`,
          "--subnet-file",
          join(dir, `${host}.env`),
          "--ttl",
          String(TTL),
        ], { stdio: ["ignore", log, log] });
        children.push(child);
        return child;
      };
      const synced = (host: string) =>
        JSON.parse(hgIn(host, ["status", "--json"]).stdout).agent?.lastSync != null;
      try {
        const proxy = spawn("nsenter", [
          `--net=/run/netns/${lab}-ul`,
          ...scriptArgv("tests/support/delay_proxy.ts"),
          "10.0.12.2:23790",
          "http://10.0.12.2:2379",
          controlFile,
        ], { stdio: "ignore" });
        children.push(proxy);
        await within(
          10_000,
          () => hgIn(h1, ["subnet", "ls", "--store", viaProxy]).code === 0,
          "the proxy up",
        );
        const agents = [startAgent(h1, 1), startAgent(h2, 2)];
        for (const h of [h1, h2]) await within(15_000, () => synced(h), `${h}'s agent synced`);
        const before = leasesByNode(h1);
        assert.deepEqual(Object.keys(before).sort(), [h1, h2]);

        // Every renewal's answer comes 4 s late (the client gives up after 3 s), for 1.5 TTLs.
        const done = pingRun(`${lab}-h1-c1`, containerAddress(h2), 60, "0.2");
        control({ paths: ["/v3/kv/txn", "/v3/lease/keepalive"], ms: 4000 });
        const until = Date.now() + 1.5 * TTL * 1000;
        while (Date.now() < until) {
          assert.deepEqual(leasesByNode(h1), before, "both leases there all along");
          await sleep(300);
        }
        control({ paths: [] });
        assert.ok(delayed() > 0, "answers were held back");
        assert.equal(lost(await done), 0, "no ping lost");
        for (const [i, h] of [h1, h2].entries()) {
          assert.ok(running(agents[i]), `the agent of ${h} still runs`);
          const log = readFileSync(join(dir, `${h}.log`), "utf8");
          assert.doesNotMatch(log, /LEASE LOST/);
          assert.match(log, /could not renew the lease of .*, still serving it/, log);
        }

        // A claim answered late: h2 starts again with no lease, and its claim's answer is late.
        agents[1].kill("SIGTERM");
        await new Promise((r) => agents[1].once("exit", r));
        const subnet2 = before[h2];
        const release = hgIn(h1, ["subnet", "release", subnet2, "--store", REGISTRY]);
        assert.equal(release.code, 0, release.stderr);
        control({ paths: ["/v3/kv/txn"], ms: 4000 });
        startAgent(h2, 2);
        // Each late claim costs the client's 3 s timeout and a read-back; the bound leaves room
        // for a loaded 2-core machine (it once took over 20 s there, under the full CI run).
        await within(30_000, () => leasesByNode(h1)[h2] !== undefined, "h2 leased again");
        control({ paths: [] });
        await sleep(4500); // the late answers arrive, and change nothing
        const after = registry(h1).leases.filter((l) => l.node === h2);
        assert.deepEqual(after.map((l) => l.subnet), [subnet2], "one lease, the subnet h2 uses");
        await within(5000, () => hgRouteDestinations(h1).includes(subnet2), "h1 routes to h2");
      } finally {
        for (const child of children) child.kill("SIGTERM");
        await Promise.all(
          children.map((c) => running(c) ? new Promise((r) => c.once("exit", r)) : undefined),
        );
        rmSync(dir, { recursive: true, force: true });
      }
    }, "etcd");
  });

  it("an agent killed, its TTL waited out, and started again: same subnet, routed within 5 s", async () => {
    await withLab(
      2,
      async (lab) => {
        const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
        const subnet2 = leasesByNode(h1)[h2];
        process.kill(agentPid(lab, h2), "SIGKILL");
        await within(10_000, () => leasesByNode(h1)[h2] === undefined, "h2's lease ran out");
        await within(
          2000,
          () => !hgRouteDestinations(h1).includes(subnet2),
          "h1 stopped routing to it",
        );
        const start = hg(["lab", "start-agent", h2, "--name", lab]);
        assert.equal(start.code, 0, start.stderr);
        const took = await within(
          5000,
          () => hgRouteDestinations(h1).includes(subnet2),
          "h1 routes to h2 again",
        );
        assert.equal(leasesByNode(h1)[h2], subnet2, `the same subnet (after ${took} ms)`);
        assert.ok(pings(`${lab}-h1-c1`, containerAddress(h2)));
      },
      "etcd",
      true,
      ["--ttl", "3"],
    );
  });

  it("etcd started again with its data wiped: config and leases back, a new host joins", async () => {
    await withLab(
      2,
      async (lab) => {
        const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
        const before = registry(h1);
        const file = `${labDir(lab)}/registry.json`;
        const lab_ = JSON.parse(readFileSync(file, "utf8"));
        const pid = lab_.etcdPids[0];
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        const dataDir = argv.find((a) => a.startsWith("--data-dir="))!.slice("--data-dir=".length);
        process.kill(pid, "SIGKILL");
        await within(5000, () => !isRunning(pid), "etcd gone");
        rmSync(dataDir, { recursive: true, force: true });
        const log = openSync(`${labDir(lab)}/etcd-restarted.log`, "a");
        const etcd = spawn("nsenter", [`--net=/run/netns/${lab}-ul`, ...argv], {
          detached: true,
          stdio: ["ignore", log, log],
        });
        etcd.unref();
        writeFileSync(file, JSON.stringify({ ...lab_, etcdPids: [etcd.pid] }));
        await within(15_000, () => {
          // The restarted etcd takes a moment to listen (longer on a loaded machine).
          const now = registryIfUp(h1);
          return now !== undefined &&
            JSON.stringify(now.config) === JSON.stringify(before.config) &&
            JSON.stringify(now.leases.map((l) => [l.node, l.subnet]).sort()) ===
              JSON.stringify(before.leases.map((l) => [l.node, l.subnet]).sort());
        }, "the config and both leases back");
        assert.match(
          agentLog(lab, h1) + agentLog(lab, h2),
          /had lost its network config: wrote back/,
        );
        const add = hg(["lab", "add-node", "--name", lab]);
        assert.equal(add.code, 0, add.stderr);
        const h3 = `${lab}-h3`;
        const subnet3 = leasesByNode(h1)[h3];
        assert.ok(subnet3, "the new host has a lease");
        await within(
          5000,
          () =>
            hgRouteDestinations(h1).includes(subnet3) && hgRouteDestinations(h2).includes(subnet3),
          "routed",
        );
        assert.ok(pings(`${lab}-h1-c1`, containerAddress(h3)));
      },
      "etcd",
      true,
    );
  });
});
