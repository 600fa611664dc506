/**
 * The file store used by a root that may not change it: root without CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH and CAP_FOWNER (setpriv's bounding set), against a registry another uid
 * (65534) owns, as root meets a registry on NFS with root_squash or from a confined container. A
 * directory it cannot create the lock in, a registry it cannot read, and a sticky directory where
 * it can write files but not replace the owner's registry: each is one line naming the registry and
 * the cause, exit 1, and nothing changed or left behind. (Users who are not root are refused
 * before the store: tests/e2e/non_root_test.ts.)
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hg, hgArgv, type Run, run } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-access-"));
chmodSync(dir, 0o755); // so that a root without DAC override may reach the registries in it
after(() => rmSync(dir, { recursive: true, force: true }));

const OWNER = 65534;

/** Runs hg as root without the capabilities that override file permissions. */
function hgConfined(args: readonly string[]): Run {
  return run("/usr/bin/setpriv", [
    "--bounding-set",
    "-dac_override,-dac_read_search,-fowner",
    ...hgArgv(),
    ...args,
  ]);
}

/** What hg said on stderr. */
const said = (r: Run) => r.stderr.split("\n").filter(Boolean);

/** A registry with one lease, in `name/` with mode `dirMode`, owned (with its directory) by OWNER. */
function rootRegistry(name: string, dirMode: number, fileMode = 0o644): string {
  const home = join(dir, name);
  mkdirSync(home);
  const path = join(home, "subnets.json");
  assert.equal(hg(["subnet", "config", "--store", path, "--network", "1.1.0.0/16"]).code, 0);
  const a = hg(["subnet", "alloc", "--store", path, "--node", "a", "--public-ip", "10.0.12.11"]);
  assert.equal(a.code, 0, a.stderr);
  chmodSync(home, dirMode);
  chmodSync(path, fileMode);
  chownSync(home, OWNER, OWNER);
  chownSync(path, OWNER, OWNER);
  return path;
}

const alloc = (path: string) =>
  hgConfined(["subnet", "alloc", "--store", path, "--node", "b", "--public-ip", "10.0.12.12"]);

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function assertRefused(r: Run, path: string, pattern: RegExp, before: Buffer): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(said(r).length, 1, `one line: ${r.stderr}`);
  assert.match(said(r)[0], pattern);
  assert.ok(readFileSync(path).equals(before), "registry byte-identical");
  assert.deepEqual(readdirSync(join(path, "..")), ["subnets.json"], "no lock or temp file left");
}

describe("file store for a root that may not change it (no DAC override; owner uid 65534)", () => {
  it("a directory it cannot write: it reads the registry, but cannot lock it", () => {
    const path = rootRegistry("readonly-dir", 0o755);
    const before = readFileSync(path);
    const ls = hgConfined(["--json", "subnet", "ls", "--store", path]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(JSON.parse(ls.stdout).leases.length, 1);
    assertRefused(
      alloc(path),
      path,
      new RegExp(
        `^hg: cannot lock the registry ${escape(path)} \\(lock file ${
          escape(path)
        }\\.lock\\): permission denied \\(hg runs as uid 0\\); the registry is unchanged$`,
      ),
      before,
    );
  });

  it("a registry it cannot read", () => {
    const path = rootRegistry("private-file", 0o755, 0o600);
    const before = readFileSync(path);
    const pattern = new RegExp(
      `^hg: cannot read the registry ${escape(path)}: permission denied \\(hg runs as uid 0\\)$`,
    );
    assertRefused(alloc(path), path, pattern, before);
    assertRefused(hgConfined(["subnet", "ls", "--store", path]), path, pattern, before);
  });

  it("a sticky directory: it may write its own files there, but not replace the owner's registry", () => {
    const path = rootRegistry("sticky-dir", 0o1777);
    const before = readFileSync(path);
    assertRefused(
      alloc(path),
      path,
      new RegExp(
        `^hg: cannot replace the registry ${
          escape(path)
        }: permission denied \\(hg runs as uid 0\\); the registry is unchanged$`,
      ),
      before,
    );
    // A whole root still can, and the registry is as good as before.
    const b = hg(["subnet", "alloc", "--store", path, "--node", "b", "--public-ip", "10.0.12.12"]);
    assert.equal(b.code, 0, b.stderr);
  });
});
