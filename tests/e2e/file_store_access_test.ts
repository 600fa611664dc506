/**
 * The file store used by a user who may not change it (uid 65534 through setpriv, against a
 * registry root owns): a directory it cannot create the lock in, a registry it cannot read, and
 * a sticky directory where it can write files but not replace root's registry. Each is one line
 * naming the registry and the cause, exit 1, and nothing changed or left behind.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hg, hgArgv, type Run, run } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-access-"));
chmodSync(dir, 0o755); // so that uid 65534 may reach the registries in it
after(() => rmSync(dir, { recursive: true, force: true }));

const NOBODY = 65534;

/** Runs hg as uid/gid 65534 with no supplementary groups. */
function hgAsNobody(args: readonly string[]): Run {
  return run("/usr/bin/setpriv", [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    ...hgArgv(),
    ...args,
  ], { HOME: "/tmp", DENO_DIR: process.env.HG_TEST_DENO_DIR ?? "/tmp/hg-test-deno-dir" });
}

/** What hg said on stderr (from source, deno as nobody may first say it downloads its cache). */
const said = (r: Run) => r.stderr.split("\n").filter((l) => l && !l.includes("Download"));

/** A registry made by root, with one lease, in `name/` with mode `dirMode`. */
function rootRegistry(name: string, dirMode: number, fileMode = 0o644): string {
  const home = join(dir, name);
  mkdirSync(home);
  const path = join(home, "subnets.json");
  assert.equal(hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]).code, 0);
  const a = hg(["subnet", "alloc", "--store", path, "--node", "a", "--public-ip", "10.0.12.11"]);
  assert.equal(a.code, 0, a.stderr);
  chmodSync(home, dirMode);
  chmodSync(path, fileMode);
  return path;
}

const alloc = (path: string) =>
  hgAsNobody(["subnet", "alloc", "--store", path, "--node", "b", "--public-ip", "10.0.12.12"]);

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function assertRefused(r: Run, path: string, pattern: RegExp, before: Buffer): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(said(r).length, 1, `one line: ${r.stderr}`);
  assert.match(said(r)[0], pattern);
  assert.ok(readFileSync(path).equals(before), "registry byte-identical");
  assert.deepEqual(readdirSync(join(path, "..")), ["subnets.json"], "no lock or temp file left");
}

describe("file store for a user who may not change it (setpriv, uid 65534)", () => {
  it("a directory it cannot write: it reads the registry, but cannot lock it", () => {
    const path = rootRegistry("readonly-dir", 0o755);
    const before = readFileSync(path);
    const ls = hgAsNobody(["--json", "subnet", "ls", "--store", path]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(JSON.parse(ls.stdout).leases.length, 1);
    assertRefused(
      alloc(path),
      path,
      new RegExp(
        `^hg: cannot lock the registry ${escape(path)} \\(lock file ${
          escape(path)
        }\\.lock\\): permission denied \\(hg runs as uid ${NOBODY}\\); the registry is unchanged$`,
      ),
      before,
    );
  });

  it("a registry it cannot read", () => {
    const path = rootRegistry("private-file", 0o755, 0o600);
    const before = readFileSync(path);
    const pattern = new RegExp(
      `^hg: cannot read the registry ${
        escape(path)
      }: permission denied \\(hg runs as uid ${NOBODY}\\)$`,
    );
    assertRefused(alloc(path), path, pattern, before);
    assertRefused(hgAsNobody(["subnet", "ls", "--store", path]), path, pattern, before);
  });

  it("a sticky directory: it may write its own files there, but not replace root's registry", () => {
    const path = rootRegistry("sticky-dir", 0o1777);
    const before = readFileSync(path);
    assertRefused(
      alloc(path),
      path,
      new RegExp(
        `^hg: cannot replace the registry ${
          escape(path)
        }: permission denied \\(hg runs as uid ${NOBODY}\\); the registry is unchanged$`,
      ),
      before,
    );
    // Root still can, and the registry is as good as before.
    const b = hg(["subnet", "alloc", "--store", path, "--node", "b", "--public-ip", "10.0.12.12"]);
    assert.equal(b.code, 0, b.stderr);
  });
});
