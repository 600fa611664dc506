/**
 * What an agent does between changes, counted from outside: the agent runs with `ip` and
 * `iptables` on its PATH replaced by wrappers that log each start and run the real program.
 * Idle, it starts none; a poisoned lease written to the registry (a change that routes nothing)
 * is reported without reading the host; and it still repairs a route deleted by hand and routes a
 * new lease within 2 s, without a failed sync.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  hgRouteDestinations,
  hostStatus,
  labEtcdctl,
  run,
  spawnLabAgent,
  within,
  withLab,
} from "../e2e/harness.ts";

describe("an idle agent (e2e, root)", () => {
  it("starts no process while nothing changes, and still repairs and follows", async () => {
    await withLab(2, async (lab) => {
      const h1 = `${lab}-h1`;
      const dir = mkdtempSync(join(tmpdir(), "hg-agent-idle-"));
      const log = join(dir, "spawns.log");
      writeFileSync(log, "");
      for (const tool of ["ip", "iptables"]) {
        const real = run("sh", ["-c", `command -v ${tool}`]).stdout.trim();
        writeFileSync(
          join(dir, tool),
          `#!/bin/sh\necho "${tool} $*" >> "${log}"\nexec ${real} "$@"\n`,
          { mode: 0o755 },
        );
      }
      const spawns = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
      const agent = spawnLabAgent(lab, { ...process.env, PATH: `${dir}:${process.env.PATH}` });
      let stderr = "";
      agent.stderr.on("data", (d) => stderr += d);
      const exited = new Promise<number | null>((r) => agent.on("close", r));
      try {
        await within(5000, () => hostStatus(h1).agent?.lastSync != null, "the agent is running");
        assert.ok(
          spawns().some((l) => l.startsWith("ip ") && l.includes("monitor")),
          spawns().join("\n"),
        );
        // Settled: a lab just built still changes (IPv6 addresses leave "tentative", their
        // routes come), and the agent looks at each change; wait for 2 s without one.
        let settled = spawns().length;
        for (let quiet = 0, waited = 0; quiet < 2000; quiet += 250, waited += 250) {
          assert.ok(waited < 20_000, `settles: ${spawns().slice(-6).join("; ")}`);
          await new Promise((r) => setTimeout(r, 250));
          if (spawns().length !== settled) [settled, quiet] = [spawns().length, -250];
        }
        await new Promise((r) => setTimeout(r, 3000));
        assert.deepEqual(spawns().slice(settled), [], "idle: no process started");

        // A change of the registry that routes nothing: reported, the host not read again.
        const put = (key: string, value: string) =>
          labEtcdctl(lab, ["put", `/coreos.com/network/subnets/${key}`, value]);
        assert.equal(
          put("9.9.9.0-24", '{"PublicIP":"10.0.12.12","BackendType":"host-gw"}').code,
          0,
        );
        await within(2000, () => hostStatus(h1).agent.refused.length === 1, "the lease refused");
        assert.deepEqual(spawns().slice(settled), [], "refused from what it had observed");

        // A route deleted by hand comes back; a new lease is routed.
        const peer = hgRouteDestinations(h1)[0];
        assert.equal(run("ip", ["-n", h1, "route", "del", peer]).code, 0);
        await within(
          2000,
          () => hgRouteDestinations(h1).includes(peer),
          "the deleted route is back",
        );
        const subnet = "1.1.77.0/24";
        assert.equal(
          put("1.1.77.0-24", '{"PublicIP":"10.0.12.13","BackendType":"host-gw"}').code,
          0,
        );
        await within(
          2000,
          () => hgRouteDestinations(h1).includes(subnet),
          "the new lease is routed",
        );
        await new Promise((r) => setTimeout(r, 500));
        assert.doesNotMatch(stderr, /sync failed/);
      } finally {
        process.kill(agent.pid!, "SIGTERM");
        await exited;
        rmSync(dir, { recursive: true, force: true });
      }
    }, "etcd");
  });
});
