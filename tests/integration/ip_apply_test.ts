/**
 * The apply path with the real `ip` in a namespace of the test's own: reads and then writes
 * through one session, what a failing batch line leaves behind and how it is reported (the
 * error names the line; the lines before it stay applied, none after it runs). Needs root, as
 * the e2e tiers do.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, beforeEach, describe, it } from "node:test";
import { ipBatch, IpCommandError } from "../../lib/ip/exec.ts";
import { IpSession } from "../../lib/ip/session.ts";
import { applyPlan } from "../../lib/plan/apply.ts";
import { ipStep } from "../../lib/plan/step.ts";

const NS = `hgtest-apply-${process.pid}`;

function ip(...args: string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The destinations of the namespace's proto 104 routes, sorted. */
function hgRoutes(): string[] {
  return (JSON.parse(ip("-n", NS, "-j", "route", "show", "proto", "104") || "[]") as {
    dst: string;
  }[]).map((r) => r.dst).sort();
}

const routeArgs = (dst: string) => [
  "route",
  "replace",
  dst,
  "via",
  "10.9.0.2",
  "dev",
  "d0",
  "proto",
  "104",
];
const route = (dst: string) => ipStep(routeArgs(dst), NS);

before(() => {
  ip("netns", "add", NS);
  ip("-n", NS, "link", "add", "d0", "type", "veth", "peer", "name", "d1");
  ip("-n", NS, "link", "set", "d1", "up");
  ip("-n", NS, "addr", "add", "10.9.0.1/24", "dev", "d0");
  ip("-n", NS, "link", "set", "d0", "up");
});
after(() => {
  spawnSync("ip", ["netns", "del", NS]);
});
beforeEach(() => {
  ip("-n", NS, "route", "flush", "proto", "104");
});

describe("applying through ip", () => {
  it("reads and then writes through one session", async () => {
    const session = IpSession.open(NS);
    const [routes, links] = await session.read([["route", "show", "table", "main"], [
      "link",
      "show",
    ]]);
    assert.deepEqual(
      (JSON.parse(routes) as { dst: string }[]).map((r) => r.dst),
      ["10.9.0.0/24"],
    );
    assert.ok((JSON.parse(links) as { ifname: string }[]).some((l) => l.ifname === "d0"));
    // A second read after the first is answered by the same process.
    const [again] = await session.read([["route", "show", "proto", "104"]]);
    assert.deepEqual(JSON.parse(again), []);
    await applyPlan([route("100.64.0.0/24"), route("100.64.1.0/24")], session);
    assert.deepEqual(hgRoutes(), ["100.64.0.0/24", "100.64.1.0/24"]);
  });

  it("reads a table whose JSON line spans many pipe reads, and the read after it", async () => {
    // 3,000 routes print one JSON line of ~300 KB, which reaches hg in many pieces.
    const lines = Array.from(
      { length: 3000 },
      (_, i) => `route add 100.${64 + (i >> 8)}.${i & 255}.0/24 via 10.9.0.2 proto 104`,
    );
    const r = spawnSync("ip", ["-n", NS, "-batch", "-"], { input: lines.join("\n") + "\n" });
    assert.equal(r.status, 0, String(r.stderr));
    const session = IpSession.open(NS);
    const [routes, links] = await session.read([["route", "show", "proto", "104"], [
      "link",
      "show",
      "d0",
    ]]);
    await session.close();
    assert.ok(routes.length > 200_000, `one line of ${routes.length} characters`);
    assert.deepEqual(
      (JSON.parse(routes) as { dst: string }[]).map((x) => x.dst).sort(),
      hgRoutes(),
    );
    assert.equal(hgRoutes().length, 3000);
    assert.deepEqual((JSON.parse(links) as { ifname: string }[]).map((l) => l.ifname), ["d0"]);
  });

  it("names a failing line after the session's reads; the lines before it stay applied", async () => {
    const session = IpSession.open(NS);
    await session.read([["route", "show", "table", "main"], ["addr", "show"]]);
    const failed = await applyPlan([
      route("100.64.0.0/24"),
      // No such route: ip stops here ("Command failed -:4" counts the two reads too).
      ipStep(["route", "del", "100.64.9.0/24", "proto", "104"], NS),
      route("100.64.2.0/24"),
    ], session).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof IpCommandError, `expected an IpCommandError, got ${failed}`);
    assert.match(
      failed.message,
      new RegExp(
        `^"ip route del 100\\.64\\.9\\.0/24 proto 104" in namespace ${NS} failed: RTNETLINK answers: No such process`,
      ),
    );
    assert.notEqual(failed.exitCode, 0);
    assert.deepEqual(hgRoutes(), ["100.64.0.0/24"]);
  });

  it("names a failing line of a batch without a session the same way", async () => {
    ip("-n", NS, "route", "add", "100.64.1.0/24", "via", "10.9.0.2", "proto", "104");
    const failed = await ipBatch([
      routeArgs("100.64.0.0/24"),
      ["route", "add", "100.64.1.0/24", "via", "10.9.0.2", "proto", "104"],
      routeArgs("100.64.2.0/24"),
    ], NS).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof IpCommandError, `expected an IpCommandError, got ${failed}`);
    assert.match(
      failed.message,
      new RegExp(
        `^"ip route add 100\\.64\\.1\\.0/24 via 10\\.9\\.0\\.2 proto 104" in namespace ${NS} failed: RTNETLINK answers: File exists`,
      ),
    );
    assert.deepEqual(hgRoutes(), ["100.64.0.0/24", "100.64.1.0/24"]);
  });

  it("ends the session and changes nothing for an empty plan", async () => {
    ip("-n", NS, "route", "add", "100.64.5.0/24", "via", "10.9.0.2", "proto", "104");
    const session = IpSession.open(NS);
    await session.read([["route", "show", "table", "main"]]);
    await applyPlan([], session);
    assert.deepEqual(hgRoutes(), ["100.64.5.0/24"]);
    // The process is gone: a read now fails instead of waiting for an answer.
    await assert.rejects(session.read([["link", "show"]]));
  });
});
