/**
 * The sync's indexing (routes and leases meet by destination, IPv4 ones keyed by number; common
 * gateways keyed by number; each request carries its lease): odd-but-fine registries and hosts
 * give the plans and refusals they gave before.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { HostState } from "../../../lib/host/state.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { parseRegistryFile } from "../../../lib/store/file/format.ts";
import { makeNetworkConfig, makeSubnetRange } from "../../../lib/store/config.ts";
import { leaseAttrsOf, leaseOf, subnetsOfKey } from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { capturedHost, dualHost } from "./fixture_state.ts";

const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
const self = { node: "me", bridge: "cni0" };

const lease = (key: string, ip: string, node?: string): RegistryEntry => ({
  key,
  lease: {
    subnet: parsePrefix(key.replace("-", "/")),
    attrs: { publicIp: parseAddress(ip), backendType: "host-gw", node },
  },
});

/** The captured host with its routes to 1.1.2.0/24 and beyond replaced by `routes` (ip -j). */
function hostWith(routes: readonly Record<string, unknown>[]): HostState {
  const host = capturedHost();
  const kept = host.routes.filter((r) =>
    !(r.dst.address.family === 4 && r.dst.length === 24 &&
      r.gateway !== undefined)
  );
  return { ...host, routes: [...kept, ...parseRoutes([...routes], 4)] };
}

const hgRoute = (dst: string, via: string, extra: Record<string, unknown> = {}) => ({
  dst,
  gateway: via,
  dev: "eth0",
  protocol: "104",
  flags: [],
  ...extra,
});

describe("peer sync: leases meet routes by destination", () => {
  it("takes an hg route of another metric as the lease's route (as before: the metric is not compared)", () => {
    const host = hostWith([hgRoute("1.1.2.0/24", "10.0.12.7", { metric: 50 })]);
    const sync = planPeerSync(host, config, [lease("1.1.2.0-24", "10.0.12.7", "h2")], self);
    assert.deepEqual(renderPlan(sync.plan), []);
    assert.equal(sync.unchanged, 1);
    assert.deepEqual(sync.peers.map((p) => [p.subnet, p.via, p.node]), [
      ["1.1.2.0/24", "10.0.12.7", "h2"],
    ]);
  });

  it("refuses a lease whose subnet has a route of another protocol, and routes the others", () => {
    for (const protocol of ["4", "static", "2"]) {
      const host = hostWith([
        { dst: "1.1.3.0/24", gateway: "10.0.12.9", dev: "eth0", protocol, flags: [] },
        hgRoute("1.1.2.0/24", "10.0.12.7"),
      ]);
      const sync = planPeerSync(host, config, [
        lease("1.1.2.0-24", "10.0.12.7", "h2"),
        lease("1.1.3.0-24", "10.0.12.9", "h3"),
      ], self);
      assert.deepEqual(renderPlan(sync.plan), [], protocol);
      assert.deepEqual(sync.refused.map((r) => r.key), ["1.1.3.0-24"]);
      assert.match(
        sync.refused[0].reason,
        /^a route to 1\.1\.3\.0\/24 that hg did not make exists \(proto \w+ via 10\.0\.12\.9 dev eth0\)/,
      );
    }
  });

  it("replaces the one route whose gateway changed and leaves the rest", () => {
    const host = hostWith([
      hgRoute("1.1.2.0/24", "10.0.12.7"),
      hgRoute("1.1.4.0/24", "10.0.12.14"),
      hgRoute("1.1.5.0/24", "10.0.12.15"),
    ]);
    const sync = planPeerSync(host, config, [
      lease("1.1.2.0-24", "10.0.12.7", "h2"),
      lease("1.1.4.0-24", "10.0.12.24", "h4"),
      lease("1.1.5.0-24", "10.0.12.15", "h5"),
    ], self);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.24 dev eth0 proto 104",
    ]);
    assert.equal(sync.unchanged, 2);
    assert.deepEqual(sync.peers.map((p) => p.via), ["10.0.12.7", "10.0.12.24", "10.0.12.15"]);
  });

  it("tells a /24 from a /25 at the same address", () => {
    const host = hostWith([hgRoute("1.1.4.0/25", "10.0.12.14")]);
    const sync = planPeerSync(host, config, [lease("1.1.4.0-24", "10.0.12.14", "h4")], self);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.14 dev eth0 proto 104",
      "ip route del 1.1.4.0/25 proto 104",
    ]);
    assert.equal(sync.unchanged, 0);
  });

  it("routes a subnet listed twice with one gateway once, and refuses both when the gateways differ", () => {
    const same = planPeerSync(capturedHost(), config, [
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.2.0-24", "10.0.12.7", "h2"),
    ], self);
    assert.deepEqual(renderPlan(same.plan), [
      "ip route replace 1.1.4.0/24 via 10.0.12.14 dev eth0 proto 104",
    ]);
    assert.deepEqual(same.refused, []);

    const differ = planPeerSync(capturedHost(), config, [
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.4.0-24", "10.0.12.15", "h5"),
      lease("1.1.2.0-24", "10.0.12.7", "h2"),
    ], self);
    assert.deepEqual(renderPlan(differ.plan), []);
    assert.deepEqual(differ.refused, [
      {
        key: "1.1.4.0-24",
        reason: "subnet 1.1.4.0/24 overlaps 1.1.4.0/24 (another peer's subnet) on this host",
      },
      {
        key: "1.1.4.0-24",
        reason: "subnet 1.1.4.0/24 overlaps 1.1.4.0/24 (another peer's subnet) on this host",
      },
    ]);
  });

  it("refuses each of many leases through one gateway with that gateway's reason, naming each key", () => {
    const entries = Array.from({ length: 40 }, (_, i) => lease(`1.1.${10 + i}.0-24`, "10.0.12.11"));
    const sync = planPeerSync(capturedHost(), config, entries, self);
    assert.equal(sync.refused.length, 40);
    assert.deepEqual(sync.refused.map((r) => r.key), entries.map((e) => e.key));
    assert.ok(sync.refused.every((r) => /this host's own address/.test(r.reason)));
  });
});

describe("peer sync: IPv6 and dual-stack leases meet their routes by text", () => {
  const dualConfig = makeNetworkConfig(
    parsePrefix("1.1.0.0/16"),
    24,
    {},
    undefined,
    makeSubnetRange(parsePrefix("fd00:1::/56")),
  );
  const registry = parseRegistryFile(
    readFileSync(new URL("../../fixtures/dual/registry.json", import.meta.url), "utf8"),
    "registry.json",
  );
  const entries = (change: (attrs: Record<string, unknown>) => Record<string, unknown>) =>
    Object.entries(registry.leases).map(([key, l]): RegistryEntry => ({
      key,
      lease: leaseOf(subnetsOfKey(key)!, leaseAttrsOf(change({ ...l.attrs }))),
    }));

  it("finds both families' routes right", () => {
    const sync = planPeerSync(dualHost(), dualConfig, entries((a) => a), {
      node: "h1",
      bridge: "cni0",
    });
    assert.deepEqual(renderPlan(sync.plan), []);
    assert.equal(sync.unchanged, 2);
  });

  it("replaces only the IPv6 route when only the IPv6 gateway changed", () => {
    const sync = planPeerSync(
      dualHost(),
      dualConfig,
      entries((a) => a.HgNode === "h2" ? { ...a, PublicIPv6: "fd00:12::22" } : a),
      { node: "h1", bridge: "cni0" },
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace fd00:1:0:65::/64 via fd00:12::22 dev eth0 proto 104",
    ]);
    assert.equal(sync.unchanged, 1);
  });
});
