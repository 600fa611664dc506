/**
 * `hg peer sync` on a VXLAN network, planned from the captured lab host (eth0 10.0.12.11/22,
 * cni0 1.1.1.1/24, an hg route to 1.1.2.0/24 via 10.0.12.7): which peers go host-gw, which go
 * VXLAN and why, and what the device, neighbour and fdb entries look like as flannel lays them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseFdb } from "../../../lib/ip/fdb.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import { parseNeighbours } from "../../../lib/ip/neigh.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { handMadeVxlan, planPeerAdd, planPeerRemove } from "../../../lib/peers/plan.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { type Backend, makeNetworkConfig } from "../../../lib/store/config.ts";
import { subnetOfKey } from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { vtepMac } from "../../../lib/vxlan/vtep.ts";
import { capturedHost } from "../plan/fixture_state.ts";

const vxlan = (directRouting = true): Backend => ({
  type: "vxlan",
  vni: 1,
  port: 8472,
  directRouting,
});
const config = (backend: Backend) => makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24, {}, backend);

/** A lease; `vxlan`: with its VTEP MAC as hg writes it. */
const lease = (key: string, ip: string, node: string, withVtep = true): RegistryEntry => ({
  key,
  lease: {
    subnet: subnetOfKey(key)!,
    attrs: {
      publicIp: parseAddress(ip),
      backendType: withVtep ? "vxlan" : "host-gw",
      node,
      ...(withVtep ? { vtep: { mac: vtepMac(parseAddress(ip)), vni: 1 } } : {}),
    },
  },
});
const self = { node: "me", bridge: "cni0" };
const me = lease("1.1.1.0-24", "10.0.12.11", "me");
const DEVICE = [
  "ip link add flannel.1 address 0e:56:0a:00:0c:0b mtu 1450 type vxlan id 1 local 10.0.12.11 dev eth0 nolearning dstport 8472",
  "ip link set flannel.1 alias hg:vxlan",
  "ip addr add 1.1.1.0/32 dev flannel.1",
  "ip link set flannel.1 up",
];

/** The captured host with hg's flannel.1 and whatever `extra` says is on it. */
function withDevice(
  extra: {
    vni?: number;
    mac?: string;
    routes?: unknown[];
    neigh?: unknown[];
    fdb?: unknown[];
    alias?: string;
    cniMtu?: number;
    name?: string;
  } = {},
): HostState {
  const base = capturedHost();
  const device = {
    ifindex: 9,
    ifname: extra.name ?? "flannel.1",
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    mtu: 1450,
    operstate: "UNKNOWN",
    address: extra.mac ?? "0e:56:0a:00:0c:0b",
    ifalias: extra.alias ?? "hg:vxlan",
    linkinfo: {
      info_kind: "vxlan",
      info_data: {
        id: extra.vni ?? 1,
        local: "10.0.12.11",
        link: "eth0",
        port: 8472,
        learning: false,
      },
    },
  };
  return {
    ...base,
    links: [
      ...base.links.map((l) => l.ifname === "cni0" ? { ...l, mtu: extra.cniMtu ?? l.mtu } : l),
      ...parseLinks([device]),
    ],
    addresses: [
      ...base.addresses,
      ...parseAddresses([{
        ifindex: 9,
        ifname: extra.name ?? "flannel.1",
        flags: ["UP"],
        mtu: 1450,
        addr_info: [{ family: "inet", local: "1.1.1.0", prefixlen: 32, scope: "global" }],
      }]),
    ],
    routes: [...base.routes, ...parseRoutes(extra.routes ?? [], 4)],
    neighbours: parseNeighbours(extra.neigh ?? []),
    fdb: parseFdb(extra.fdb ?? [], "flannel.1"),
  };
}

/** What flannel.1 holds when peer h5 (1.1.5.0/24 at 10.0.20.12) is set up right. */
const h5Right = {
  routes: [{
    dst: "1.1.5.0/24",
    gateway: "1.1.5.0",
    dev: "flannel.1",
    protocol: "104",
    flags: ["onlink"],
  }],
  neigh: [{ dst: "1.1.5.0", dev: "flannel.1", lladdr: "0e:56:0a:00:14:0c", state: ["PERMANENT"] }],
  fdb: [{ mac: "0e:56:0a:00:14:0c", dst: "10.0.20.12", flags: ["self"], state: "permanent" }],
};

