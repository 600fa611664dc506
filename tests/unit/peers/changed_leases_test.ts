/**
 * Planning the changed leases alone (lib/peers/changed_leases.ts): for each kind of change (a
 * new lease, a departed one, one moved to another holder, one refused for a route in its way,
 * a dual-stack lease) the plan and refusals are what a sync of the whole registry plans for that
 * lease, on a host whose routes are many; the blocker sends a VXLAN network, this host's own
 * lease and overlapping leases to the whole plan; the host as the plan leaves it is the host
 * after applying it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import {
  formatPrefix,
  parsePrefix,
  type Prefix,
  prefixesOverlap,
} from "../../../lib/net/prefix.ts";
import {
  amendByPlan,
  changedLeasesBlocker,
  indexHost,
  type LeaseChangeOf,
  narrowHost,
  planChangedLeases,
  touchedSubnets,
} from "../../../lib/peers/changed_leases.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderStep } from "../../../lib/plan/render.ts";
import { ipStep } from "../../../lib/plan/step.ts";
import { HOST_GW, makeNetworkConfig, makeSubnetRange } from "../../../lib/store/config.ts";
import { leaseKey } from "../../../lib/store/lease.ts";
import type { Lease, RegistryEntry } from "../../../lib/store/store.ts";
import { linkJson } from "../agent/memory_host.ts";

const CONFIG = makeNetworkConfig(
  parsePrefix("1.1.0.0/16"),
  24,
  {},
  HOST_GW,
  makeSubnetRange(parsePrefix("fd00:1::/48"), 64),
);
const SELF = { node: "h1", bridge: "cni0" };

/** A lease entry of `node` at `ip` for `subnet` (and `v6` via `ip6`, dual-stack). */
function entry(
  subnet: string,
  ip: string,
  node: string,
  v6?: [string, string],
): { readonly key: string; readonly lease: Lease } {
  const lease = {
    subnet: parsePrefix(subnet),
    ...(v6 ? { ipv6Subnet: parsePrefix(v6[0]) } : {}),
    attrs: {
      publicIp: parseAddress(ip),
      ...(v6 ? { publicIpv6: parseAddress(v6[1]) } : {}),
      backendType: "host-gw",
      node,
    },
  };
  return { key: leaseKey(lease), lease };
}

const OWN = entry("1.1.1.0/24", "10.0.12.11", "h1");
/** 200 peers, 1.1.2.0/24 - 1.1.201.0/24, via 10.0.14.2 - 10.0.14.201. */
const PEERS = Array.from(
  { length: 200 },
  (_, i) => entry(`1.1.${i + 2}.0/24`, `10.0.14.${i + 2}`, `p${i}`),
);

/** hg's route to `dst` via `via` on eth0, as the planner writes it. */
const hgRouteVia = (dst: string, via: string) =>
  ipStep(["route", "replace", dst, "via", via, "dev", "eth0", "proto", "104"]);

/** A host (eth0 10.0.12.11/22 and fd00::11/64, cni0 1.1.1.1/24) routing every peer already. */
function host(extraRoutes: object[] = []): HostState {
  return {
    links: parseLinks([
      linkJson(2, "eth0"),
      linkJson(3, "cni0", { ifalias: "hg:bridge", linkinfo: { info_kind: "bridge" } }),
    ]),
    addresses: parseAddresses([
      {
        ifindex: 2,
        ifname: "eth0",
        mtu: 1500,
        flags: ["UP"],
        addr_info: [
          { family: "inet", local: "10.0.12.11", prefixlen: 22, scope: "global" },
          { family: "inet6", local: "fd00::11", prefixlen: 64, scope: "global" },
        ],
      },
      {
        ifindex: 3,
        ifname: "cni0",
        mtu: 1500,
        flags: ["UP"],
        addr_info: [{ family: "inet", local: "1.1.1.1", prefixlen: 24, scope: "global" }],
      },
    ]),
    routes: [
      ...parseRoutes([
        { dst: "10.0.12.0/22", dev: "eth0", protocol: "kernel", scope: "link", flags: [] },
        { dst: "1.1.1.0/24", dev: "cni0", protocol: "kernel", scope: "link", flags: [] },
        ...PEERS.map((p) => {
          const { subnet, attrs } = p.lease;
          return {
            dst: formatPrefix(subnet),
            gateway: formatAddress(attrs.publicIp),
            dev: "eth0",
            protocol: "104",
            flags: [],
          };
        }),
        ...extraRoutes.filter((r) => !("dst" in r && String(r.dst).includes(":"))),
      ], 4),
      ...parseRoutes([
        { dst: "fd00::/64", dev: "eth0", protocol: "kernel", metric: 256, flags: [] },
        ...extraRoutes.filter((r) => "dst" in r && String(r.dst).includes(":")),
      ], 6),
    ],
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: true,
  };
}

