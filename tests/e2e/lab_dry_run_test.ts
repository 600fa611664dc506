/**
 * The lab keeps its promises (issue 11): `--dry-run` changes nothing on `lab up`, `down`,
 * `add-node` and `rm-node` and prints the plan instead (bad input is still refused with its exit
 * code); a `lab up` that fails, or is interrupted, removes everything it made (namespaces, the
 * registry's files, etcd and the agents); `--etcd-members 3` alone means the etcd registry; and
 * `lab rm-node` reports the removal once.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hg, hgArgv, labName, netnsList, netState, run, withLab } from "./harness.ts";

const labDir = (lab: string) => `/run/hg/lab-${lab}`;
const namespacesOf = (lab: string) => netnsList().filter((ns) => ns.startsWith(`${lab}-`)).sort();

/** Every process of the lab: its etcd members and agents name files in the lab's directory. */
const processesOf = (lab: string) =>
  run("pgrep", ["-f", `${labDir(lab)}/`]).stdout.trim().split("\n").filter(Boolean);

/** What a lab is, as far as a command could change it: namespaces, their state, its files. */
function labSnapshot(lab: string): string {
  const files = existsSync(labDir(lab))
    ? readdirSync(labDir(lab)).sort().filter((f) => !f.endsWith(".log"))
      .map((f) => [f, f.endsWith(".json") ? readFileSync(`${labDir(lab)}/${f}`, "utf8") : ""])
    : [];
  const hosts = namespacesOf(lab).map((ns) => [ns, netState(ns)]);
  return JSON.stringify({ hosts, files, processes: processesOf(lab) });
}

/** A failed command: one line on stderr starting "hg: ", the expected exit code. */
function assertOneLine(r: { code: number; stderr: string }, code: number, what: RegExp) {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^hg: /);
  assert.match(r.stderr, what);
}

/**
 * A directory holding an `etcd` that does not run (put first in PATH: lab up then fails once it
 * has built the hosts). Made once, removed when the tests end.
 */
let noEtcd: string | undefined;
function brokenEtcd(): string {
  if (noEtcd) return noEtcd;
  noEtcd = mkdtempSync(join(tmpdir(), "hg-no-etcd-"));
  writeFileSync(join(noEtcd, "etcd"), "#!/bin/sh\nexit 1\n");
  chmodSync(join(noEtcd, "etcd"), 0o755);
  return noEtcd;
}
after(() => {
  if (noEtcd) rmSync(noEtcd, { recursive: true, force: true });
});

/** Nothing of the lab is left: no namespace, no process, no directory. */
function assertNothingLeft(lab: string) {
  assert.deepEqual(namespacesOf(lab), [], "no namespace of the lab");
  assert.deepEqual(processesOf(lab), [], "no etcd or agent of the lab");
  assert.ok(!existsSync(labDir(lab)), `${labDir(lab)} is gone`);
}

