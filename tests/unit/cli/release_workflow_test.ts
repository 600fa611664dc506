/**
 * The shipped binary is the tested one (issue 11): the release job builds nothing and attaches
 * the files the test job uploaded, which are copies of the `dist/hg` that `deno task test`
 * compiled and then ran the e2e and corpus tiers against.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

const root = new URL("../../../", import.meta.url);
const workflow = readFileSync(new URL(".github/workflows/ci.yml", root), "utf8");
const tasks: Record<string, string> =
  JSON.parse(readFileSync(new URL("deno.json", root), "utf8")).tasks;

/** The workflow's jobs: name → the job's lines (two-space-indented keys under `jobs:`). */
function jobs(text: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.slice(text.indexOf("\njobs:\n")).split("\n").slice(2)) {
    const name = /^ {2}([A-Za-z0-9_-]+):\s*$/.exec(line);
    if (name) result.set(name[1], current = []);
    else current?.push(line);
  }
  return result;
}

/** The values of `key:` lines in a job (`run`, `path`, `files`, `uses`, `needs`). */
const values = (lines: readonly string[], key: string) =>
  lines.flatMap((l) => {
    const m = new RegExp(`^\\s*-?\\s*${key}:\\s*(.+)$`).exec(l);
    return m ? [m[1].trim()] : [];
  });

describe("release workflow", () => {
  const all = jobs(workflow);
  const test = all.get("test")!;
  const release = all.get("release")!;

  it("has a test job and a release job that needs it", () => {
    assert.ok(test && release, [...all.keys()].join(", "));
    assert.deepEqual(values(release, "needs"), ["test"]);
  });

  it("the release job builds nothing: it attaches what the test job uploaded", () => {
    const commands = values(release, "run").join("\n");
    assert.doesNotMatch(commands, /compile|bun build|npm|deno/);
    assert.ok(values(release, "uses").some((u) => u.startsWith("actions/download-artifact@")));
    assert.deepEqual(values(release, "files"), ["dist/hg-*-linux"]);
    assert.deepEqual(values(test, "path"), ["dist/hg-${{ matrix.arch }}-linux"]);
  });

  it("the uploaded file is a copy of dist/hg taken after .ci/run tested it", () => {
    const runs = values(test, "run");
    const ci = runs.findIndex((r) => r.includes("bash .ci/run"));
    const copy = runs.findIndex((r) => r.startsWith("cp dist/hg dist/hg-${{ matrix.arch }}-linux"));
    assert.ok(ci >= 0 && copy > ci, runs.join("\n"));
    assert.match(readFileSync(new URL(".ci/run", root), "utf8"), /^deno task test$/m);
  });

  it("deno task test compiles dist/hg, then runs the e2e, binary, protocol and corpus tiers against it", () => {
    assert.match(tasks.compile, /--outfile dist\/hg$/);
    const steps = tasks.test.split("&&").map((s) => s.trim());
    const compile = steps.indexOf("deno task compile");
    const e2e = steps.indexOf("HG_BIN=dist/hg deno task test:e2e");
    assert.ok(compile >= 0 && e2e > compile, tasks.test);
    for (const tier of ["test:binary", "test:protocol", "test:corpus"]) {
      assert.match(tasks[tier], /^HG_BIN=dist\/hg /);
      assert.ok(steps.indexOf(`deno task ${tier}`) > compile, tier);
    }
  });

  it("builds and tests every architecture it ships on that architecture", () => {
    assert.match(workflow, /arch: x86_64\s+runner: ubuntu-24.04\n/);
    assert.match(workflow, /arch: aarch64\s+runner: ubuntu-24.04-arm\n/);
    assert.ok(test.some((l) => l.includes("runs-on: ${{ matrix.runner }}")));
  });
});
