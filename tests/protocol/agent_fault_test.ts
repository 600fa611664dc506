/**
 * Agents while the registry is away: etcd stopped (SIGSTOP) for 10 s while containers ping each
 * other: no ping is lost (the agents keep every route), the agents say the registry is
 * unreachable (their renewals, every 2 s with a 6 s TTL, get no answer), and catch up when it
 * returns; a host started during the outage is routed by every host once etcd is back. etcd
 * revokes both hosts' leases when it runs again (their TTL passed): no agent deletes its peer's
 * route meanwhile (lib/agent/lease_grace.ts), which the pings alone would catch in only about
 * one run in five. A 3-member etcd whose member the agents talk to is killed: the agents fail
 * over to another member, keep following the registry (a lease written there becomes a route
 * within a second and goes when it is released) and a new host joins.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  containerIp,
  hg,
  hgArgv,
  hgIn,
  hostStatus,
  pingRun,
  within,
  withLab,
} from "../e2e/harness.ts";

const labRegistry = (lab: string) =>
  JSON.parse(readFileSync(`/run/hg/lab-${lab}/registry.json`, "utf8")) as {
    url: string;
    etcdPids: number[];
  };
const peerSubnets = (host: string) =>
  (hostStatus(host).peers as { subnet: string }[]).map((p) => p.subnet);

describe("agents during a registry outage (e2e, root)", () => {
  it("etcd stopped for 10 s: no ping lost, the agents catch up, a host started meanwhile is routed", async () => {
    await withLab(
      2,
      async (lab) => {
        const etcdPid = labRegistry(lab).etcdPids[0];
        const target = containerIp(`${lab}-h2`);
        // 24 pings, one every 0.5 s: they run across the whole outage.
        const done = pingRun(`${lab}-h1-c1`, target, 24, "0.5");
        await new Promise((r) => setTimeout(r, 500));
        process.kill(etcdPid, "SIGSTOP");
        let joined: Promise<number | null> | undefined;
        try {
          await new Promise((r) => setTimeout(r, 1000));
          // A third host starts while the registry is away: its agent keeps trying.
          const [cmd, ...rest] = hgArgv();
          joined = new Promise((r) =>
            spawn(cmd, [...rest, "lab", "add-node", "--name", lab], { stdio: "ignore" }).on(
              "close",
              r,
            )
          );
          await new Promise((r) => setTimeout(r, 9000));
          assert.equal(
            hostStatus(`${lab}-h1`).agent.storeReachable,
            false,
            "the agent noticed the outage",
          );
        } finally {
          process.kill(etcdPid, "SIGCONT");
        }
        const out = await done;
        assert.match(out, / 0% packet loss/, out);
        for (const h of [`${lab}-h1`, `${lab}-h2`]) {
          const log = readFileSync(`/run/hg/lab-${lab}/${h}.agent.log`, "utf8");
          assert.doesNotMatch(log, /route del/, `${h} kept its peer's route:\n${log}`);
        }
        assert.equal(await joined, 0, "the host that started during the outage came up after it");
        const subnet3 = hostStatus(`${lab}-h3`).bridge.subnet;
        for (const h of [`${lab}-h1`, `${lab}-h2`]) {
          assert.ok(peerSubnets(h).includes(subnet3), `${h} routes to the new host`);
        }
        const deadline = Date.now() + 10_000;
        while (!hostStatus(`${lab}-h1`).agent.storeReachable) {
          assert.ok(Date.now() < deadline, "the agent sees the registry again");
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      "etcd",
      true,
      ["--ttl", "6"],
    );
  });
});

describe("agents on a 3-member etcd (e2e, root)", () => {
  it("the member the agents talk to is killed: they fail over and keep following the registry", async () => {
    await withLab(
      2,
      async (lab) => {
        const hosts = [`${lab}-h1`, `${lab}-h2`];
        const { url, etcdPids } = labRegistry(lab);
        const endpoints = url.slice("etcd://".length).split(",");
        assert.equal(etcdPids.length, 3);
        const target = containerIp(hosts[1]);
        const done = pingRun(`${lab}-h1-c1`, target, 10, "0.3");
        await new Promise((r) => setTimeout(r, 500));
        // Every agent starts on the first endpoint: that member goes, for good.
        process.kill(etcdPids[0], "SIGKILL");
        await new Promise((r) => setTimeout(r, 1000));

        // A lease written through another member reaches every host's routes faster than the
        // agents' 5 s re-list could: their watches moved to a live member.
        const others = `etcd://${endpoints.slice(1).join(",")}`;
        const alloc = hgIn(hosts[0], [
          "subnet",
          "alloc",
          "--store",
          others,
          "--node",
          "ghost",
          "--public-ip",
          "10.0.12.99",
          "--json",
        ]);
        assert.equal(alloc.code, 0, alloc.stderr);
        const ghost = JSON.parse(alloc.stdout).subnet as string;
        for (const h of hosts) {
          await within(1500, () => peerSubnets(h).includes(ghost), `${h} routes to ${ghost}`);
        }
        const release = hgIn(hosts[0], ["subnet", "release", ghost, "--store", others]);
        assert.equal(release.code, 0, release.stderr);
        for (const h of hosts) {
          await within(1500, () => !peerSubnets(h).includes(ghost), `${h} drops ${ghost}`);
        }

        // A new host, whose agent also tries the dead member first, joins and is routed.
        const add = hg(["lab", "add-node", "--name", lab]);
        assert.equal(add.code, 0, add.stderr);
        const subnet3 = hostStatus(`${lab}-h3`).bridge.subnet;
        for (const h of hosts) assert.ok(peerSubnets(h).includes(subnet3), `${h} routes to h3`);

        const out = await done;
        assert.match(out, / 0% packet loss/, out);
        for (const h of hosts) {
          assert.equal(hostStatus(h).agent.storeReachable, true);
          const log = readFileSync(`/run/hg/lab-${lab}/${h}.agent.log`, "utf8");
          assert.match(log, /watch interrupted/, "the agent saw its watch break");
          assert.doesNotMatch(log, /registry unreachable/, "a failover is not an outage");
        }
      },
      "etcd",
      true,
      ["--etcd-members", "3"],
    );
  });
});
