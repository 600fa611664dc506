/**
 * The file store on a full and on a read-only disk: a small tmpfs mounted inside a private mount
 * namespace of its own (nothing is mounted in the root mount namespace; the test reads the
 * tmpfs through /proc/PID/root of the namespace's holder process). Each refusal is one line
 * naming the registry and the cause, exit 1, the registry byte-identical and no lock or temp
 * file left; with space again the same command works.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hgArgv, type Run, run } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-disk-"));
const mnt = join(dir, "mnt");
const registry = join(mnt, "subnets.json");
let holder: ChildProcess | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `path` as the namespace sees it (through its holder's root). */
const inside = (path: string) => `/proc/${holder!.pid}/root${path}`;

/** Runs a program inside the private mount namespace. */
function inNs(cmd: string, args: readonly string[]): Run {
  return run("nsenter", [`--mount=/proc/${holder!.pid}/ns/mnt`, "--", cmd, ...args]);
}

const hgNs = (args: readonly string[]) => {
  const [cmd, ...rest] = hgArgv();
  return inNs(cmd, [...rest, ...args]);
};

/** Allocates for `node` at 10.0.12.HOST (one address, one lease: each node has its own). */
const alloc = (node: string, host: number) =>
  hgNs([
    "subnet",
    "alloc",
    "--store",
    registry,
    "--node",
    node,
    "--public-ip",
    `10.0.12.${host}`,
  ]);

/** Fills the tmpfs to the last page; returns the fill file's descriptor (to free pages later). */
function fill(): number {
  const fd = openSync(inside(join(mnt, "fill")), "w");
  const page = Buffer.alloc(4096, 1);
  for (;;) {
    try {
      // Page-sized writes: each takes one whole page or fails, so the file ends page-aligned.
      writeSync(fd, page);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOSPC") return fd;
      closeSync(fd);
      throw e;
    }
  }
}

function assertRefused(r: Run, pattern: RegExp, registryBefore: Buffer, files: string[]): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `exactly one line on stderr: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, "");
  assert.ok(readFileSync(inside(registry)).equals(registryBefore), "registry byte-identical");
  assert.deepEqual(readdirSync(inside(mnt)).sort(), files, "no lock or temp file left");
}

const escaped = registry.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

before(async () => {
  mkdirSync(mnt);
  holder = spawn("unshare", ["--mount", "--propagation", "private", "--", "sleep", "600"], {
    stdio: "ignore",
  });
  const mine = readlinkSync("/proc/self/ns/mnt");
  const deadline = Date.now() + 10_000;
  for (;;) {
    let theirs = mine;
    try {
      theirs = readlinkSync(`/proc/${holder.pid}/ns/mnt`);
    } catch { /* not started yet */ }
    if (theirs !== mine) break;
    assert.ok(Date.now() < deadline, "unshare did not make a mount namespace");
    await sleep(20);
  }
  const m = inNs("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "hg-test-disk", mnt]);
  assert.equal(m.code, 0, m.stderr);
  // The mount lives only in the private namespace.
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(` ${mnt} `));
  assert.ok(readFileSync(`/proc/${holder.pid}/mountinfo`, "utf8").includes(` ${mnt} `));
});

after(async () => {
  if (holder && holder.exitCode === null) {
    const gone = new Promise((r) => holder!.on("close", r));
    holder.kill("SIGKILL"); // the namespace, and its tmpfs, go with its last process
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("file store on a full or read-only disk (tmpfs in a private mount namespace)", () => {
  it("full disk: one line, exit 1, registry unchanged, nothing left; with space again it works", () => {
    const config = hgNs(["subnet", "config", "--store", registry, "--network", "1.1.0.0/16"]);
    assert.equal(config.code, 0, config.stderr);
    assert.equal(alloc("first", 41).code, 0);
    const registryBefore = readFileSync(inside(registry));
    const fd = fill();
    try {
      // Not one page free: the lock file is created (an inode) but its line cannot be written.
      assertRefused(
        alloc("second", 42),
        new RegExp(
          `^hg: cannot lock the registry ${escaped} \\(lock file ${escaped}\\.lock\\): no space left on device; the registry is unchanged$`,
        ),
        registryBefore,
        ["fill", "subnets.json"],
      );
      // One page free: the lock takes it, and the new copy of the registry cannot be written.
      ftruncateSync(fd, fstatSync(fd).size - 4096);
      assertRefused(
        alloc("second", 42),
        new RegExp(
          `^hg: cannot write the registry ${escaped}: no space left on device; the registry is unchanged$`,
        ),
        registryBefore,
        ["fill", "subnets.json"],
      );
      // Reading needs no space.
      assert.equal(hgNs(["subnet", "ls", "--store", registry]).code, 0);
    } finally {
      closeSync(fd);
    }
    unlinkSync(inside(join(mnt, "fill")));
    const again = alloc("second", 42);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /for second via 10\.0\.12\.42 \(new lease\)/);
    const after = JSON.parse(readFileSync(inside(registry), "utf8"));
    assert.equal(after.revision, JSON.parse(registryBefore.toString()).revision + 1);
    assert.deepEqual(readdirSync(inside(mnt)), ["subnets.json"]);
  });

  it("read-only file system: one line, exit 1, registry unchanged; reading still works", () => {
    const registryBefore = readFileSync(inside(registry));
    const ro = inNs("mount", ["-o", "remount,ro", mnt]);
    assert.equal(ro.code, 0, ro.stderr);
    assertRefused(
      alloc("third", 43),
      new RegExp(
        `^hg: cannot lock the registry ${escaped} \\(lock file ${escaped}\\.lock\\): the file system is mounted read-only; the registry is unchanged$`,
      ),
      registryBefore,
      ["subnets.json"],
    );
    const ls = hgNs(["--json", "subnet", "ls", "--store", registry]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(JSON.parse(ls.stdout).leases.length, 2);
  });
});
