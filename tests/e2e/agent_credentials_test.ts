/**
 * The agent's unit and the etcd credentials, end to end (hg from source or HG_BIN): the unit
 * carries HG_STORE and HG_NODE and never a password; a password without a user, a password file
 * that cannot be read and `hg --dry-run agent` are refused with exit 2 and one line; a password in
 * a store URL never reaches stdout or stderr. Everything that could talk to a network runs in a
 * namespace this test makes (its loopback and a veth pair as the uplink) and removes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hg, hgArgv, netState, type Run, run } from "./harness.ts";

const PASSWORD = "Xy7-s3cret-Qz";
const netns = `hgcred-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "hg-cred-"));
/** hg's lock and status files go here, not to /run/hg. */
const runDir = join(dir, "run");

/** Runs hg inside the test's namespace; killed after `timeoutMs` (a hung run is a failure). */
function hgNs(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Run {
  const r = spawnSync("nsenter", [`--net=/run/netns/${netns}`, "--", ...hgArgv(), ...args], {
    encoding: "utf8",
    env: { ...process.env, HG_RUN_DIR: runDir, ...env },
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs `ip ARGS`; it must succeed. */
function ip(...args: string[]): void {
  const r = run("ip", args);
  assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
}

/** Asserts a refusal: `code`, one line starting "hg: " on stderr, nothing on stdout. */
function oneLine(r: Run, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, /^hg: /, what);
  assert.equal(r.stdout, "", what);
}

describe("the agent's unit and the etcd credentials (e2e)", () => {
  before(() => {
    // A host of its own: loopback and an uplink with a default route, nothing else.
    ip("netns", "add", netns);
    ip("-n", netns, "link", "set", "lo", "up");
    ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer");
    ip("-n", netns, "addr", "add", "10.0.12.11/24", "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0-peer", "up");
    ip("-n", netns, "link", "set", "eth0", "up");
    ip("-n", netns, "route", "add", "default", "via", "10.0.12.1", "dev", "eth0");
  });
  after(() => {
    run("ip", ["netns", "del", netns]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the unit carries HG_STORE and HG_NODE, and a password only by reference", () => {
    const r = hg(["agent", "--etcd-user", "hg", "--print-systemd-unit"], {
      HG_STORE: "etcd://10.0.0.5:2379",
      HG_NODE: "node7",
      HG_ETCD_PASSWORD: PASSWORD,
    });
    assert.equal(r.code, 0, r.stderr);
    const exec = r.stdout.split("\n").find((l) => l.startsWith("ExecStart="));
    assert.ok(exec, r.stdout);
    assert.match(exec, / agent --store etcd:\/\/10\.0\.0\.5:2379 --etcd-user hg --node node7$/);
    assert.match(r.stdout, /^EnvironmentFile=\/etc\/hg\/agent\.env$/m);
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), r.stdout + r.stderr);
    assert.match(r.stderr, /HG_ETCD_PASSWORD=<password>.*mode 0600/);

    const flag = hg([
      "agent",
      "--store",
      "etcd://10.0.0.5:2379",
      "--etcd-user",
      "hg",
      "--etcd-password",
      PASSWORD,
      "--print-systemd-unit",
    ]);
    assert.equal(flag.code, 0, flag.stderr);
    assert.ok(!flag.stdout.includes(PASSWORD) && !flag.stderr.includes(PASSWORD), flag.stdout);
    assert.match(flag.stdout, /^EnvironmentFile=\/etc\/hg\/agent\.env$/m);
  });

  it("--etcd-password without --etcd-user: exit 2, one line", () => {
    for (const args of [["--etcd-password", PASSWORD], []]) {
      const r = hgNs(
        ["subnet", "ls", "--store", "etcd://127.0.0.1:1", ...args],
        args.length ? {} : { HG_ETCD_PASSWORD: PASSWORD },
      );
      oneLine(r, 2, `password by ${args.length ? "flag" : "HG_ETCD_PASSWORD"}`);
      assert.match(r.stderr, /--etcd-user/);
      assert.ok(!r.stderr.includes(PASSWORD), r.stderr);
    }
  });

  it("--etcd-password-file of a missing file: exit 2, one line naming the file", () => {
    const missing = join(dir, "no-such-password");
    const r = hgNs([
      "subnet",
      "ls",
      "--store",
      "etcd://127.0.0.1:1",
      "--etcd-user",
      "hg",
      "--etcd-password-file",
      missing,
    ]);
    oneLine(r, 2, "missing password file");
    assert.ok(r.stderr.includes(`cannot read the etcd password file ${missing}`), r.stderr);
  });

  it("hg --dry-run agent: exit 2, one line saying what to use, nothing changed", () => {
    const store = join(dir, "subnets.json");
    const config = hgNs(["subnet", "config", "--store", store, "--network", "1.1.0.0/16"]);
    assert.equal(config.code, 0, config.stderr);
    const registry = readFileSync(store, "utf8");
    const before = netState(netns);
    const files = readdirSync(dir).sort();
    const r = hgNs(
      [
        "--dry-run",
        "agent",
        "--store",
        store,
        "--node",
        "n1",
        "--public-ip",
        "10.0.12.11",
        "--subnet-file",
        join(dir, "subnet.env"),
      ],
      {},
      15_000,
    );
    oneLine(r, 2, "hg --dry-run agent");
    assert.match(r.stderr, /hg --dry-run setup --store/);
    assert.equal(readFileSync(store, "utf8"), registry, "the registry is unchanged");
    assert.equal(netState(netns), before, "the namespace is unchanged");
    assert.deepEqual(readdirSync(dir).sort(), files, "no subnet.env or other file written");

    const unit = hgNs(["--dry-run", "agent", "--store", store, "--print-systemd-unit"]);
    assert.equal(unit.code, 0, unit.stderr);
    assert.match(unit.stdout, /^ExecStart=.* agent --store \S+subnets\.json$/m);
  });

  it("a password in a store URL never reaches stdout or stderr", () => {
    const urls = [
      `etcd://root:${PASSWORD}@127.0.0.1:1`,
      `etcds://root:${PASSWORD}@127.0.0.1:1`,
      `etcd://root:${PASSWORD}@127.0.0.1:1,root:${PASSWORD}@127.0.0.1:2`,
      `etcd://root:${PASSWORD}/x@127.0.0.1:1`,
    ];
    const commands = [
      ["subnet", "ls"],
      ["--json", "subnet", "ls"],
      ["subnet", "alloc", "--node", "n1", "--public-ip", "10.0.12.11"],
      ["subnet", "config", "--network", "1.1.0.0/16"],
      ["setup"],
      ["peer", "sync"],
      ["doctor"],
      ["agent"],
      ["agent", "--print-systemd-unit"],
    ];
    for (const url of urls) {
      for (const command of commands) {
        for (const how of ["flag", "HG_STORE"]) {
          const args = how === "flag" ? [...command, "--store", url] : command;
          const r = hgNs(args, how === "flag" ? {} : { HG_STORE: url }, 15_000);
          const what = `hg ${command.join(" ")} (store by ${how}: ${url.split(PASSWORD)[0]}...)`;
          assert.ok(!r.stderr.includes(PASSWORD), `${what}: ${r.stderr}`);
          assert.ok(!r.stdout.includes(PASSWORD), `${what}: ${r.stdout}`);
          assert.equal(r.code, 2, `${what}: ${r.stderr}`);
          assert.match(
            r.stderr,
            /^hg: the store URL etcds?:\/\/\*\*\*@127\.0\.0\.1:[12] .*--etcd-user/,
          );
        }
      }
    }
    // Nor does a password given by flag, when the registry cannot be reached.
    const r = hgNs([
      "subnet",
      "ls",
      "--store",
      "etcd://127.0.0.1:1",
      "--etcd-user",
      "root",
      "--etcd-password",
      PASSWORD,
    ]);
    oneLine(r, 1, "unreachable etcd with a password");
    assert.ok(!r.stderr.includes(PASSWORD), r.stderr);
  });

  it("reads the password file the unit names (a file of the test's own)", () => {
    const file = join(dir, "etcd-password");
    writeFileSync(file, PASSWORD + "\n", { mode: 0o600 });
    const r = hgNs([
      "agent",
      "--store",
      "etcd://127.0.0.1:1",
      "--etcd-user",
      "root",
      "--etcd-password-file",
      file,
      "--print-systemd-unit",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`--etcd-password-file ${file}$`, "m"));
    assert.ok(!r.stdout.includes(PASSWORD) && r.stderr === "", r.stdout + r.stderr);
  });
});
