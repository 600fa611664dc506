import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HgError, InputError } from "../../../lib/errors.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, nthSubnet, parsePrefix } from "../../../lib/net/prefix.ts";
import { reconcilePeers } from "../../../lib/peers/reconcile.ts";
import type { PeerRequest } from "../../../lib/peers/request.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { capturedHost, dualHost } from "./fixture_state.ts";

const peer = (subnet: string, via: string): PeerRequest => ({
  subnet: parsePrefix(subnet),
  via: parseAddress(via),
});

describe("reconcilePeers", () => {
  it("sync: adds missing, keeps right ones, replaces moved ones and removes hg routes of departed peers", () => {
    const host = capturedHost(); // hg route 1.1.2.0/24 via 10.0.12.7
    const keep = reconcilePeers(host, [
      peer("1.1.2.0/24", "10.0.12.7"),
      peer("1.1.4.0/24", "10.0.12.9"),
    ], "sync");
    assert.deepEqual(renderPlan(keep.plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.9 dev eth0 proto 104",
    ]);
    assert.equal(keep.unchanged, 1);
    const moved = reconcilePeers(host, [peer("1.1.2.0/24", "10.0.12.8")], "sync");
    assert.deepEqual(renderPlan(moved.plan), [
      "ip route replace 1.1.2.0/24 via 10.0.12.8 dev eth0 proto 104",
    ]);
    const gone = reconcilePeers(host, [], "sync");
    assert.deepEqual(renderPlan(gone.plan), ["ip route del 1.1.2.0/24 proto 104"]);
  });

  it("routed peers carry their subnet and gateway as the plan writes them, routes that stay too", () => {
    // dualHost has hg's routes to 1.1.101.0/24 via 10.0.12.12 and fd00:1:0:65::/64 via fd00:12::12.
    const requests = [
      peer("1.1.101.0/24", "10.0.12.12"),
      peer("fd00:1:0:65::/64", "fd00:12::12"),
      peer("1.1.102.0/24", "10.0.12.13"),
      peer("fd00:1:0:66::/64", "fd00:12:0:0::13"),
    ];
    const { plan, routed, unchanged } = reconcilePeers(dualHost(), requests, "sync");
    assert.equal(unchanged, 2);
    assert.deepEqual(renderPlan(plan), [
      "ip route replace 1.1.102.0/24 via 10.0.12.13 dev eth0 proto 104",
      "ip route replace fd00:1:0:66::/64 via fd00:12::13 dev eth0 proto 104",
    ]);
    assert.deepEqual(routed.map((r) => [r.subnetText, r.viaText]), [
      ["1.1.101.0/24", "10.0.12.12"],
      ["fd00:1:0:65::/64", "fd00:12::12"],
      ["1.1.102.0/24", "10.0.12.13"],
      ["fd00:1:0:66::/64", "fd00:12::13"],
    ]);
    for (const r of routed) {
      assert.equal(r.subnetText, formatPrefix(r.request.subnet));
      assert.equal(r.viaText, formatAddress(r.request.via));
    }
  });

  it("add: leaves hg's other routes alone", () => {
    const { plan } = reconcilePeers(capturedHost(), [peer("1.1.4.0/24", "10.0.12.9")], "add");
    assert.deepEqual(renderPlan(plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.9 dev eth0 proto 104",
    ]);
  });

  it("reports each bad peer with its reason and still routes the good ones", () => {
    const requests = [
      peer("0.0.0.0/0", "10.0.12.9"),
      peer("1.1.5.0/24", "10.0.12.11"), // this host
      peer("1.1.6.0/24", "192.168.50.1"), // off-link
      peer("1.1.1.0/24", "10.0.12.9"), // the local bridge's subnet
      peer("1.1.3.0/24", "10.0.12.9"), // an admin's route
      peer("1.1.8.0/22", "10.0.12.9"), // overlaps the next one
      peer("1.1.9.0/24", "10.0.12.10"),
      peer("1.1.20.0/24", "10.0.12.20"), // good
      peer("1.1.20.0/24", "10.0.12.20"), // the same peer twice: one route
    ];
    const { plan, rejected } = reconcilePeers(capturedHost(), requests, "sync");
    assert.deepEqual(renderPlan(plan), [
      "ip route replace 1.1.20.0/24 via 10.0.12.20 dev eth0 proto 104",
      "ip route del 1.1.2.0/24 proto 104",
    ]);
    assert.deepEqual(rejected.map((r) => formatPrefix(r.request.subnet)), [
      "0.0.0.0/0",
      "1.1.5.0/24",
      "1.1.6.0/24",
      "1.1.1.0/24",
      "1.1.3.0/24",
      "1.1.8.0/22",
      "1.1.9.0/24",
    ]);
    const reasons = rejected.map((r) => r.error.message);
    assert.match(reasons[1], /this host's own address/);
    assert.match(reasons[2], /L2 segment/);
    assert.match(reasons[3], /address on cni0/);
    assert.match(reasons[4], /hg did not make/);
    assert.ok(rejected[4].error instanceof HgError && !(rejected[4].error instanceof InputError));
    assert.match(reasons[5], /overlaps 1\.1\.9\.0\/24 \(another peer's subnet\)/);
    assert.match(reasons[6], /overlaps 1\.1\.8\.0\/22/);
  });

  it("two different peers claiming one subnet are both refused", () => {
    const { plan, rejected } = reconcilePeers(capturedHost(), [
      peer("1.1.7.0/24", "10.0.12.20"),
      peer("1.1.7.0/24", "10.0.12.21"),
    ], "add");
    assert.deepEqual(plan, []);
    assert.equal(rejected.length, 2);
  });

  it("plans 10,000 peers in one pass, and nothing once they are installed", () => {
    const network = parsePrefix("100.64.0.0/10");
    const requests = Array.from(
      { length: 10_000 },
      (_, i) => ({ subnet: nthSubnet(network, 24, i), via: parseAddress("10.0.12.7") }),
    );
    const host = capturedHost();
    const first = reconcilePeers(host, requests, "sync");
    assert.equal(first.plan.length, 10_001, "10,000 routes and the removal of the old hg route");
    assert.equal(first.rejected.length, 0);
    const installed = {
      ...host,
      routes: [
        ...host.routes.filter((r) => r.protocol !== 104),
        ...requests.map((r) => ({
          type: "unicast" as const,
          dst: r.subnet,
          gateway: r.via,
          dev: "eth0",
          protocol: 104,
          scope: 0,
          metric: 0,
          flags: [],
        })),
      ],
    };
    const second = reconcilePeers(installed, requests, "sync");
    assert.deepEqual(second.plan, []);
    assert.equal(second.unchanged, 10_000);
  });
});