/** The whole sync's steps and refusals that concern `keys` (their subnets' lines). */
function wholeFor(state: HostState, entries: readonly RegistryEntry[], changes: LeaseChangeOf[]) {
  const subnets = new Set(touchedSubnets(changes).map(formatPrefix));
  const keys = new Set(changes.map((c) => c.key));
  const whole = planPeerSync(state, CONFIG, entries, SELF);
  return {
    steps: whole.plan.map(renderStep).filter((line) => subnets.has(line.split(" ")[3])),
    refused: whole.refused.filter((r) => keys.has(r.key)),
    all: whole.plan.map(renderStep),
  };
}

/** The changes' own plan, from the host narrowed through its index, as the agent makes it. */
function changedFor(state: HostState, changes: LeaseChangeOf[]) {
  const narrow = narrowHost(state, touchedSubnets(changes), indexHost(state).routes);
  const planned = planChangedLeases(narrow, CONFIG, changes, OWN, SELF);
  return { steps: planned.plan.map(renderStep), refused: planned.refused };
}

describe("planning the changed leases alone", () => {
  const cases: { what: string; changes: LeaseChangeOf[]; extra?: object[] }[] = [
    {
      what: "a new lease",
      changes: [{
        key: "1.1.250.0-24",
        before: undefined,
        after: entry("1.1.250.0/24", "10.0.13.9", "n"),
      }],
    },
    {
      what: "a departed lease",
      changes: [{ key: PEERS[5].key, before: PEERS[5], after: undefined }],
    },
    {
      what: "a lease moved to another holder",
      changes: [{
        key: PEERS[7].key,
        before: PEERS[7],
        after: entry("1.1.9.0/24", "10.0.13.77", "m"),
      }],
    },
    {
      what: "a lease whose subnet an admin's route covers",
      changes: [{
        key: "1.1.230.0-24",
        before: undefined,
        after: entry("1.1.230.0/24", "10.0.13.3", "c"),
      }],
      extra: [{ dst: "1.1.224.0/20", dev: "eth0", protocol: "static", flags: [] }],
    },
    {
      what: "a lease with an admin's route to exactly its subnet",
      changes: [{
        key: "1.1.231.0-24",
        before: undefined,
        after: entry("1.1.231.0/24", "10.0.13.3", "c"),
      }],
      extra: [{
        dst: "1.1.231.0/24",
        gateway: "10.0.12.1",
        dev: "eth0",
        protocol: "static",
        flags: [],
      }],
    },
    {
      what: "a lease whose gateway is off-link",
      changes: [{
        key: "1.1.232.0-24",
        before: undefined,
        after: entry("1.1.232.0/24", "192.0.2.7", "o"),
      }],
    },
    {
      what: "a dual-stack lease",
      changes: [{
        key: "1.1.240.0-24&fd00:1:f0::-64",
        before: undefined,
        after: entry("1.1.240.0/24", "10.0.13.4", "d", ["fd00:1:f0::/64", "fd00::4"]),
      }],
    },
    {
      what: "a dual-stack lease departed (its IPv6 route goes too)",
      changes: [{
        key: "1.1.241.0-24&fd00:1:f1::-64",
        before: entry("1.1.241.0/24", "10.0.13.5", "e", ["fd00:1:f1::/64", "fd00::5"]),
        after: undefined,
      }],
      extra: [
        { dst: "1.1.241.0/24", gateway: "10.0.13.5", dev: "eth0", protocol: "104", flags: [] },
        {
          dst: "fd00:1:f1::/64",
          gateway: "fd00::5",
          dev: "eth0",
          protocol: "104",
          metric: 1024,
          flags: [],
        },
      ],
    },
  ];
  for (const { what, changes, extra } of cases) {
    it(`${what}: the whole sync's steps and refusals for it`, () => {
      const state = host(extra);
      const keys = new Set(changes.map((c) => c.key));
      const entries = [
        OWN,
        ...PEERS.filter((p) => !keys.has(p.key)),
        ...changes.flatMap((c) => c.after ? [c.after] : []),
      ];
      const whole = wholeFor(state, entries, changes);
      // Nothing else changes in the whole plan: the changed leases' lines are all of it.
      assert.deepEqual(whole.all, whole.steps);
      const alone = changedFor(state, changes);
      assert.deepEqual(alone.steps, whole.steps);
      assert.deepEqual(alone.refused, whole.refused);
    });
  }

  it("a lease planned again unchanged plans nothing", () => {
    const changes = [{ key: PEERS[3].key, before: PEERS[3], after: PEERS[3] }];
    assert.deepEqual(changedFor(host(), changes).steps, []);
  });
});

