/**
 * Two hosts sharing one registry file, as on NFS: "host B" is hg in a PID namespace and UTS
 * namespace of its own (`unshare --pid --uts`, host name hg-host-b), so its PIDs mean nothing to
 * "host A" (hg in the root namespaces) and its lock names another host, exactly as a lock written
 * by another machine does. A holds no clue about B but the lock file: it must not take over a
 * lock B keeps renewing, however long B holds it, and must take over B's lock once B is dead and
 * the renewals have stopped for 20 s. Real processes, real time (the bound is 20 s).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { thisProcess } from "../../lib/exec/process_state.ts";
import { parseLockOwner } from "../../lib/lock/owner.ts";
import { FOREIGN_STALE_MS } from "../../lib/lock/staleness.ts";
import { hg, hgArgv, type Run } from "../e2e/harness.ts";

const root = mkdtempSync(join(tmpdir(), "hg-hosts-"));
after(() => rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects a child's output and exit code. */
function finished(child: ChildProcess): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => stdout += d);
  child.stderr?.on("data", (d) => stderr += d);
  return new Promise((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }))
  );
}

/**
 * Starts `hg ARGS` on "host B": a new PID, UTS and mount namespace (for its own /proc), host
 * name hg-host-b, killed with the unshare process (--kill-child).
 */
function onHostB(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(
    "unshare",
    [
      "--pid",
      "--uts",
      "--fork",
      "--mount-proc",
      "--kill-child",
      "sh",
      "-c",
      'hostname hg-host-b && exec "$@"',
      "sh",
      ...hgArgv(),
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
}

/** Runs `hg ARGS` on "host A" (this machine's namespaces) in the background. */
function onHostA(args: readonly string[]): Promise<Run> {
  const [cmd, ...rest] = hgArgv();
  return finished(spawn(cmd, [...rest, ...args], { stdio: ["ignore", "pipe", "pipe"] }));
}

/** Waits until the lock `path` is host B's (its PID scope is not ours), and returns its line. */
async function lockedByB(path: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const line = existsSync(path) ? readFileSync(path, "utf8") : "";
    const scope = parseLockOwner(line)?.scope;
    if (scope !== undefined && scope !== thisProcess().scope) return line;
    assert.ok(Date.now() < deadline, `host B never took the lock (${JSON.stringify(line)})`);
    await sleep(20);
  }
}

const registryOf = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const nodes = (path: string) =>
  Object.values(registryOf(path).leases as Record<string, { attrs: { HgNode: string } }>)
    .map((l) => l.attrs.HgNode).sort();

/** A registry with its network configured, in a directory of its own. */
function registry(name: string): { dir: string; path: string } {
  const dir = join(root, name);
  mkdirSync(dir);
  const path = join(dir, "subnets.json");
  const r = hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, path };
}

const alloc = (path: string, node: string, ip: string) => [
  "subnet",
  "alloc",
  "--store",
  path,
  "--node",
  node,
  "--public-ip",
  ip,
];

describe("one registry file, two hosts (PID and UTS namespaces)", () => {
  it("host A waits for as long as host B holds and renews the lock, past the 20 s bound", async () => {
    const { dir, path } = registry("live");
    const holdMs = FOREIGN_STALE_MS + 5_000;
    const b = finished(
      onHostB(alloc(path, "b", "10.0.12.12"), { HG_TEST_HOLD_WRITE: `before-rename:${holdMs}` }),
    );
    const line = await lockedByB(`${path}.lock`);
    const taken = Date.now();
    const a = onHostA(alloc(path, "a", "10.0.12.11"));

    // Past the old bound, B's lock is still B's and fresh: renewed, not taken over.
    await sleep(FOREIGN_STALE_MS + 1_500 - (Date.now() - taken));
    const now = existsSync(`${path}.lock`) ? readFileSync(`${path}.lock`, "utf8") : "(none)";
    assert.equal(now, line, "still B's lock after the bound");
    const age = Date.now() - statSync(`${path}.lock`).mtimeMs;
    assert.ok(age < 5_000, `B renews its lock (last renewal ${age} ms ago)`);

    const [rb, ra] = await Promise.all([b, a]);
    assert.equal(rb.code, 0, `B keeps its lock and commits: ${rb.stderr}`);
    assert.equal(ra.code, 0, `A gets the lock after B: ${ra.stderr}`);
    assert.equal(registryOf(path).revision, 3, "both changes, neither lost");
    assert.deepEqual(nodes(path), ["a", "b"]);
    assert.deepEqual(readdirSync(dir), ["subnets.json"], "no lock or temp file left");
    assert.equal(parseLockOwner(line)?.host, "hg-host-b", "B's lock named B's host");
  });

  it("host A takes over the lock of a dead host B once its renewals have stopped for 20 s", async () => {
    const { dir, path } = registry("dead");
    const child = onHostB(alloc(path, "b", "10.0.12.12"), {
      HG_TEST_HOLD_WRITE: "before-rename:120000",
    });
    const b = finished(child);
    const line = await lockedByB(`${path}.lock`);
    await sleep(1_500); // long enough for a renewal or two
    child.kill("SIGKILL"); // unshare, and with it (--kill-child) hg on host B
    await b;
    const lastRenewal = statSync(`${path}.lock`).mtimeMs;
    assert.equal(readFileSync(`${path}.lock`, "utf8"), line, "B's lock is left behind");

    const ra = await onHostA(alloc(path, "a", "10.0.12.11"));
    const done = Date.now();
    assert.equal(ra.code, 0, ra.stderr);
    assert.ok(
      done - lastRenewal >= FOREIGN_STALE_MS,
      `taken over ${done - lastRenewal} ms after B's last renewal, not before the bound`,
    );
    assert.equal(registryOf(path).revision, 2);
    assert.deepEqual(nodes(path), ["a"], "B's change never happened");
    assert.deepEqual(readdirSync(dir), ["subnets.json"], "B's lock and temp file are gone");
  });
});
