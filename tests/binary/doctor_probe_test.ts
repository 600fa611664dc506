/**
 * `hg doctor --to` with its probe on real labs: the verdict follows real echoes, a drop on the
 * peer host is named by the kernel's own trace and its fix works, and the probe's trace tables
 * never outlive it: a SIGKILLed doctor leaves its table, the next run removes it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { containerIp, hgArgv, hgIn, hostStatus, pings, run, sh, withLab } from "../e2e/harness.ts";

interface Diagnosis {
  ok: boolean;
  verdict: string;
  findings: { id: string; severity: string; where?: string; fix: string[] }[];
  probe?: { sent: number; answered: number; stoppedAt?: string; watched: { role: string }[] };
}

const store = (lab: string) => `/run/hg/lab-${lab}/subnets.json`;
const probeTables = (netns: string) =>
  run("nsenter", [`--net=/run/netns/${netns}`, "--", "nft", "list", "tables"]).stdout
    .split("\n").filter((l) => /hgprobe_\d+_\d+/.test(l));

function doctorArgs(lab: string): string[] {
  return [
    "doctor",
    "--json",
    "--store",
    store(lab),
    "--node",
    `${lab}-h1`,
    "--from",
    `${lab}-h1-c1`,
    "--peer-netns",
    `${lab}-h2`,
    "--to",
    containerIp(`${lab}-h2`),
  ];
}

function doctor(lab: string): Diagnosis & { code: number } {
  const r = hgIn(`${lab}-h1`, doctorArgs(lab));
  assert.ok(r.code === 0 || r.code === 1, `doctor exit ${r.code}: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Diagnosis), code: r.code };
}

const namespaces = (lab: string) => [`${lab}-h1`, `${lab}-h1-c1`, `${lab}-h2`, `${lab}-h2-c1`];

describe("hg doctor with its probe (e2e, root)", () => {
  it("a healthy lab: the probe's echoes are answered in every watched namespace, exit 0", async () => {
    await withLab(2, (lab) => {
      const d = doctor(lab);
      assert.equal(d.code, 0, d.verdict);
      assert.equal(d.ok, true);
      assert.ok(d.probe && d.probe.answered > 0 && d.probe.answered === d.probe.sent);
      assert.deepEqual(
        d.probe.watched.map((w) => w.role),
        ["source", "this host", "peer host", "destination"],
      );
      for (const ns of namespaces(lab)) assert.deepEqual(probeTables(ns), [], ns);
      // --no-probe: the static diagnosis, without a probe.
      const r = hgIn(`${lab}-h1`, [...doctorArgs(lab), "--no-probe"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as Diagnosis).probe, undefined);
      // --dry-run changes nothing: no trace table, no neighbour re-probe, so no probe at all.
      const dry = hgIn(`${lab}-h1`, ["--dry-run", ...doctorArgs(lab)]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal((JSON.parse(dry.stdout) as Diagnosis).probe, undefined);
    }, "file");
  });

  it("a FORWARD accept doctor cannot evaluate: undecided statically (exit 3), OK by the probe", async () => {
    await withLab(2, (lab) => {
      sh(
        `${lab}-h1`,
        "iptables -P FORWARD DROP && iptables -A FORWARD -m length --length 0:65535 -j ACCEPT",
      );
      assert.ok(pings(`${lab}-h1-c1`, containerIp(`${lab}-h2`)), "the odd firewall works");
      const still = hgIn(`${lab}-h1`, [...doctorArgs(lab), "--no-probe"]);
      assert.equal(still.code, 3, still.stderr);
      const d = JSON.parse(still.stdout) as Diagnosis & { status: string };
      assert.equal(d.status, "undecided");
      assert.equal(d.ok, false, "undecided is not called OK");
      assert.ok(d.findings.every((f) => f.severity !== "error"), "nor an error");
      assert.match(still.stderr, /^hg: doctor: undecided: /);
      const probed = doctor(lab);
      assert.equal(probed.code, 0, probed.verdict);
      assert.ok(probed.findings.every((f) => f.severity !== "error"));
    }, "file");
  });

  it("the peer host's FORWARD policy drops: the trace names it there, and its fix works", async () => {
    await withLab(2, (lab) => {
      const target = containerIp(`${lab}-h2`);
      sh(`${lab}-h2`, "iptables -P FORWARD DROP");
      assert.ok(!pings(`${lab}-h1-c1`, target), "the drop stops the ping");
      const d = doctor(lab);
      assert.equal(d.code, 1, d.verdict);
      assert.equal(d.findings[0].id, "firewall-drop", JSON.stringify(d.findings[0]));
      assert.equal(d.findings[0].where, `${lab}-h2`);
      assert.match(d.probe?.stoppedAt ?? "", /ip filter FORWARD/);
      for (const line of d.findings[0].fix.filter((l) => !l.startsWith("#"))) sh(`${lab}-h1`, line);
      assert.ok(pings(`${lab}-h1-c1`, target), `the fix (${d.findings[0].fix}) makes it work`);
      assert.equal(doctor(lab).ok, true);
    }, "file");
  });

  it("two containers on one host: the probe watches the destination container there too", async () => {
    await withLab(2, (lab) => {
      const h1 = `${lab}-h1`;
      const added = hgIn(h1, ["netns", "add", `${lab}-h1-c3`]);
      assert.equal(added.code, 0, added.stderr);
      const c3 = (hostStatus(h1).containers as { name: string; address: string }[])
        .find((c) => c.name === `${lab}-h1-c3`)!.address.split("/")[0];
      const args = ["doctor", "--json", "--from", `${lab}-h1-c1`, "--to", c3];
      const ok = JSON.parse(hgIn(h1, args).stdout) as Diagnosis;
      assert.equal(ok.ok, true, ok.verdict);
      assert.deepEqual(ok.probe?.watched.map((w) => w.role), [
        "source",
        "this host",
        "destination",
      ]);
      sh(`${lab}-h1-c3`, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
      assert.ok(!pings(`${lab}-h1-c1`, c3), "ignored echoes stop the ping");
      const r = hgIn(h1, args);
      assert.equal(r.code, 1, r.stderr);
      const d = JSON.parse(r.stdout) as Diagnosis;
      assert.equal(d.findings[0].id, "echo-ignored", JSON.stringify(d.findings[0]));
      for (const line of d.findings[0].fix.filter((l) => !l.startsWith("#"))) sh(h1, line);
      assert.ok(pings(`${lab}-h1-c1`, c3), `the fix (${d.findings[0].fix}) makes it work`);
    }, "file");
  });

  it("a doctor killed mid-probe leaves its table; the next run removes it", async () => {
    await withLab(2, async (lab) => {
      // A drop makes the probe wait for its echoes: time to kill it while its tables stand.
      sh(`${lab}-h2`, "iptables -P FORWARD DROP");
      const [cmd, ...rest] = hgArgv();
      const child = spawn(
        "nsenter",
        [`--net=/run/netns/${lab}-h1`, "--", cmd, ...rest, ...doctorArgs(lab)],
        { stdio: "ignore" },
      );
      const deadline = Date.now() + 20_000;
      while (probeTables(`${lab}-h2`).length === 0) {
        assert.ok(Date.now() < deadline, "the probe installed its table");
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGKILL");
      await new Promise((r) => child.on("close", r));
      const left = namespaces(lab).filter((ns) => probeTables(ns).length > 0);
      assert.ok(left.length > 0, "SIGKILL leaves the trace table behind");
      const d = doctor(lab);
      assert.equal(d.findings[0].id, "firewall-drop");
      for (const ns of namespaces(lab)) assert.deepEqual(probeTables(ns), [], `${ns} is clean`);
    }, "file");
  });
});
