/**
 * When lab up gives up on an agent, its message says why as far as the lab can see: whether
 * the agent's process still runs, and the last line it logged. An agent that exited is given up
 * on at once. Real processes and files: a
 * `sleep` that runs, a `true` that has exited, logs written as agents write them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { notSynced, waitForSync } from "../../../lib/lab/convergence.ts";
import { labHost } from "../../../lib/lab/topology.ts";

const dir = mkdtempSync(`${tmpdir()}/hg-wait-sync-`);
// A namespace name no host has: the agent's report is never found, so the wait gives up.
const host = labHost("hgwaitnone", 32);

/** A PID that is certainly gone: a child that exited and was reaped. */
function exitedPid(): number {
  const done = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(done.stdout.trim());
}

describe("lab up's wait for its agents, giving up", () => {
  it("says an agent exited, with the last line it logged", async () => {
    const log = `${dir}/exited.log`;
    writeFileSync(
      log,
      "2026-12-01T17:00:00.000Z INFO  leased 1.1.7.0/24 for h32 via 10.0.12.42\n" +
        "2026-12-01T17:00:01.000Z ERROR the registry refused the claim: lost 1000 races\n\n",
    );
    assert.equal(
      await notSynced({ host, pid: exitedPid(), log }),
      `${host.netns} has not synced (its agent exited; its log ends: ` +
        `2026-12-01T17:00:01.000Z ERROR the registry refused the claim: lost 1000 races)`,
    );
  });

  it("says an agent still runs; an empty or missing log adds nothing", async () => {
    const sleeper = spawn("sleep", ["30"]);
    try {
      const empty = `${dir}/empty.log`;
      writeFileSync(empty, "");
      const pid = sleeper.pid!;
      assert.equal(
        await notSynced({ host, pid, log: empty }),
        `${host.netns} has not synced (its agent runs)`,
      );
      assert.equal(
        await notSynced({ host, pid, log: `${dir}/none.log` }),
        `${host.netns} has not synced (its agent runs)`,
      );
      // An agent the wait did not start (no PID) and no log: nothing more to say.
      assert.equal(await notSynced({ host }), `${host.netns} has not synced`);
    } finally {
      sleeper.kill();
    }
  });

  it("gives up at once, not after its budget, when an agent it started has exited", async () => {
    const log = `${dir}/gone.log`;
    writeFileSync(log, "2026-12-01T17:00:01.000Z ERROR hg: etcd is unavailable\n");
    const sleeper = spawn("sleep", ["30"]);
    try {
      const agents = [
        { host: labHost("hgwaitnone", 1), pid: sleeper.pid!, log },
        { host: labHost("hgwaitnone", 2), pid: exitedPid(), log },
      ];
      const started = Date.now();
      const error = await waitForSync(agents, 60_000).then(() => undefined, (e) => e);
      assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
      // The host whose agent exited is named first, the one still starting after it.
      assert.equal(
        (error as Error).message,
        "gave up waiting for the agents to set their hosts up: hgwaitnone-h2 has not synced " +
          "(its agent exited; its log ends: 2026-12-01T17:00:01.000Z ERROR hg: etcd is " +
          "unavailable); hgwaitnone-h1 has not synced (its agent runs; its log ends: " +
          "2026-12-01T17:00:01.000Z ERROR hg: etcd is unavailable)",
      );
    } finally {
      sleeper.kill();
    }
  });

  it("gives up after its budget with one line naming three hosts and counting the rest", async () => {
    const log = `${dir}/long.log`;
    writeFileSync(log, `2026-12-01T17:00:00.000Z WARN  ${"x".repeat(1000)}\n`);
    const agents = [1, 2, 3, 4, 5].map((n) => ({ host: labHost("hgwaitnone", n), log }));
    const error = await waitForSync(agents, 0, "; see the logs").then(() => undefined, (e) => e);
    assert.ok(error instanceof Error);
    const message = (error as Error).message;
    assert.equal(message.split("\n").length, 1);
    assert.match(message, /^gave up waiting for the agents to set their hosts up: hgwaitnone-h1 /);
    assert.match(
      message,
      /hgwaitnone-h3 has not synced \(its log ends: [^)]*\) \(and 2 more\); see the logs$/,
    );
    // Each named log line is cut, so that three of them still make a readable line.
    assert.ok(message.length < 3 * 400, `${message.length} characters`);
  });
});
