/**
 * Agents while the registry is away: etcd stopped (SIGSTOP) for 10 s while containers ping each
 * other: no ping is lost (the agents keep every route), the agents say the registry is
 * unreachable, and catch up when it returns.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { hgIn, withLab } from "./harness.ts";

const status = (host: string) => JSON.parse(hgIn(host, ["status", "--json"]).stdout);

describe("agents during a registry outage (e2e, root)", () => {
  it("etcd stopped for 10 s: no ping lost, and the agents catch up", async () => {
    await withLab(
      2,
      async (lab) => {
        const etcdPid = JSON.parse(readFileSync(`/run/hg/lab-${lab}/registry.json`, "utf8"))
          .etcdPid as number;
        const target = status(`${lab}-h2`).containers[0].address.split("/")[0];
        // 24 pings, one every 0.5 s: they run across the whole outage.
        const ping = spawn("nsenter", [
          `--net=/run/netns/${lab}-h1-c1`,
          "ping",
          "-n",
          "-c",
          "24",
          "-i",
          "0.5",
          "-W",
          "1",
          target,
        ], {
          stdio: ["ignore", "pipe", "ignore"],
        });
        let out = "";
        ping.stdout.on("data", (d) => out += d);
        const done = new Promise((r) => ping.on("close", r));
        await new Promise((r) => setTimeout(r, 500));
        process.kill(etcdPid, "SIGSTOP");
        try {
          await new Promise((r) => setTimeout(r, 10_000));
          assert.equal(
            status(`${lab}-h1`).agent.storeReachable,
            false,
            "the agent noticed the outage",
          );
        } finally {
          process.kill(etcdPid, "SIGCONT");
        }
        await done;
        assert.match(out, / 0% packet loss/, out);
        const deadline = Date.now() + 10_000;
        while (!status(`${lab}-h1`).agent.storeReachable) {
          assert.ok(Date.now() < deadline, "the agent sees the registry again");
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      "etcd",
      true,
    );
  });
});
