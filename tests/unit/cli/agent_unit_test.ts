/**
 * `hg agent --print-systemd-unit` through the whole command line (no root, nothing run): the unit
 * carries the settings given through the environment, and never the etcd password, whether it
 * came by flag, by HG_ETCD_PASSWORD or by a password file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildProgram } from "../../../cli/program.ts";
import { InputError } from "../../../lib/errors.ts";

const PASSWORD = "s3cret-Pa55";
const dir = mkdtempSync(join(tmpdir(), "hg-agent-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What one hg run printed, or the error it threw. */
interface Printed {
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: unknown;
}

/** The environment variables hg reads; each run sets exactly the ones it names. */
const HG_VARIABLES = ["HG_STORE", "HG_NODE", "HG_ETCD_PASSWORD", "HG_RUN_DIR", "HG_SELF"];

/** Runs `hg ARGS` in this process with `env` as hg's variables, capturing stdout and stderr. */
async function hg(args: readonly string[], env: Record<string, string> = {}): Promise<Printed> {
  const saved = new Map(HG_VARIABLES.map((name) => [name, process.env[name]]));
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const consoled = { log: console.log, error: console.error };
  let stdout = "";
  let stderr = "";
  for (const name of HG_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
  process.stdout.write =
    ((chunk: string) => (stdout += chunk, true)) as typeof process.stdout.write;
  process.stderr.write =
    ((chunk: string) => (stderr += chunk, true)) as typeof process.stderr.write;
  // hg's Output writes through console (cli/output.ts).
  console.log = (text: string) => (stdout += text + "\n");
  console.error = (text: string) => (stderr += text + "\n");
  try {
    await (await buildProgram()).parseAsync([...args], { from: "user" });
    return { stdout, stderr };
  } catch (error) {
    return { stdout, stderr, error };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    Object.assign(console, consoled);
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The unit's ExecStart= words after `agent`. */
function execArgs(unit: string): string[] {
  const line = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  assert.ok(line, unit);
  const words = line.slice("ExecStart=".length).split(" ");
  assert.equal(words[1], "agent", line);
  return words.slice(2);
}

/** Whether `args` holds `flag VALUE`. */
function hasFlag(args: readonly string[], flag: string, value?: string): boolean {
  const i = args.indexOf(flag);
  return i >= 0 && (value === undefined || args[i + 1] === value);
}

describe("hg agent --print-systemd-unit", () => {
  it("carries HG_STORE, HG_NODE and HG_RUN_DIR given through the environment", async () => {
    const r = await hg(["agent", "--print-systemd-unit"], {
      HG_STORE: "etcd://10.0.0.5:2379,10.0.0.6:2379",
      HG_NODE: "node7",
      HG_RUN_DIR: "/run/hg-test",
    });
    assert.equal(r.error, undefined, String(r.error));
    const args = execArgs(r.stdout);
    assert.ok(hasFlag(args, "--store", "etcd://10.0.0.5:2379,10.0.0.6:2379"), args.join(" "));
    assert.ok(hasFlag(args, "--node", "node7"), args.join(" "));
    assert.match(r.stdout, /^Environment="HG_RUN_DIR=\/run\/hg-test"$/m);
    assert.doesNotMatch(r.stdout, /EnvironmentFile=/);
  });

  it("a flag wins over its variable, and the unit leaves defaults to the agent", async () => {
    const r = await hg(
      ["agent", "--store", "etcd://10.0.0.9:2379", "--node", "n1", "--print-systemd-unit"],
      { HG_STORE: "etcd://10.0.0.5:2379", HG_NODE: "node7" },
    );
    const args = execArgs(r.stdout);
    assert.deepEqual(args, ["--store", "etcd://10.0.0.9:2379", "--node", "n1"]);
  });

  it("gives paths absolute, the lease time as a duration, negated and boolean flags", async () => {
    const r = await hg([
      "--verbose",
      "agent",
      "--store",
      "rel/subnets.json",
      "--subnet-file",
      "my run/subnet.env",
      "--ttl",
      "86400",
      "--public-ip",
      "10.0.12.11",
      "--masquerade",
      "--no-restore-config",
      "--print-systemd-unit",
    ]);
    assert.equal(r.error, undefined, String(r.error));
    const line = r.stdout.split("\n").find((l) => l.startsWith("ExecStart="))!;
    assert.ok(line.includes(`--store ${process.cwd()}/rel/subnets.json `), line);
    assert.ok(line.includes(`--subnet-file "${process.cwd()}/my run/subnet.env"`), line);
    assert.ok(line.includes("--ttl 1d --masquerade"), line);
    assert.ok(line.includes("--public-ip 10.0.12.11"), line);
    assert.ok(line.endsWith("--no-restore-config"), line);
    assert.ok(!line.includes("--verbose") && !line.includes("--print-systemd-unit"), line);
  });

  for (
    const [how, args, env] of [
      ["--etcd-password", ["--etcd-password", PASSWORD], {}],
      ["HG_ETCD_PASSWORD", [], { HG_ETCD_PASSWORD: PASSWORD }],
    ] as const
  ) {
    it(`a password by ${how} is read from /etc/hg/agent.env, never written`, async () => {
      const r = await hg(
        [
          "agent",
          "--store",
          "etcd://10.0.0.5:2379",
          "--etcd-user",
          "hg",
          ...args,
          "--print-systemd-unit",
        ],
        env,
      );
      assert.equal(r.error, undefined, String(r.error));
      assert.ok(!r.stdout.includes(PASSWORD), r.stdout);
      assert.ok(!r.stderr.includes(PASSWORD), r.stderr);
      assert.match(r.stdout, /^EnvironmentFile=\/etc\/hg\/agent\.env$/m);
      const exec = execArgs(r.stdout);
      assert.ok(hasFlag(exec, "--etcd-user", "hg"), exec.join(" "));
      assert.ok(!exec.some((a) => a.startsWith("--etcd-password")), exec.join(" "));
      // The operator is told where the password goes, on stderr, in one line.
      assert.match(r.stderr, /^the unit reads the etcd password from \/etc\/hg\/agent\.env.*0600/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
  }

  it("a password file is passed on by its absolute path, its contents never", async () => {
    writeFileSync(join(dir, "etcd-password"), PASSWORD + "\n", { mode: 0o600 });
    const cwd = process.cwd();
    process.chdir(dir);
    let r: Printed;
    try {
      r = await hg([
        "agent",
        "--store",
        "etcd://10.0.0.5:2379",
        "--etcd-user",
        "hg",
        "--etcd-password-file",
        "etcd-password",
        "--print-systemd-unit",
      ]);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(r.error, undefined, String(r.error));
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), r.stdout);
    const exec = execArgs(r.stdout);
    assert.ok(hasFlag(exec, "--etcd-password-file", join(dir, "etcd-password")), exec.join(" "));
    assert.doesNotMatch(r.stdout, /EnvironmentFile=/);
    assert.equal(r.stderr, "");
  });

  it("refuses a password without a user, and a store URL with credentials, unechoed", async () => {
    const noUser = await hg([
      "agent",
      "--store",
      "etcd://10.0.0.5:2379",
      "--etcd-password",
      PASSWORD,
      "--print-systemd-unit",
    ]);
    assert.ok(noUser.error instanceof InputError, String(noUser.error));
    assert.match((noUser.error as Error).message, /needs the user .*--etcd-user/);
    assert.equal(noUser.stdout, "");

    const inUrl = await hg(["agent", "--print-systemd-unit"], {
      HG_STORE: `etcd://root:${PASSWORD}@10.0.0.5:2379`,
    });
    assert.ok(inUrl.error instanceof InputError, String(inUrl.error));
    assert.ok(!(inUrl.error as Error).message.includes(PASSWORD), (inUrl.error as Error).message);
    assert.match((inUrl.error as Error).message, /etcd:\/\/\*\*\*@10\.0\.0\.5:2379/);
    assert.equal(inUrl.stdout, "");
  });

  it("refuses a public address the agent would refuse at its start", async () => {
    const r = await hg([
      "agent",
      "--store",
      "etcd://10.0.0.5:2379",
      "--public-ip",
      "224.0.0.1",
      "--print-systemd-unit",
    ]);
    assert.ok(r.error instanceof InputError, String(r.error));
    assert.match((r.error as Error).message, /--public-ip 224\.0\.0\.1 is a multicast address/);
    assert.equal(r.stdout, "");
  });

  it("needs a store: a unit without one could never start", async () => {
    const r = await hg(["agent", "--print-systemd-unit"]);
    assert.ok(r.error instanceof InputError, String(r.error));
    assert.match((r.error as Error).message, /--store URL \(or HG_STORE\) is required/);
  });
});
