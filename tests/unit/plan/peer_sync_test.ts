import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { makeNetworkConfig } from "../../../lib/store/config.ts";
import { subnetOfKey } from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { capturedHost } from "./fixture_state.ts";

const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
const lease = (key: string, ip: string, node?: string): RegistryEntry => ({
  key,
  lease: {
    subnet: subnetOfKey(key) ?? parsePrefix(key.replace("-", "/")),
    attrs: { publicIp: parseAddress(ip), backendType: "host-gw", node },
  },
});

describe("planPeerSync (the captured host: cni0 1.1.1.0/24, eth0 10.0.12.11/22)", () => {
  it("routes the other hosts' leases, skips its own, and removes routes of hosts that left", () => {
    const sync = planPeerSync(capturedHost(), config, [
      lease("1.1.1.0-24", "10.0.12.11", "me"),
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.5.0-24", "10.0.12.15"),
    ], { node: "me", bridge: "cni0" });
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.14 dev eth0 proto 104",
      "ip route replace 1.1.5.0/24 via 10.0.12.15 dev eth0 proto 104",
      "ip route del 1.1.2.0/24 proto 104",
    ]);
    assert.deepEqual(sync.refused, []);
    assert.deepEqual(sync.peers.map((p) => [p.subnet, p.node ?? null]), [["1.1.4.0/24", "h4"], [
      "1.1.5.0/24",
      null,
    ]]);
  });

  it("knows a lease without a node name (flanneld's) as its own by the bridge's subnet", () => {
    const sync = planPeerSync(capturedHost(), config, [
      lease("1.1.1.0-24", "10.0.12.11"),
      lease("1.1.2.0-24", "10.0.12.7"),
    ], {
      node: "me",
      bridge: "cni0",
    });
    assert.deepEqual(sync.plan, []);
    assert.equal(sync.unchanged, 1);
  });

  it("refuses every poisoned lease with its reason and installs the good one", () => {
    const entries: RegistryEntry[] = [
      lease("0.0.0.0-0", "10.0.12.12", "x0"),
      lease("9.9.9.0-24", "10.0.12.12", "x1"),
      lease("1.1.0.0-20", "10.0.12.12", "x2"),
      lease("1.1.1.0-24", "10.0.12.50", "thief"),
      lease("1.1.6.0-24", "10.0.12.11", "x4"),
      lease("1.1.7.0-24", "192.168.77.1", "x5"),
      { key: "1.1.8.0-24", problem: "value is not JSON" },
      lease("1.1.3.0-24", "10.0.12.9", "x6"),
      lease("1.1.9.0-24", "10.0.12.19", "good"),
    ];
    const sync = planPeerSync(capturedHost(), config, entries, { node: "me", bridge: "cni0" });
    const reasons = Object.fromEntries(sync.refused.map((r) => [r.key, r.reason]));
    assert.match(reasons["0.0.0.0-0"], /outside the cluster network 1\.1\.0\.0\/16/);
    assert.match(reasons["9.9.9.0-24"], /outside the cluster network/);
    assert.match(reasons["1.1.0.0-20"], /not a \/24/);
    assert.match(reasons["1.1.1.0-24"], /overlaps 1\.1\.1\.0\/24 \(address on cni0\)/);
    assert.match(reasons["1.1.6.0-24"], /this host's own address/);
    assert.match(reasons["1.1.7.0-24"], /L2 segment/);
    assert.match(reasons["1.1.8.0-24"], /not JSON/);
    assert.match(reasons["1.1.3.0-24"], /hg did not make/);
    assert.equal(sync.refused.length, 8);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.9.0/24 via 10.0.12.19 dev eth0 proto 104",
      "ip route del 1.1.2.0/24 proto 104",
    ]);
  });

  it("refuses two leases that overlap each other", () => {
    const sync = planPeerSync(capturedHost(), makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24), [
      lease("1.1.9.0-24", "10.0.12.19", "a"),
      lease("1.1.9.0-24", "10.0.12.20", "b"),
    ], { node: "me", bridge: "cni0" });
    assert.equal(sync.refused.length, 2);
  });
});
