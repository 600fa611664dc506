/**
 * The probe's IPv6 side: `nft monitor trace` lines of ICMPv6 echoes and neighbour discovery
 * (captured in a namespace: tests/fixtures/doctor/ipv6/trace-lines.txt, a ping with id 4242
 * from h1's container to h2's while h1's neighbour entries were flushed), the trace table's
 * rules, and the probe's plan for an IPv6 destination.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ipv6Context } from "../../../lib/doctor/ipv6_view.ts";
import { probePlan } from "../../../lib/doctor/probe_plan.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { tracePasses } from "../../../lib/probe/passes.ts";
import { parseMonitorLine, type TraceEvent } from "../../../lib/probe/trace_line.ts";
import { traceTableScript } from "../../../lib/probe/trace_table.ts";

const fixtures = new URL("../../fixtures/doctor/ipv6/", import.meta.url);
const lines = readFileSync(new URL("trace-lines.txt", fixtures), "utf8").split("\n");

describe("the probe on IPv6", () => {
  it("trace lines of ICMPv6 echoes: addresses, type, and the id and sequence nft prints as one word", () => {
    const events = lines.map(parseMonitorLine).filter((e): e is TraceEvent =>
      e !== undefined && e.kind !== "ruleset"
    );
    const packets = events.flatMap((e) => e.kind === "packet" ? [e.packet] : []);
    const request = packets.find((p) => p.icmpType === "echo-request");
    assert.deepEqual(
      request && {
        saddr: request.saddr,
        daddr: request.daddr,
        icmpId: request.icmpId,
        icmpSequence: request.icmpSequence,
        ttl: request.ttl,
      },
      { saddr: "fd00:1:1::2", daddr: "fd00:1:2::2", icmpId: 4242, icmpSequence: 1, ttl: 64 },
    );
    const reply = packets.find((p) => p.icmpType === "echo-reply");
    assert.equal(reply?.icmpId, 4242);
    assert.equal(reply?.iif, "eth0");
    // Neighbour discovery's word is no echo id.
    const solicit = packets.find((p) => p.icmpType === "nd-neighbor-solicit");
    assert.equal(solicit?.daddr, "ff02::1:ff00:1");
    assert.equal(solicit?.icmpId, undefined);
    const passes = tracePasses(events, new Map([["inet tr pre", "prerouting"]]));
    assert.deepEqual(
      passes.filter((p) => p.packet.icmpId === 4242).map((p) => [p.family, p.packet.icmpType]),
      [["inet", "echo-request"], ["netdev", "echo-reply"], ["inet", "echo-reply"]],
    );
  });

  it("the trace table traces ICMPv6 echoes of the probe's ids and neighbour discovery", () => {
    const script = traceTableScript("hgprobe_1_2", [4242], ["eth0"]);
    assert.match(script, /icmpv6 id 4242 meta nftrace set 1/);
    assert.match(
      script,
      /icmpv6 type \{ nd-neighbor-solicit, nd-neighbor-advert \} meta nftrace set 1/,
    );
    assert.match(script, /icmp id 4242 meta nftrace set 1/, "IPv4's echoes as before");
  });

  it("an IPv6 destination: the containers' IPv6 addresses, the IPv6 route's next hop, IPv6 headers", () => {
    const doc = JSON.parse(readFileSync(new URL("ipv6-healthy.json", fixtures), "utf8"));
    const here = ipv6Context(parseSnapshot(doc));
    const plan = probePlan(here, here.containers[0], parseAddress("fd00:1:2::2"));
    assert.equal(plan.to, "fd00:1:2::2");
    assert.deepEqual(plan.namespaces[0].routeQueries[0], ["fd00:1:2::2", "from", "fd00:1:1::2"]);
    assert.deepEqual(plan.nextHop, { address: "fd00:12::12", dev: "eth0" });
    // 1500 bytes less IPv6's 40 and ICMPv6's 8.
    assert.equal(plan.largeSize, 1452);
  });
});