describe("planPeerSync on a VXLAN network", () => {
  it("DirectRouting: host-gw to the on-link peer, VXLAN to the off-link one, with the device, neighbour and fdb entries", () => {
    const sync = planPeerSync(capturedHost(), config(vxlan()), [
      me,
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.5.0-24", "10.0.20.12", "h5"),
    ], self);
    assert.deepEqual(renderPlan(sync.plan), [
      ...DEVICE,
      "ip route replace 1.1.4.0/24 via 10.0.12.14 dev eth0 proto 104",
      "ip route replace 1.1.5.0/24 via 1.1.5.0 dev flannel.1 onlink proto 104",
      "ip route del 1.1.2.0/24 proto 104",
      "ip neigh replace 1.1.5.0 lladdr 0e:56:0a:00:14:0c dev flannel.1 nud permanent",
      "bridge fdb replace 0e:56:0a:00:14:0c dev flannel.1 dst 10.0.20.12 self permanent",
      // A peer goes over VXLAN: the bridge (and containers) get the device's MTU.
      "ip link set cni0 mtu 1450",
    ]);
    assert.deepEqual(sync.refused, []);
    assert.deepEqual(sync.peers.map((p) => [p.node, p.mode, p.reason]), [
      ["h4", "host-gw", "10.0.12.14 is on eth0 (10.0.12.0/22)"],
      ["h5", "vxlan", "10.0.20.12 is not on a local network: through flannel.1"],
    ]);
  });

  it("plans nothing once the device, route, neighbour and fdb entry are right", () => {
    const sync = planPeerSync(withDevice({ ...h5Right, cniMtu: 1450 }), config(vxlan()), [
      me,
      lease("1.1.5.0-24", "10.0.20.12", "h5"),
    ], self);
    // hg's route to 1.1.2.0/24 (the fixture's) has no lease: it goes; nothing else changes.
    assert.deepEqual(renderPlan(sync.plan), ["ip route del 1.1.2.0/24 proto 104"]);
    assert.equal(sync.unchanged, 1);
  });

  it("puts back a deleted fdb entry or neighbour, and fixes an fdb entry that points elsewhere", () => {
    const leases = [me, lease("1.1.5.0-24", "10.0.20.12", "h5")];
    const noFdb = planPeerSync(
      withDevice({ ...h5Right, fdb: [], cniMtu: 1450 }),
      config(vxlan()),
      leases,
      self,
    );
    assert.deepEqual(renderPlan(noFdb.plan).filter((l) => !l.includes("1.1.2.0")), [
      "bridge fdb replace 0e:56:0a:00:14:0c dev flannel.1 dst 10.0.20.12 self permanent",
    ]);
    assert.equal(noFdb.unchanged, 0);
    const noNeigh = planPeerSync(
      withDevice({ ...h5Right, neigh: [], cniMtu: 1450 }),
      config(vxlan()),
      leases,
      self,
    );
    assert.deepEqual(renderPlan(noNeigh.plan).filter((l) => !l.includes("1.1.2.0")), [
      "ip neigh replace 1.1.5.0 lladdr 0e:56:0a:00:14:0c dev flannel.1 nud permanent",
    ]);
    const moved = planPeerSync(
      withDevice({ ...h5Right, fdb: [{ ...h5Right.fdb[0], dst: "10.0.20.99" }], cniMtu: 1450 }),
      config(vxlan()),
      leases,
      self,
    );
    assert.deepEqual(renderPlan(moved.plan).filter((l) => !l.includes("1.1.2.0")), [
      "bridge fdb replace 0e:56:0a:00:14:0c dev flannel.1 dst 10.0.20.12 self permanent",
    ]);
  });

  it("a peer that left: its route, neighbour and fdb entry go", () => {
    const sync = planPeerSync(
      withDevice({ ...h5Right, cniMtu: 1450 }),
      config(vxlan()),
      [me],
      self,
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route del 1.1.2.0/24 proto 104",
      "ip route del 1.1.5.0/24 proto 104",
      "ip neigh del 1.1.5.0 dev flannel.1",
      "bridge fdb del 0e:56:0a:00:14:0c dev flannel.1 self",
    ]);
  });

  it("a peer that came on-link (moved to this segment): host-gw route, its VXLAN entries go", () => {
    const sync = planPeerSync(withDevice({ ...h5Right, cniMtu: 1450 }), config(vxlan()), [
      me,
      lease("1.1.5.0-24", "10.0.12.15", "h5"),
    ], self);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.5.0/24 via 10.0.12.15 dev eth0 proto 104",
      "ip route del 1.1.2.0/24 proto 104",
      "ip neigh del 1.1.5.0 dev flannel.1",
      "bridge fdb del 0e:56:0a:00:14:0c dev flannel.1 self",
    ]);
    assert.equal(sync.peers[0].mode, "host-gw");
  });

  it("without DirectRouting every peer with a VTEP tunnels; a host-gw lease on-link still gets a plain route", () => {
    const sync = planPeerSync(capturedHost(), config(vxlan(false)), [
      me,
      lease("1.1.4.0-24", "10.0.12.14", "h4"),
      lease("1.1.6.0-24", "10.0.12.16", "h6", false),
    ], self);
    assert.deepEqual(sync.peers.map((p) => [p.node, p.mode]), [["h4", "vxlan"], ["h6", "host-gw"]]);
    assert.match(
      sync.peers[0].reason,
      /DirectRouting is off: through flannel\.1, although 10\.0\.12\.14 is on eth0/,
    );
    assert.ok(
      renderPlan(sync.plan).includes(
        "bridge fdb replace 0e:56:0a:00:0c:0e dev flannel.1 dst 10.0.12.14 self permanent",
      ),
    );
  });

  it("refuses an off-link peer whose lease has no VTEP MAC, and names what is missing", () => {
    const sync = planPeerSync(capturedHost(), config(vxlan()), [
      me,
      lease("1.1.5.0-24", "10.0.20.12", "h5", false),
    ], self);
    assert.equal(sync.refused.length, 1);
    assert.match(
      sync.refused[0].reason,
      /not on a directly connected network.*nor over flannel\.1 without its VTEP MAC/,
    );
    assert.ok(!renderPlan(sync.plan).some((l) => l.includes("1.1.5.0")));
  });

  it("refuses a second peer with the same VTEP MAC", () => {
    const dup: RegistryEntry = {
      key: "1.1.6.0-24",
      lease: {
        subnet: parsePrefix("1.1.6.0/24"),
        attrs: {
          publicIp: parseAddress("10.0.20.13"),
          backendType: "vxlan",
          vtep: { mac: vtepMac(parseAddress("10.0.20.12")) },
        },
      },
    };
    const sync = planPeerSync(capturedHost(), config(vxlan()), [
      me,
      lease("1.1.5.0-24", "10.0.20.12", "h5"),
      dup,
    ], self);
    assert.deepEqual(sync.refused.map((r) => r.key), ["1.1.6.0-24"]);
    assert.match(
      sync.refused[0].reason,
      /VTEP MAC 0e:56:0a:00:14:0c of 10\.0\.20\.13 is also 10\.0\.20\.12's/,
    );
  });

  it("a device with another VNI is made again, and routes on it are not deleted twice", () => {
    const sync = planPeerSync(
      withDevice({ ...h5Right, vni: 7, cniMtu: 1450 }),
      config(vxlan()),
      [me, lease("1.1.5.0-24", "10.0.20.12", "h5")],
      self,
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip link del flannel.1",
      ...DEVICE,
      "ip route replace 1.1.5.0/24 via 1.1.5.0 dev flannel.1 onlink proto 104",
      "ip route del 1.1.2.0/24 proto 104",
      "ip neigh replace 1.1.5.0 lladdr 0e:56:0a:00:14:0c dev flannel.1 nud permanent",
      "bridge fdb replace 0e:56:0a:00:14:0c dev flannel.1 dst 10.0.20.12 self permanent",
    ]);
  });

  it("a device of another VNI goes, and the routes on it are not deleted after it", () => {
    const onOld = { ...h5Right.routes[0], dev: "flannel.7" };
    const sync = planPeerSync(
      withDevice({ name: "flannel.7", vni: 7, routes: [onOld], cniMtu: 1450 }),
      config(vxlan()),
      [me],
      self,
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip link del flannel.7",
      ...DEVICE,
      "ip route del 1.1.2.0/24 proto 104",
    ]);
  });

  it("refuses a flannel.1 that hg did not make", () => {
    assert.throws(
      () => planPeerSync(withDevice({ alias: "" }), config(vxlan()), [me], self),
      /flannel\.1 exists and hg did not make it .*ip link del flannel\.1/,
    );
  });

  it("on a host-gw network hg's VXLAN device goes, with what is on it (no route del after it)", () => {
    const sync = planPeerSync(withDevice(h5Right), config({ type: "host-gw" }), [me], self);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip link del flannel.1",
      "ip route del 1.1.2.0/24 proto 104",
    ]);
  });

  it("lowers the bridge and both ends of present containers' veths to the VXLAN MTU", () => {
    const base = capturedHost();
    const container = (name: string, index: number) => ({
      ifindex: index,
      ifname: `hgv${index}`,
      flags: ["UP", "LOWER_UP"],
      mtu: 1500,
      operstate: "UP",
      ifalias: `hg:${name}@1.1.1.${index}/24`,
      master: "cni0",
      linkinfo: { info_kind: "veth" },
    });
    const host = {
      ...base,
      links: [...base.links, ...parseLinks([container("web1", 21), container("gone", 22)])],
    };
    const sync = planPeerSync(host, config(vxlan()), [
      me,
      lease("1.1.5.0-24", "10.0.20.12", "h5"),
    ], { ...self, present: new Set(["hgv21"]) });
    assert.deepEqual(
      renderPlan(sync.plan).filter((l) => l.includes("mtu 1450") && !l.includes("vxlan")),
      [
        "ip link set cni0 mtu 1450",
        "ip link set hgv21 mtu 1450",
        "ip -n web1 link set eth0 mtu 1450",
      ],
    );
  });

  it("a host without a lease of its own keeps its device and routes no off-link peer", () => {
    const sync = planPeerSync(withDevice(h5Right), config(vxlan()), [
      lease("1.1.5.0-24", "10.0.20.12", "h5"),
    ], self);
    assert.match(sync.vxlanProblem ?? "", /holds no lease/);
    assert.ok(!renderPlan(sync.plan).includes("ip link del flannel.1"));
    assert.equal(sync.refused.length, 1);
  });
});

