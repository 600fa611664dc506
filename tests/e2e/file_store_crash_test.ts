/**
 * A file-store writer killed with SIGKILL in the middle of an update: the file holds the old or
 * the new state, never a mix, and the next writer takes over the dead writer's lock.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hg, hgArgv } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts an allocation that holds still at `point` with the lock held, and kills it there. */
async function killWriterAt(
  path: string,
  point: "before-rename" | "after-rename",
  node: string,
): Promise<void> {
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
  const deadline = Date.now() + 20_000;
  // Wait until the writer is at the point: its temp file written, or the file replaced.
  const reached = () =>
    point === "before-rename"
      ? readdirSync(dir).some((f) => f.endsWith(".tmp"))
      : revision() > before;
  while (!reached()) {
    assert.ok(Date.now() < deadline, `the writer never reached ${point}`);
    await sleep(20);
  }
  assert.ok(existsSync(`${path}.lock`), "the writer holds the lock");
  child.kill("SIGKILL");
  await gone;
}

describe("file store crash safety (real processes, SIGKILL)", () => {
  for (const point of ["before-rename", "after-rename"] as const) {
    it(`a writer killed ${point} leaves a whole state, and the next writer recovers the lock`, async () => {
      const path = join(dir, `${point}.json`);
      assert.equal(hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]).code, 0);
      assert.equal(
        hg(["subnet", "alloc", "--store", path, "--node", "a", "--public-ip", "10.0.12.11"]).code,
        0,
      );
      const old = JSON.parse(readFileSync(path, "utf8"));

      await killWriterAt(path, point, "killed");

      const now = JSON.parse(readFileSync(path, "utf8")); // valid JSON: never half written
      const nodes = Object.values(now.leases as Record<string, { attrs: { HgNode: string } }>).map((
        l,
      ) => l.attrs.HgNode)
        .sort();
      if (point === "before-rename") {
        assert.deepEqual(now, old, "the old state, untouched");
      } else {
        assert.equal(now.revision, old.revision + 1);
        assert.deepEqual(nodes, ["a", "killed"], "the new state, whole");
      }
      assert.ok(existsSync(`${path}.lock`), "the dead writer's lock is left behind");

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
      assert.equal(next.code, 0, next.stderr);
      const last = JSON.parse(readFileSync(path, "utf8"));
      assert.equal(last.revision, now.revision + 1);
      assert.ok(
        Object.values(last.leases as Record<string, { attrs: { HgNode: string } }>).some((l) =>
          l.attrs.HgNode === "b"
        ),
      );
      assert.ok(!existsSync(`${path}.lock`), "the lock was taken over and released");
    });
  }

  it("a corrupt or foreign file is reported and never overwritten", async () => {
    const { writeFileSync } = await import("node:fs");
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
