/**
 * runProcess collects a child's output whole, through a pipe or (under Bun) an unlinked file:
 * big outputs intact, stdout and stderr apart, the exit code, input, and nothing left behind
 * in the temp directory, also when it cannot be written to.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { runProcess } from "../../../lib/exec/run.ts";

let dir = "";
const saved = process.env.TMPDIR;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hg-run-test-"));
  process.env.TMPDIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe("runProcess", () => {
  it("returns a big output whole, and leaves no file behind", async () => {
    const { code, stdout, stderr } = await runProcess("seq", ["1", "300000"]);
    assert.equal(code, 0);
    assert.equal(stderr, "");
    const lines = stdout.split("\n");
    assert.equal(lines.length, 300001);
    assert.equal(lines[0], "1");
    assert.equal(lines[299999], "300000");
    assert.deepEqual(readdirSync(dir), []);
  });

  it("keeps stdout and stderr apart and gives the exit code", async () => {
    const result = await runProcess("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual(result, { code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("writes the input and reads the answer; successive runs do not mix", async () => {
    const [a, b] = await Promise.all([
      runProcess("cat", [], { input: "first\n" }),
      runProcess("cat", [], { input: "second\n" }),
    ]);
    assert.equal(a.stdout, "first\n");
    assert.equal(b.stdout, "second\n");
  });

  it("a program that exits without reading its input gives its exit code, not a broken pipe", async () => {
    // As `ip -n GONE -batch -` does: it fails before reading a line of the batch.
    for (let i = 0; i < 20; i++) {
      const r = await runProcess("sh", ["-c", "echo gone >&2; exit 1"], {
        input: "route show\n".repeat(50_000),
      });
      assert.deepEqual([r.code, r.stderr], [1, "gone\n"]);
    }
  });

  it("reads through a pipe when the temp directory cannot be written to", async () => {
    // Tests run as root, who writes anywhere: a missing directory stands for one it cannot use.
    process.env.TMPDIR = join(dir, "missing");
    const { code, stdout } = await runProcess("seq", ["1", "5000"]);
    assert.equal(code, 0);
    assert.equal(stdout.split("\n")[4999], "5000");
  });
});
