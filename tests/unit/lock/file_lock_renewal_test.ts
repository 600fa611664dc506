/**
 * The lock on shared storage: its holder renews it (its mtime) while it holds it, and a lock of
 * another host is judged by the time since its last renewal, never by this host's PIDs. Real
 * files in a temp directory; the other host is played by a timer that renews a lock line naming
 * another boot and host, with a short bound instead of 20 s so that the tests stay fast.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LockBusyError, withFileLock } from "../../../lib/lock/file_lock.ts";
import { lockHostName } from "../../../lib/lock/host.ts";
import { formatLockOwner, parseLockOwner } from "../../../lib/lock/owner.ts";
import { RENEW_MS } from "../../../lib/lock/staleness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-lock-renewal-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let serial = 0;
const freshPath = () => join(dir, `l${++serial}.lock`);

/** A PID that no process has here (one that ran and exited): the other host's PID means nothing. */
function deadPid(): number {
  const r = spawnSync("true");
  assert.ok(r.pid > 0);
  return r.pid;
}

/** The line another host's holder writes: its own boot, PID namespace and host name. */
const otherHost = () =>
  formatLockOwner({
    pid: deadPid(),
    token: "00112233445566ff",
    startTime: "4242",
    scope: "aaaaaaaa-0000-0000-0000-000000000000/4026531836",
    host: "node-b",
  });

/**
 * Plays the other host's holder: renews `path` every `everyMs` until stopped, with a clock
 * `behindMs` behind this one.
 */
function renewer(path: string, everyMs: number, behindMs = 0): { stop(): number; last(): number } {
  let last = Date.now();
  const timer = setInterval(() => {
    last = Date.now();
    const now = new Date(last - behindMs);
    utimesSync(path, now, now);
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return last;
    },
    last: () => last,
  };
}

const BOUND = 300;

/** What waiting six bounds for `path`, with BOUND as the foreign staleness bound, threw. */
async function waitForForeignLock(path: string): Promise<unknown> {
  try {
    await withFileLock(path, () => Promise.resolve(), {
      timeoutMs: BOUND * 6,
      foreignStaleMs: BOUND,
    });
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("lock renewal (shared storage)", () => {
  it("a lock held long by this process is renewed: its mtime moves, its line does not", async () => {
    const path = freshPath();
    let line = "";
    await withFileLock(path, async (lock) => {
      line = readFileSync(path, "utf8");
      const hourAgo = (Date.now() - 3_600_000) / 1000;
      utimesSync(path, hourAgo, hourAgo); // as if last renewed an hour ago
      await sleep(RENEW_MS * 1.5);
      const age = Date.now() - statSync(path).mtimeMs;
      assert.ok(age < RENEW_MS * 1.5, `renewed while held (mtime ${age} ms ago)`);
      assert.equal(readFileSync(path, "utf8"), line, "the owner line is unchanged");
      assert.ok(await lock.stillHeld());
    });
    assert.equal(parseLockOwner(line)?.host, lockHostName(), "the line names this host");
    assert.ok(!existsSync(path), "released: no lock left");
  });

  it("renews at the pace asked for, and stops once the lock is no longer its own", async () => {
    const path = freshPath();
    await withFileLock(path, async () => {
      const first = statSync(path).mtimeMs;
      await sleep(250);
      assert.ok(statSync(path).mtimeMs > first, "renewed within a few periods");
      // Someone took the lock over (as a stale one): the old holder must not renew theirs.
      rmSync(path);
      writeFileSync(path, otherHost());
      const theirs = (Date.now() - 60_000) / 1000;
      utimesSync(path, theirs, theirs);
      await sleep(250);
      assert.ok(Date.now() - statSync(path).mtimeMs > 50_000, "another's lock left untouched");
    }, { renewMs: 40 });
    assert.ok(existsSync(path), "another's lock is not removed on release");
  });

  it("another host's lock kept renewed for many times the bound is never taken over", async () => {
    const path = freshPath();
    const line = otherHost();
    writeFileSync(path, line);
    const holder = renewer(path, 50);
    try {
      const start = Date.now();
      const error = await waitForForeignLock(path);
      assert.ok(Date.now() - start >= BOUND * 6, "waited the whole time");
      assert.ok(error instanceof LockBusyError, String(error));
      assert.match(error.message, /another process \(pid \d+ on node-b\) holds/);
      assert.equal(readFileSync(path, "utf8"), line, "the other host still holds it");
    } finally {
      holder.stop();
    }
  });

  it("another host whose clock is a minute behind (renewals look old) is still seen renewing", async () => {
    const path = freshPath();
    const line = otherHost();
    writeFileSync(path, line);
    const behind = new Date(Date.now() - 60_000);
    utimesSync(path, behind, behind);
    const holder = renewer(path, 50, 60_000);
    try {
      const error = await waitForForeignLock(path);
      assert.ok(error instanceof LockBusyError, String(error));
      assert.equal(readFileSync(path, "utf8"), line, "the other host still holds it");
    } finally {
      holder.stop();
    }
  });

  it("another host's lock whose renewals stop is taken over once the bound has passed", async () => {
    const path = freshPath();
    writeFileSync(path, otherHost());
    const holder = renewer(path, 50);
    setTimeout(() => holder.stop(), BOUND * 2);
    let takenAt = 0;
    await withFileLock(path, (lock) => {
      takenAt = Date.now();
      return lock.stillHeld().then((held) => assert.ok(held));
    }, { timeoutMs: 10_000, foreignStaleMs: BOUND });
    const lastRenewal = holder.stop();
    assert.ok(takenAt >= lastRenewal + BOUND, "not taken over while renewed, nor before the bound");
    assert.ok(!existsSync(path));
  });

  it("the same line on this host (same boot and PID namespace) is judged by its PID at once", async () => {
    const path = freshPath();
    const other = parseLockOwner(otherHost())!;
    // A dead PID of this very kernel: no waiting for a bound, host name or not.
    writeFileSync(path, formatLockOwner({ ...other, scope: undefined, host: lockHostName() }));
    // Within 5 s although the foreign bound is 60 s: the PID decided.
    await withFileLock(path, () => Promise.resolve(), { timeoutMs: 5_000, foreignStaleMs: 60_000 });
    assert.ok(!existsSync(path));
  });
});
