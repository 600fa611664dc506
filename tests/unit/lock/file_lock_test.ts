/**
 * withFileLock on a real file system (a temp directory): which lock files left behind it takes
 * over and how fast, which it leaves alone, and that it leaves nothing of its own behind.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LockBusyError, withFileLock } from "../../../lib/lock/file_lock.ts";
import { formatLockOwner } from "../../../lib/lock/owner.ts";
import { thisProcess } from "../../../lib/exec/process_state.ts";
import { UNPARSABLE_GRACE_MS } from "../../../lib/lock/staleness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-lock-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;
/** A fresh lock path, with `content` already in it (as a crashed or foreign writer left it). */
function leftBehind(content: string | undefined, ageMs = 0): string {
  const path = join(dir, `l${++serial}.lock`);
  if (content !== undefined) {
    writeFileSync(path, content);
    const then = (Date.now() - ageMs) / 1000;
    utimesSync(path, then, then);
  }
  return path;
}

/** A PID that no process has (one that ran and exited). */
function deadPid(): number {
  const r = spawnSync("true");
  assert.ok(r.pid > 0);
  return r.pid;
}

/** Takes the lock with a short timeout; how long it took, or the error. */
async function take(path: string, timeoutMs = 600): Promise<{ ms: number; error?: unknown }> {
  const start = Date.now();
  try {
    await withFileLock(path, async (lock) => {
      assert.ok(await lock.stillHeld());
    }, timeoutMs);
    return { ms: Date.now() - start };
  } catch (error) {
    return { ms: Date.now() - start, error };
  }
}

const TOKEN = "00112233445566ff";
const me = thisProcess();

describe("withFileLock against lock files left behind (real files)", () => {
  it("leaves a lock being written right now (empty, fresh) alone", async () => {
    const path = leftBehind("");
    const r = await take(path);
    assert.ok(r.error instanceof LockBusyError, String(r.error));
    assert.equal(readFileSync(path, "utf8"), "", "not removed");
  });

  it("takes over an empty lock once it is older than the grace, and leaves nothing behind", async () => {
    const path = leftBehind("", UNPARSABLE_GRACE_MS + 1000);
    const r = await take(path);
    assert.equal(r.error, undefined);
    assert.ok(r.ms < 500, `${r.ms} ms`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(path.split("/").pop()!)), []);
  });

  it("waits out the grace on an empty lock nobody writes, then takes it over", async () => {
    const path = leftBehind("");
    const r = await take(path, 10_000);
    assert.equal(r.error, undefined);
    assert.ok(r.ms >= UNPARSABLE_GRACE_MS - 50 && r.ms < UNPARSABLE_GRACE_MS + 1500, `${r.ms} ms`);
  });

  it("takes over garbled and foreign content once old", async () => {
    for (const content of ["\0\0\0\0", "locked by alice\n", `${process.pid} ${TOKEN}`]) {
      const young = leftBehind(content);
      assert.ok((await take(young, 300)).error instanceof LockBusyError, JSON.stringify(content));
      const old = leftBehind(content, 10_000);
      assert.equal((await take(old)).error, undefined, JSON.stringify(content));
      assert.ok(!existsSync(old));
    }
  });

  it("takes over at once a lock whose PID now belongs to another process (PID reuse)", async () => {
    assert.ok(me.startTime, "this test needs /proc");
    const reused = formatLockOwner({
      ...me,
      token: TOKEN,
      startTime: String(Number(me.startTime) + 1),
    });
    const r = await take(leftBehind(reused));
    assert.equal(r.error, undefined);
    assert.ok(r.ms < 500, `${r.ms} ms`);
  });

  it("leaves a live owner's lock alone, in the current and the older form", async () => {
    for (const content of [formatLockOwner({ ...me, token: TOKEN }), `${process.pid} ${TOKEN}\n`]) {
      const path = leftBehind(content, 60_000);
      const r = await take(path);
      assert.ok(r.error instanceof LockBusyError, String(r.error));
      assert.match(String((r.error as Error).message), new RegExp(`pid ${process.pid}`));
      assert.equal(readFileSync(path, "utf8"), content);
    }
  });

  it("takes over a dead owner's lock at once, in the older form too", async () => {
    for (
      const content of [
        formatLockOwner({ pid: deadPid(), token: TOKEN }),
        `${deadPid()} ${TOKEN}\n`,
      ]
    ) {
      const r = await take(leftBehind(content));
      assert.equal(r.error, undefined, content);
      assert.ok(r.ms < 500, `${r.ms} ms`);
    }
  });

  it("judges a lock of another machine or boot by age, not by this machine's PIDs", async () => {
    const foreign = formatLockOwner({ pid: deadPid(), token: TOKEN, scope: "aaaa-bbbb/1" });
    assert.ok((await take(leftBehind(foreign), 300)).error instanceof LockBusyError);
    // An old one is taken over once seen unchanged for a while (its holder would have renewed
    // it); a bound of 1 s watches for 1 s instead of FOREIGN_WATCH_MS, to keep the test short.
    const start = Date.now();
    await withFileLock(leftBehind(foreign, 60_000), () => Promise.resolve(), {
      timeoutMs: 4_000,
      foreignStaleMs: 1_000,
    });
    assert.ok(Date.now() - start >= 1_000, "watched before taking it over");
  });

  it("clears a takeover guard left by a cleaner that died, with the stale lock it was clearing", async () => {
    const path = leftBehind(formatLockOwner({ pid: deadPid(), token: TOKEN }));
    writeFileSync(`${path}.takeover`, formatLockOwner({ pid: deadPid(), token: TOKEN }));
    const r = await take(path);
    assert.equal(r.error, undefined);
    assert.ok(!existsSync(path) && !existsSync(`${path}.takeover`));
  });

  it("a holder clears a dead cleaner's guard it finds, even with no stale lock around", async () => {
    const path = leftBehind(undefined);
    writeFileSync(`${path}.takeover`, "");
    utimesSync(`${path}.takeover`, 1, 1);
    assert.equal((await take(path)).error, undefined);
    assert.ok(!existsSync(`${path}.takeover`));
  });

  it("writes its owner line after the afterCreate point, and removes the lock when done", async () => {
    const path = leftBehind(undefined);
    let during = "";
    await withFileLock(path, async (lock) => {
      assert.ok(await lock.stillHeld());
      assert.match(readFileSync(path, "utf8"), new RegExp(`^${process.pid} [0-9a-f]{16} \\d+ `));
    }, {
      afterCreate: () => {
        during = readFileSync(path, "utf8");
        return undefined;
      },
    });
    assert.equal(during, "", "created empty, written after the hook");
    assert.ok(!existsSync(path));
  });
});
