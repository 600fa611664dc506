/**
 * The probe's parsers on output captured from real runs (tests/fixtures/probe/): `nft -a monitor`
 * while echoes crossed a host whose forward chain jumps to a rejecting rule and whose nat
 * prerouting rewrites one destination, and `nstat -asz` of that host.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { counterDeltas, parseNstat } from "../../../lib/probe/nstat.ts";
import { tracePasses } from "../../../lib/probe/passes.ts";
import { parseMonitorLine, type TraceEvent } from "../../../lib/probe/trace_line.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/probe/${name}`, import.meta.url), "utf8");

const events = fixture("trace_reject_dnat.txt").split("\n").flatMap((line) => {
  const e = parseMonitorLine(line);
  return e && e.kind !== "ruleset" ? [e] : [];
}) as TraceEvent[];

describe("nft monitor trace lines", () => {
  it("reads the headers of a packet line", () => {
    const first = events.find((e) => e.kind === "packet" && e.chain === "forward_main");
    assert.ok(first && first.kind === "packet");
    assert.deepEqual(first.packet, {
      iif: "br0",
      oif: "eth0",
      saddr: "10.5.1.2",
      daddr: "10.0.0.2",
      ttl: 63,
      ipId: 13158,
      length: 84,
      icmpType: "echo-request",
      icmpId: 4242,
      icmpSequence: 1,
    });
  });

  it("reads a rule with its handle and verdict, a reject as the kernel's drop", () => {
    const reject = events.find((e) => e.kind === "rule" && e.chain === "sub");
    assert.ok(reject && reject.kind === "rule");
    assert.equal(reject.handle, 4);
    assert.equal(reject.verdict, "drop");
    assert.match(reject.rule, /^ip daddr 10\.0\.0\.2 .* reject with icmp host-prohibited$/);
  });

  it("reads policy and ruleset lines, and nothing from an empty line", () => {
    assert.deepEqual(parseMonitorLine("trace id 89a0b803 ip filter FORWARD policy drop "), {
      traceId: "89a0b803",
      family: "ip",
      table: "filter",
      chain: "FORWARD",
      kind: "policy",
      verdict: "drop",
    });
    assert.deepEqual(parseMonitorLine("add table inet hgprobe_1_2 # handle 6"), {
      kind: "ruleset",
      text: "add table inet hgprobe_1_2 # handle 6",
    });
    assert.equal(parseMonitorLine("   "), undefined);
  });
});

describe("passes", () => {
  const passes = tracePasses(
    events,
    new Map([
      ["inet f forward_main", "forward"],
      ["ip n pre_nat", "prerouting"],
      ["ip filter FORWARD", "forward"],
    ]),
  );

  it("a jump keeps the base chain; the rule in the jumped-to chain decides", () => {
    const rejected = passes.find((p) =>
      p.chain === "forward_main" && p.packet.daddr === "10.0.0.2"
    );
    assert.ok(rejected);
    assert.equal(rejected.hook, "forward");
    assert.equal(rejected.verdict, "drop");
    assert.equal(rejected.decidedBy?.chain, "sub");
    assert.equal(rejected.decidedBy?.handle, 4);
  });

  it("a chain that returns to its base chain ends with the base chain's policy", () => {
    const passed = passes.find((p) => p.chain === "forward_main" && p.packet.daddr === "10.0.0.7");
    assert.equal(passed?.verdict, "accept");
    assert.equal(passed?.decidedBy?.rule, "policy accept");
  });

  it("a DNAT rule accepts, and the same packet (ip id) goes on with the new address", () => {
    const nat = passes.find((p) => p.decidedBy?.rule.includes("dnat to 10.0.0.7"));
    assert.ok(nat);
    assert.equal(nat.packet.daddr, "10.0.0.9");
    const after = passes.find((p) => p.packet.ipId === nat.packet.ipId && p.chain === "FORWARD");
    assert.equal(after?.packet.daddr, "10.0.0.7");
  });

  it("the probe's own table only marks hooks", () => {
    const other = passes.filter((p) => p.table === "hgprobe_1");
    assert.ok(other.length > 0 && other.every((p) => !p.probe), "hgprobe_1 is no probe's name");
    const marked = tracePasses(
      [{ ...events[0], table: "hgprobe_7_9" } as TraceEvent],
      new Map(),
    );
    assert.equal(marked[0]?.probe, true);
  });
});

describe("nstat", () => {
  it("reads counters and the ones that grew", () => {
    const before = parseNstat(fixture("nstat_host.txt"));
    assert.equal(before.get("IcmpOutDestUnreachs"), 2);
    assert.equal(before.get("IpForwDatagrams"), 4);
    assert.ok(before.size > 100, "every counter, zeros included");
    const after = new Map(before).set("IpInAddrErrors", 3).set("IpForwDatagrams", 4);
    assert.deepEqual([...counterDeltas(before, after)], [["IpInAddrErrors", 3]]);
  });
});