describe("hand-made VXLAN peers (peer add, peer rm)", () => {
  it("peer rm of a VXLAN peer takes its neighbour and fdb entry with the route", () => {
    const state = withDevice(h5Right);
    assert.deepEqual(renderPlan(planPeerRemove(state, parsePrefix("1.1.5.0/24"))), [
      "ip route del 1.1.5.0/24 proto 104",
      "ip neigh del 1.1.5.0 dev flannel.1",
      "bridge fdb del 0e:56:0a:00:14:0c dev flannel.1 self",
    ]);
  });

  it("peer add of a peer that came on-link routes it host-gw and drops its VXLAN entries", () => {
    const state = withDevice({ ...h5Right, cniMtu: 1450 });
    const vxlanCtx = handMadeVxlan(state, "cni0", new Set());
    const { plan, routed } = planPeerAdd(
      state,
      { subnet: parsePrefix("1.1.5.0/24"), via: parseAddress("10.0.12.15") },
      [],
      vxlanCtx,
    );
    assert.equal(routed[0].mode, "host-gw");
    assert.deepEqual(renderPlan(plan), [
      "ip route replace 1.1.5.0/24 via 10.0.12.15 dev eth0 proto 104",
      "ip neigh del 1.1.5.0 dev flannel.1",
      "bridge fdb del 0e:56:0a:00:14:0c dev flannel.1 self",
    ]);
  });

  it("keeps an fdb entry that another peer's neighbour still uses", () => {
    const state = withDevice({
      ...h5Right,
      neigh: [
        ...h5Right.neigh,
        { dst: "1.1.6.0", dev: "flannel.1", lladdr: "0e:56:0a:00:14:0c", state: ["PERMANENT"] },
      ],
    });
    assert.deepEqual(renderPlan(planPeerRemove(state, parsePrefix("1.1.5.0/24"))), [
      "ip route del 1.1.5.0/24 proto 104",
      "ip neigh del 1.1.5.0 dev flannel.1",
    ]);
  });

  it("without hg's VXLAN device --vtep-mac has nothing to tunnel through", () => {
    assert.throws(
      () => handMadeVxlan(capturedHost(), "cni0", new Set()),
      /no VXLAN device of hg's/,
    );
  });
});
