/**
 * `hg --dry-run subnet config|alloc|renew|release` say what they would do and leave the registry
 * byte for byte as it was; `subnet renew --json` reports the new expiry (issue 11). Registry
 * commands only touch the registry file, in a temp dir.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { hg } from "./harness.ts";

const dir = mkdtempSync("/tmp/hg-subnet-dry-");
const store = `${dir}/subnets.json`;
const me = ["--store", store, "--node", "h1", "--public-ip", "10.0.12.11"];

/** The registry directory's files and the registry's bytes. */
const registry = () => ({
  files: readdirSync(dir).sort(),
  text: readdirSync(dir).includes("subnets.json") ? readFileSync(store, "utf8") : null,
});

function ok(args: readonly string[]) {
  const r = hg(args);
  assert.equal(r.code, 0, `hg ${args.join(" ")}: ${r.stderr}`);
  return r;
}

describe("subnet commands under --dry-run (e2e)", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("config: says what it would write and writes no file", () => {
    const r = ok(["--dry-run", "subnet", "config", "--store", store, "--network", "1.1.0.0/16"]);
    assert.match(r.stdout, /^would write: network 1.1.0.0\/16, \/24 subnets .* \(created\)$/m);
    assert.deepEqual(registry(), { files: [], text: null });
    const json = JSON.parse(
      ok(["--json", "--dry-run", "subnet", "config", "--store", store, "--network", "1.1.0.0/16"])
        .stdout,
    );
    assert.deepEqual([json.changed, json.dryRun, json.outcome], [false, true, "created"]);
    ok(["subnet", "config", "--store", store, "--network", "1.1.0.0/16"]);
  });

  it("alloc, renew, release: say what they would do, registry unchanged", () => {
    const before = registry();
    const alloc = JSON.parse(ok(["--json", "--dry-run", "subnet", "alloc", ...me]).stdout);
    assert.deepEqual([alloc.changed, alloc.dryRun, alloc.reused, alloc.free], [
      false,
      true,
      false,
      255,
    ]);
    assert.deepEqual(registry(), before);

    const taken = JSON.parse(ok(["--json", "subnet", "alloc", ...me, "--ttl", "60"]).stdout);
    const held = registry();
    const again = JSON.parse(ok(["--json", "--dry-run", "subnet", "alloc", ...me]).stdout);
    assert.deepEqual([again.subnet, again.reused], [taken.subnet, true]);
    assert.match(
      ok(["--dry-run", "subnet", "renew", ...me]).stdout,
      new RegExp(`^would renew ${taken.subnet} for 86400 s$`, "m"),
    );
    assert.match(
      ok(["--dry-run", "subnet", "release", "--store", store, "--node", "h1"]).stdout,
      new RegExp(`^would release ${taken.subnet} \\(h1\\)$`, "m"),
    );
    assert.deepEqual(registry(), held);
  });

  it("renew --json reports the expiry the renewal set", () => {
    const start = Date.now();
    const renewed = JSON.parse(ok(["--json", "subnet", "renew", ...me, "--ttl", "3600"]).stdout);
    const expires = Date.parse(renewed.expiresAt);
    assert.ok(expires >= start + 3600_000 && expires <= Date.now() + 3600_000, renewed.expiresAt);
    const listed = JSON.parse(ok(["--json", "subnet", "ls", "--store", store]).stdout);
    // The file store writes its own clock's expiry: the report and the registry agree to a second.
    assert.ok(Math.abs(Date.parse(listed.leases[0].expiresAt) - expires) < 1000);
  });
});
