/**
 * hg run by a user who is not root (issue 11): every command that changes the host or the
 * registry, or needs the firewall and the containers' namespaces to be right (doctor, snapshot),
 * says "must run as root" in one line with exit 1 and changes nothing; the listings that read
 * only what any user may read work. Never "internal error".
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { hg, hgArgv, labName, netState, run, sh } from "./harness.ts";

const ns = `${labName()}-nr`;
const dir = mkdtempSync("/tmp/hg-nonroot-");
const store = `${dir}/subnets.json`;

/** hg in the namespace as uid/gid 65534. */
function asNobody(args: readonly string[]) {
  return run("/usr/bin/nsenter", [
    `--net=/run/netns/${ns}`,
    "--",
    "/usr/bin/setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    ...hgArgv(),
    ...args,
  ], { HOME: "/tmp", DENO_DIR: process.env.HG_TEST_DENO_DIR ?? "/tmp/hg-test-deno-dir" });
}

/** stderr without deno's first-run download lines (from source only). */
const said = (stderr: string) => stderr.split("\n").filter((l) => l && !l.includes("Download"));

const MUST_BE_ROOT: readonly (readonly string[])[] = [
  ["setup", "--subnet", "1.1.1.0/24"],
  ["netns", "add", "web1"],
  ["netns", "del", "web1"],
  ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"],
  ["peer", "rm", "1.1.2.0/24"],
  ["peer", "sync", "--store", store, "--node", "h1"],
  ["subnet", "config", "--store", store, "--network", "1.2.0.0/16"],
  ["subnet", "alloc", "--store", store, "--node", "h2", "--public-ip", "10.0.12.12"],
  ["subnet", "renew", "--store", store, "--node", "h1", "--public-ip", "10.0.12.11"],
  ["subnet", "release", "--store", store, "--node", "h1"],
  ["agent", "--store", store, "--node", "h1", "--public-ip", "10.0.12.11"],
  ["doctor"],
  ["doctor", "--to", "1.1.1.2"],
  ["snapshot"],
  ["teardown"],
  ["lab", "up", "--name", "nobodylab"],
  ["lab", "down", "--name", "nobodylab"],
  ["lab", "status", "--name", "nobodylab"],
];

const ANY_USER: readonly (readonly string[])[] = [
  ["status"],
  ["status", "--json"],
  ["peer", "ls"],
  ["netns", "ls"],
  ["subnet", "ls", "--store", store],
  ["agent", "--store", store, "--print-systemd-unit"],
  ["completions", "bash"],
  ["--version"],
];

describe("hg as a user who is not root (e2e, root)", () => {
  before(() => {
    assert.equal(run("ip", ["netns", "add", ns]).code, 0);
    sh(ns, "ip link set lo up");
    // A registry any user may read, as a shared one often is; hg's writes need root anyway.
    const config = hg(["subnet", "config", "--store", store, "--network", "1.1.0.0/16"]);
    assert.equal(config.code, 0, config.stderr);
    chmodSync(dir, 0o755);
    chmodSync(store, 0o644);
  });
  after(() => {
    run("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("every command that changes or must see everything says so, changes nothing", () => {
    const state = netState(ns);
    const registry = readFileSync(store, "utf8");
    const wrong: string[] = [];
    for (const args of MUST_BE_ROOT) {
      const r = asNobody(args);
      const lines = said(r.stderr);
      if (
        r.code !== 1 || lines.length !== 1 ||
        !/^hg: hg must run as root .* \(try sudo\)$/.test(lines[0])
      ) wrong.push(`hg ${args.join(" ")}: exit ${r.code}: ${lines.join(" | ")}`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(netState(ns), state);
    assert.equal(readFileSync(store, "utf8"), registry);
  });

  it("the listings work for any user", () => {
    const wrong: string[] = [];
    for (const args of ANY_USER) {
      const r = asNobody(args);
      if (r.code !== 0 || said(r.stderr).length > 0) {
        wrong.push(`hg ${args.join(" ")}: exit ${r.code}: ${said(r.stderr).join(" | ")}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