describe("changedLeasesBlocker", () => {
  /** The keys of the leases overlapping a subnet, by a pass over them (the reference). */
  const overlapping = (entries: readonly RegistryEntry[]) => (s: Prefix) =>
    entries.filter((e) => "lease" in e && prefixesOverlap(e.lease.subnet, s)).map((e) => e.key);
  const self = { node: "h1", ownKey: OWN.key, ownSubnets: [parsePrefix("1.1.1.0/24")] };
  const fresh = (e: RegistryEntry): LeaseChangeOf => ({ key: e.key, before: undefined, after: e });

  it("lets a lease that overlaps no other be planned alone", () => {
    const change = fresh(entry("1.1.250.0/24", "10.0.13.9", "n"));
    assert.equal(
      changedLeasesBlocker(CONFIG, overlapping([OWN, ...PEERS, change.after!]), [change], self),
      undefined,
    );
  });

  it("plans whole a lease that overlaps another (both are refused or routed together)", () => {
    const wide = fresh(entry("1.1.0.0/20", "10.0.13.9", "w"));
    const why = changedLeasesBlocker(
      CONFIG,
      overlapping([OWN, ...PEERS, wide.after!]),
      [wide],
      self,
    );
    assert.match(why ?? "", /overlaps/);
  });

  it("plans whole a change of this host's own lease, or of its node's", () => {
    assert.match(changedLeasesBlocker(CONFIG, () => [], [fresh(OWN)], self) ?? "", /own lease/);
    const again = fresh(entry("1.1.77.0/24", "10.0.12.11", "h1"));
    assert.match(changedLeasesBlocker(CONFIG, () => [], [again], self) ?? "", /node/);
  });

  it("plans whole on a VXLAN network, and many changes at once", () => {
    const vxlan = {
      ...CONFIG,
      backend: { type: "vxlan", vni: 1, port: 8472, directRouting: false },
    } as typeof CONFIG;
    const change = fresh(entry("1.1.250.0/24", "10.0.13.9", "n"));
    assert.match(changedLeasesBlocker(vxlan, () => [], [change], self) ?? "", /vxlan/);
    const many = PEERS.map((p) => ({ key: p.key, before: p, after: undefined }));
    assert.match(changedLeasesBlocker(CONFIG, () => [], many, self) ?? "", /200 leases/);
  });
});

describe("amendByPlan", () => {
  it("leaves the host as applying the plan does: a route replaced, one deleted, the rest as kept", () => {
    const state = host();
    const kept = indexHost(state);
    const subnets = [parsePrefix("1.1.250.0/24"), parsePrefix("1.1.5.0/24")];
    const part = narrowHost(state, subnets);
    const plan = [
      hgRouteVia("1.1.250.0/24", "10.0.13.9"),
      ipStep(["route", "del", "1.1.5.0/24", "proto", "104"]),
    ];
    const after = amendByPlan(kept, subnets, part, plan)!;
    const dsts = after.state.routes.map((r) => formatPrefix(r.dst));
    assert.equal(dsts.length, state.routes.length, "one more, one less");
    assert.ok(!dsts.includes("1.1.5.0/24"));
    const added = after.state.routes.find((r) => formatPrefix(r.dst) === "1.1.250.0/24")!;
    // As an observation parses `ip -N -j route show`'s line for it.
    assert.deepEqual(
      added,
      parseRoutes([{
        dst: "1.1.250.0/24",
        gateway: "10.0.13.9",
        dev: "eth0",
        protocol: "104",
        flags: [],
      }], 4)[0],
    );
    // The index follows: the next change finds the new route and not the deleted one.
    assert.deepEqual(after.routes.overlapping(parsePrefix("1.1.250.0/24")), [added]);
    assert.deepEqual(after.routes.overlapping(parsePrefix("1.1.5.0/24")), []);
  });

  it("an IPv6 route gets the kernel's default metric, as an observation shows it", () => {
    const state = host();
    const subnets = [parsePrefix("fd00:1:f0::/64")];
    const plan = [
      hgRouteVia("fd00:1:f0::/64", "fd00::4"),
    ];
    const after = amendByPlan(indexHost(state), subnets, narrowHost(state, subnets), plan)!;
    const added = after.state.routes.find((r) => formatPrefix(r.dst) === "fd00:1:f0::/64")!;
    assert.equal(added.metric, 1024);
    assert.equal(added.protocol, 104);
  });

  it("does not follow any other step, nor a route outside the changed subnets", () => {
    const state = host();
    const subnets = [parsePrefix("1.1.250.0/24")];
    const part = narrowHost(state, subnets);
    assert.equal(
      amendByPlan(indexHost(state), subnets, part, [ipStep(["link", "set", "cni0", "up"])]),
      undefined,
    );
    const outside = hgRouteVia("1.1.251.0/24", "10.0.13.9");
    assert.equal(amendByPlan(indexHost(state), subnets, part, [outside]), undefined);
  });
});
