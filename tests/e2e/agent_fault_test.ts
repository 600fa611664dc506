/**
 * Agents while the registry is away: etcd stopped (SIGSTOP) for 10 s while containers ping each
 * other: no ping is lost (the agents keep every route), the agents say the registry is
 * unreachable, and catch up when it returns; a host started during the outage is routed by
 * every host once etcd is back.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { hgArgv, hgIn, withLab } from "./harness.ts";

const status = (host: string) => JSON.parse(hgIn(host, ["status", "--json"]).stdout);

describe("agents during a registry outage (e2e, root)", () => {
  it("etcd stopped for 10 s: no ping lost, the agents catch up, a host started meanwhile is routed", async () => {
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
            status(`${lab}-h1`).agent.storeReachable,
            false,
            "the agent noticed the outage",
          );
        } finally {
          process.kill(etcdPid, "SIGCONT");
        }
        await done;
        assert.match(out, / 0% packet loss/, out);
        assert.equal(await joined, 0, "the host that started during the outage came up after it");
        const subnet3 = status(`${lab}-h3`).bridge.subnet;
        for (const h of [`${lab}-h1`, `${lab}-h2`]) {
          const peers = status(h).peers as { subnet: string }[];
          assert.ok(peers.some((p) => p.subnet === subnet3), `${h} routes to the new host`);
        }
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
