/**
 * A file-store writer killed with SIGKILL in the middle of an update: right after creating its
 * lock file (still empty), before the rename (lock held, temp file written) and after it. The
 * file holds the old or the new state, never a mix; the next writer takes over the dead
 * writer's lock (an empty one once it is 2 s old) and removes its temp file; nothing is left.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hasOpen, hg, hgArgv } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Point = "lock-created" | "before-rename" | "after-rename";

/** Starts an allocation that holds still at `point` and kills it there. */
async function killWriterAt(path: string, point: Point, node: string): Promise<void> {
  const [cmd, ...rest] = hgArgv();
  const child = spawn(cmd, [
    ...rest,
    "subnet",
    "alloc",
    "--store",
    path,
    "--node",
    node,
    "--public-ip",
    "10.0.12.50",
  ], {
    stdio: "ignore",
    env: { ...process.env, HG_TEST_HOLD_WRITE: `${point}:20000` },
  });
  const gone = new Promise((r) => child.on("close", r));
  const revision = () => JSON.parse(readFileSync(path, "utf8")).revision as number;
  const before = revision();
  const lock = `${path}.lock`;
  const registryDir = join(path, "..");
  const deadline = Date.now() + 20_000;
  // Wait until the writer is at the point: its lock created and open but empty, its temp file
  // (named with its PID) written, or the file replaced.
  const reached = () => {
    if (point === "lock-created") {
      return existsSync(lock) && readFileSync(lock, "utf8") === "" && hasOpen(child.pid!, lock);
    }
    if (point === "before-rename") {
      return readdirSync(registryDir).some((f) =>
        f.includes(`.${child.pid}.`) && f.endsWith(".tmp")
      );
    }
    return revision() > before;
  };
  while (!reached()) {
    assert.ok(Date.now() < deadline, `the writer never reached ${point}`);
    await sleep(20);
  }
  assert.ok(existsSync(lock), "the writer holds the lock");
  child.kill("SIGKILL");
  await gone;
}

const nodesOf = (file: { leases: Record<string, { attrs: { HgNode: string } }> }) =>
  Object.values(file.leases).map((l) => l.attrs.HgNode).sort();

describe("file store crash safety (real processes, SIGKILL)", () => {
  for (const point of ["lock-created", "before-rename", "after-rename"] as const) {
    it(`a writer killed ${point} leaves a whole state, and the next writer recovers the lock`, async () => {
      const home = join(dir, point);
      mkdirSync(home);
      const path = join(home, "subnets.json");
      assert.equal(hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]).code, 0);
      assert.equal(
        hg(["subnet", "alloc", "--store", path, "--node", "a", "--public-ip", "10.0.12.11"]).code,
        0,
      );
      const old = JSON.parse(readFileSync(path, "utf8"));

      await killWriterAt(path, point, "killed");

      const now = JSON.parse(readFileSync(path, "utf8")); // valid JSON: never half written
      if (point === "after-rename") {
        assert.equal(now.revision, old.revision + 1);
        assert.deepEqual(nodesOf(now), ["a", "killed"], "the new state, whole");
      } else {
        assert.deepEqual(now, old, "the old state, untouched");
      }
      assert.ok(existsSync(`${path}.lock`), "the dead writer's lock is left behind");
      if (point === "lock-created") assert.equal(readFileSync(`${path}.lock`, "utf8"), "");
      if (point === "before-rename") {
        assert.equal(readdirSync(home).filter((f) => f.endsWith(".tmp")).length, 1);
      }

      const start = Date.now();
      const next = hg([
        "--json",
        "subnet",
        "alloc",
        "--store",
        path,
        "--node",
        "b",
        "--public-ip",
        "10.0.12.12",
      ]);
      const took = Date.now() - start;
      assert.equal(next.code, 0, next.stderr);
      // An empty lock is taken over once 2 s old; a dead owner's at once. Never a wedge.
      assert.ok(took < 10_000, `the next writer took ${took} ms`);
      const last = JSON.parse(readFileSync(path, "utf8"));
      assert.equal(last.revision, now.revision + 1);
      assert.deepEqual(nodesOf(last), [...nodesOf(now), "b"].sort());
      assert.deepEqual(readdirSync(home), ["subnets.json"], "no lock, guard or temp file left");
    });
  }

  it("a corrupt or foreign file is reported and never overwritten", () => {
    for (
      const [name, text] of [["corrupt.json", '{"kind":"hg-subnet-registry","version":1,"rev'], [
        "foreign.json",
        '{"some":"thing"}\n',
      ]]
    ) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const r = hg([
        "subnet",
        "alloc",
        "--store",
        path,
        "--node",
        "a",
        "--public-ip",
        "10.0.12.11",
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refusing to use or overwrite it/);
      assert.equal(readFileSync(path, "utf8"), text);
      const c = hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]);
      assert.equal(c.code, 1);
      assert.equal(readFileSync(path, "utf8"), text);
    }
  });
});