describe("lab --dry-run, failed lab up, rm-node (e2e, root)", () => {
  it("--dry-run on a lab that is not there: the plan, nothing made; bad input still refused", () => {
    const lab = labName();
    try {
      const up = hg(["--dry-run", "lab", "up", "--nodes", "2", "--name", lab]);
      assert.equal(up.code, 0, up.stderr);
      const lines = up.stdout.trim().split("\n");
      for (
        const want of [
          `ip netns add ${lab}-ul`,
          `ip netns add ${lab}-h2`,
          `ip -n ${lab}-h1 addr add 10.0.12.11/22 dev eth0`,
          `${lab}-h1: hg setup --subnet 1.1.1.0/24`,
          `${lab}-h2: hg netns add ${lab}-h2-c1 --ip 1.1.2.2`,
          `${lab}-h2: hg peer add 1.1.1.0/24 --via 10.0.12.11`,
        ]
      ) {
        assert.ok(lines.includes(want), `"${want}" in:\n${up.stdout}`);
      }
      assertNothingLeft(lab);

      // --etcd-members 3 alone means the etcd registry, a cluster of three.
      const json = hg(["--dry-run", "--json", "lab", "up", "--etcd-members", "3", "--name", lab]);
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.changed, false);
      assert.equal(doc.dryRun, true);
      const url = "etcd://10.0.12.2:2379,10.0.12.2:22379,10.0.12.2:32379";
      assert.ok(
        doc.commands.some((c: string) => c.includes(`hg subnet config --store ${url}`)),
        json.stdout,
      );
      assert.equal(doc.commands.filter((c: string) => /start etcd member/.test(c)).length, 3);
      assertNothingLeft(lab);

      // Bad input, and a lab that is not there (a name like an unknown container's): the same
      // line and exit code as without --dry-run.
      for (
        const [args, code, what] of [
          [["lab", "up", "--name", "Bad!"], 2, /lab name "Bad!" is not valid/],
          [["lab", "up", "--nodes", "0", "--name", lab], 2, /--nodes "0" is not valid/],
          [
            ["lab", "up", "--store", "file", "--etcd-members", "3", "--name", lab],
            2,
            /--etcd-members needs the etcd registry/,
          ],
          [["lab", "add-node", "--name", lab], 2, new RegExp(`no lab named ${lab}`)],
          [["lab", "rm-node", `${lab}-h1`, "--name", lab], 2, new RegExp(`no lab named ${lab}`)],
          [["lab", "start-agent", `${lab}-h1`, "--name", lab], 2, /no lab named/],
          [["lab", "down", "--name", lab], 2, new RegExp(`no lab named ${lab}: "hg lab up`)],
          [["lab", "down", "--name", "-x"], 2, /lab name "-x" is not valid/],
        ] as const
      ) {
        const dry = hg(["--dry-run", ...args]);
        assertOneLine(dry, code, what);
        assert.equal(dry.stderr, hg(args).stderr, "the same line without --dry-run");
      }
      assertNothingLeft(lab);
    } finally {
      hg(["lab", "down", "--name", lab]);
    }
  });

  it("--dry-run on a lab that is up changes nothing; rm-node reports once", async () => {
    await withLab(3, (lab) => {
      const [h1, h2, h3] = [1, 2, 3].map((i) => `${lab}-h${i}`);
      const before = labSnapshot(lab);
      const dry = (args: string[], ...want: string[]) => {
        const r = hg(["--dry-run", "lab", ...args, "--name", lab]);
        assert.equal(r.code, 0, r.stderr);
        for (const line of want) {
          assert.ok(r.stdout.split("\n").includes(line), `"${line}" in:\n${r.stdout}`);
        }
        assert.equal(
          labSnapshot(lab),
          before,
          `hg --dry-run lab ${args.join(" ")} changed nothing`,
        );
        return r;
      };
      dry(["down"], `${h1}: hg teardown --force`, `ip netns del ${h3}`, `ip netns del ${lab}-ul`);
      dry(
        ["rm-node", h2],
        `${h2}: hg subnet release --store ${labDir(lab)}/subnets.json --node ${h2}`,
        `${h2}: hg teardown --force`,
        `ip netns del ${h2}`,
        `${h1}: hg peer sync --store ${labDir(lab)}/subnets.json --node ${h1}`,
      );
      dry(["add-node"], `ip netns add ${lab}-h4`, `${lab}-h4: hg netns add ${lab}-h4-c1`);
      dry(["up", "--nodes", "4", "--store", "file"], `ip netns add ${lab}-h4`);
      const again = dry(["up", "--nodes", "3", "--store", "file"]);
      assert.ok(!again.stdout.includes("ip netns add"), again.stdout);
      const json = hg(["--dry-run", "--json", "lab", "down", "--name", lab]);
      assert.deepEqual(
        { ...JSON.parse(json.stdout), commands: undefined },
        { changed: false, dryRun: true, name: lab, commands: undefined },
      );
      assertOneLine(
        hg(["--dry-run", "lab", "rm-node", `${lab}-h9`, "--name", lab]),
        2,
        new RegExp(`lab ${lab} has no host "${lab}-h9"`),
      );
      assert.equal(labSnapshot(lab), before);

      // rm-node: the removal is reported once, on stdout (stderr shows the commands it ran).
      const rm = hg(["lab", "rm-node", h3, "--name", lab]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout, `removed ${h3}\n`);
      assert.ok(!rm.stderr.split("\n").some((l) => /removed$/.test(l)), rm.stderr);
      const rmJson = hg(["--json", "lab", "rm-node", h2, "--name", lab]);
      assert.equal(rmJson.code, 0, rmJson.stderr);
      assert.deepEqual(JSON.parse(rmJson.stdout), { name: lab, removed: h2 });
      assert.equal(rmJson.stderr, "");
      assert.deepEqual(namespacesOf(lab), [h1, `${h1}-c1`, `${lab}-ul`].sort());
    }, "file");
  });

  it("a lab up that fails removes what it made (--etcd-members 3 alone means etcd)", () => {
    const lab = labName();
    try {
      const up = hg(["lab", "up", "--nodes", "2", "--etcd-members", "3", "--name", lab], {
        PATH: `${brokenEtcd()}:${process.env.PATH}`,
      });
      assertOneLine(up, 1, /^hg: etcd does not run/);
      assertNothingLeft(lab);
    } finally {
      hg(["lab", "down", "--name", lab]);
    }
  });

  it("a lab up that fails on a lab that is up takes back only what it added", async () => {
    await withLab(2, (lab) => {
      const before = labSnapshot(lab);
      const up = hg(["lab", "up", "--nodes", "3", "--store", "etcd", "--name", lab], {
        PATH: `${brokenEtcd()}:${process.env.PATH}`,
      });
      assertOneLine(up, 1, /^hg: etcd does not run/);
      assert.equal(labSnapshot(lab), before, "the lab is as it was: no h3, no registry");
    });
  });

  it("a lab up interrupted with SIGTERM removes its hosts, etcd, agents and files", async () => {
    const lab = labName();
    try {
      const [cmd, ...args] = hgArgv();
      const child = spawn(cmd, [...args, "lab", "up", "--nodes", "3", "--agent", "--name", lab], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d) => stderr += d);
      // Exit status 143, or (Deno's way of exiting from a signal handler) death by SIGTERM.
      const exited = new Promise<number | null>((r) =>
        child.on("close", (code, signal) => r(signal === "SIGTERM" ? 128 + 15 : code))
      );
      // Once the first agent runs, etcd and the hosts are there too: interrupt lab up then.
      const pidFile = `${labDir(lab)}/${lab}-h1.agent.pid`;
      const start = Date.now();
      while (!existsSync(pidFile) && child.exitCode === null) {
        assert.ok(Date.now() - start < 30_000, "the first agent started within 30 s");
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(processesOf(lab).length > 0, "etcd and an agent run");
      child.kill("SIGTERM");
      assert.equal(await exited, 128 + 15, `lab up was still running: ${stderr}`);
      assertNothingLeft(lab);
    } finally {
      hg(["lab", "down", "--name", lab]);
    }
  });
});
