/**
 * Probes captured from real labs (tests/fixtures/probe/*.json, made by capture_probe.ts: the
 * snapshots of both hosts and the probe's result, each with one fault) replayed through the pure
 * half of doctor: where the packets stopped, the cause, and the verdict.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { doctorContext } from "../../../lib/doctor/context.ts";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { judgeProbe } from "../../../lib/doctor/verdict.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { pathView } from "../../../lib/probe/path.ts";
import { readProbeFixture } from "../../support/probe_fixture.ts";

function replay(name: string) {
  const f = readProbeFixture(
    readFileSync(new URL(`../../fixtures/probe/${name}.json`, import.meta.url), "utf8"),
  );
  const obs = parseSnapshot(f.here);
  const here = doctorContext(obs);
  const from = here.containers.find((c) => c.name === f.from)!;
  const to = parseAddress(f.to);
  const local = diagnose(obs, { to, from: f.from });
  const view = pathView(f.result);
  const d = judgeProbe({
    local,
    here,
    peer: { netns: f.peerNetns, ctx: doctorContext(parseSnapshot(f.peer)) },
    from,
    to,
    result: f.result,
  });
  return { view, d, f };
}

describe("captured probes replayed", () => {
  it("healthy: every echo answered, every hook on the way seen, OK", () => {
    const { view, d } = replay("healthy");
    assert.equal(view.answered, true);
    assert.equal(view.stop, undefined);
    assert.deepEqual(view.request.map((h) => h.role), [
      "source",
      "this host",
      "peer host",
      "destination",
    ]);
    assert.ok(
      view.request[1].hooks.includes("forward") && view.request[1].hooks.includes("postrouting"),
    );
    assert.ok(view.request[3].hooks.includes("input"), "the destination took the request in");
    assert.equal(d.status, "ok");
    assert.ok(d.findings.every((f) => f.severity !== "error"));
  });

  it("the peer's FORWARD policy drop: the trace's verdict, on the peer", () => {
    const { view, d } = replay("peer-forward-drop");
    assert.equal(view.stop?.kind, "dropped");
    assert.equal(view.stop?.role, "peer host");
    assert.equal(d.findings[0].id, "firewall-drop");
    assert.equal(d.findings[0].where, "lab-h2");
    assert.match(d.findings[0].evidence[0], /ip filter FORWARD \(hook forward\): policy drop/);
    assert.match(d.findings[0].fix[0], /^ip netns exec lab-h2 iptables -t filter -I FORWARD 1 /);
  });

  it("DNAT on the peer: the rewrite named with its rule's handle, not where the packets died", () => {
    const { view, d } = replay("peer-dnat");
    assert.ok(view.rewrites.some((r) => r.field === "daddr" && r.to.endsWith(".77")));
    assert.equal(d.findings[0].id, "nat-rewrite");
    assert.match(
      d.findings[0].fix[0],
      /^ip netns exec lab-h2 nft delete rule ip nat PREROUTING handle \d+$/,
    );
  });

  it("forwarding off on the peer's uplink: not routed there, IpInAddrErrors, forwarding-off", () => {
    const { view, d } = replay("peer-eth0-forwarding-off");
    assert.equal(view.stop?.kind, "not-routed");
    assert.equal(view.stop?.role, "peer host");
    if (view.stop?.kind === "not-routed") {
      assert.ok(view.stop.counters.some(([name]) => name === "IpInAddrErrors"));
      assert.match(view.stop.route?.error ?? "", /No route to host/);
    }
    assert.equal(d.findings[0].id, "forwarding-off");
    assert.ok(
      d.findings[0].fix.some((l) => /eth0\.forwarding=1/.test(l)),
      d.findings[0].fix.join("; "),
    );
  });

  it("a static neighbour with a wrong MAC: frames the peer saw only at netdev ingress", () => {
    const { view, d } = replay("static-mac-wrong");
    assert.equal(view.stop?.kind, "not-delivered");
    assert.equal(d.findings[0].id, "neighbour-wrong");
    assert.deepEqual(d.findings[0].fix, ["ip neigh del 10.0.12.12 dev eth0"]);
  });

  it("echo ignored in the destination: the requests arrived, nothing answered", () => {
    const { view, d } = replay("echo-ignored");
    assert.equal(view.stop?.kind, "not-answered");
    assert.equal(d.findings[0].id, "echo-ignored");
  });

  it("a fwmark rule: the route asked again with the mark the trace shows", () => {
    const { f, d } = replay("fwmark-policy");
    const peer = f.result.namespaces.find((n) => n.role === "peer host")!;
    assert.match(peer.routes[1].query, / mark 0x42$/);
    assert.equal(d.findings[0].id, "policy-route");
    assert.deepEqual(d.findings[0].fix, ["ip netns exec lab-h2 ip rule del pref 104"]);
  });
});
