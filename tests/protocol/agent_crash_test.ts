/**
 * An agent killed (SIGKILL) while it follows a burst of registry changes, as a crash or the OOM
 * killer would stop it: at the first moment it holds its host's lock, that is while it changes
 * the host (one watch event and one `ip -batch` per lease). Real etcd, real agents. Afterwards
 * the host lock it left is no obstacle (`hg netns add` there succeeds at once), and the agent
 * started again routes every lease of the registry and nothing else, through any partial change
 * the killed one left behind.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { describe, it } from "node:test";
import {
  bridgeSubnetOf,
  hg,
  hgIn,
  hgRouteDestinations,
  labEtcdctl,
  within,
  withLab,
} from "../e2e/harness.ts";
import { isRunning } from "../../lib/exec/daemon.ts";

const PREFIX = "/coreos.com/network/subnets";
const ROUNDS = 3;
const LEASES = 30;

/** Every subnet the registry holds a lease for. */
function leased(lab: string): string[] {
  const r = labEtcdctl(lab, ["get", "--prefix", "--keys-only", PREFIX]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.startsWith(PREFIX))
    .map((k) => k.slice(PREFIX.length + 1).replace("-", "/")).sort();
}

describe("an agent killed while it changes its host (e2e, root, real etcd)", () => {
  it("SIGKILLed holding the host lock amid a burst of leases: the lock is taken over, the agent started again routes them all", async () => {
    await withLab(
      2,
      async (lab) => {
        const h1 = `${lab}-h1`;
        const pidFile = `/run/hg/lab-${lab}/${h1}.agent.pid`;
        // The agent's host lock: its host is its network namespace, named by the inode.
        const lock = `/run/hg/host-${statSync(`/run/netns/${h1}`).ino}.lock`;
        const mine = bridgeSubnetOf(h1);
        // Free subnets for the peers (the agents leased theirs at random in 1.1.0.0/16).
        const taken = new Set(leased(lab));
        const free = Array.from({ length: 250 }, (_, i) => `1.1.${i + 3}.0/24`)
          .filter((s) => !taken.has(s));
        for (let round = 0; round < ROUNDS; round++) {
          const pid = Number(readFileSync(pidFile, "utf8"));
          assert.ok(isRunning(pid), `round ${round}: the agent runs`);
          await within(5000, () => !existsSync(lock), `round ${round}: the agent idle, unlocked`);
          // Peers as flanneld writes them, on h1's segment (several hosts may share an address).
          const puts = free.slice(round * LEASES, (round + 1) * LEASES).map((subnet, i) => {
            const value = JSON.stringify({
              PublicIP: `10.0.12.${100 + i}`,
              BackendType: "host-gw",
            });
            const key = `${PREFIX}/${subnet.replace("/", "-")}`;
            return `etcdctl --endpoints=http://10.0.12.2:2379 put ${key} '${value}'`;
          });
          const writer = spawn("nsenter", [
            `--net=/run/netns/${lab}-ul`,
            "sh",
            "-c",
            puts.join("\n"),
          ], {
            env: { ...process.env, ETCDCTL_API: "3" },
            stdio: "ignore",
          });
          const wrote = new Promise((resolve) => writer.on("exit", resolve));
          // Looked for without yielding: the lock is held for a few milliseconds per change.
          const deadline = Date.now() + 10_000;
          while (!existsSync(lock) && Date.now() < deadline) { /* spin */ }
          assert.ok(existsSync(lock), `round ${round}: the agent took its host lock for a change`);
          process.kill(pid, "SIGKILL");
          await within(5000, () => !isRunning(pid), "the killed agent gone");
          assert.equal(await wrote, 0, "every lease written");

          // The lock of a dead holder on this host is taken over at once.
          const added = hgIn(h1, ["netns", "add", `${h1}-k${round}`]);
          assert.equal(added.code, 0, added.stderr);

          const start = hg(["lab", "start-agent", h1, "--name", lab]);
          assert.equal(start.code, 0, start.stderr);
          const want = JSON.stringify(leased(lab).filter((s) => s !== mine));
          await within(
            10_000,
            () => JSON.stringify(hgRouteDestinations(h1).sort()) === want,
            `round ${round}: h1 routes every peer lease and nothing else`,
          );
          assert.equal(bridgeSubnetOf(h1), mine, "the host keeps its subnet");
        }
      },
      "etcd",
      true,
    );
  });
});
