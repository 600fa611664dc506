/**
 * The indexed checks on a large host (3,000 peers, each with its own lease, route, gateway and
 * answered neighbour entry): a fault put in the middle of the table is found as on a host with
 * three peers (the same findings, naming the middle peer), and a large table that is odd but
 * fine is called fine.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import type { Doc } from "./fixture.ts";
import { largeDocument, largePeer } from "./large_table.ts";

const LARGE = 3000;
const SMALL = 3;

const ids = (d: { findings: readonly { id: string; severity: string }[] }) =>
  d.findings.map((f) => `${f.id}:${f.severity}`).sort();

/** The host with `n` peers after `change(doc, middle)`, parsed. */
function host(n: number, change: (doc: Doc, middle: number) => void) {
  const doc = largeDocument(n);
  change(doc, Math.floor(n / 2));
  // Table main in the listing of every table follows host.route, as ip prints it.
  doc.host.routeTables = [
    ...doc.host.routeTables.filter((r: Doc) => r.table !== "254"),
    ...doc.host.route.map((r: Doc) => ({ ...r, table: "254" })),
  ];
  return parseSnapshot(doc);
}

const routeOf = (doc: Doc, i: number) =>
  doc.host.route.find((r: Doc) => r.dst === largePeer(i).subnet);
const neighbourOf = (doc: Doc, i: number) =>
  doc.host.neigh.find((n: Doc) => n.dst === largePeer(i).ip);
const leaseOf = (doc: Doc, i: number) =>
  doc.registry.leases.find((l: Doc) => l.key === largePeer(i).key);
const eth0Mac = (doc: Doc) => doc.host.link.find((l: Doc) => l.ifname === "eth0").address;

/** Faults, each made at the middle peer; `names` is what the large host's finding must name. */
const faults: {
  what: string;
  change: (doc: Doc, i: number) => void;
  id: string;
  names: (i: number) => string;
}[] = [
  {
    what: "a peer's route is missing",
    change: (doc, i) => doc.host.route.splice(doc.host.route.indexOf(routeOf(doc, i)), 1),
    id: "peer-route-missing",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "a peer's route goes to the next peer's address",
    change: (doc, i) => routeOf(doc, i).gateway = largePeer(i + 1).ip,
    id: "route-wrong-host",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "a gateway does not answer ARP",
    change: (doc, i) => {
      const n = neighbourOf(doc, i);
      n.state = ["FAILED"];
      delete n.lladdr;
    },
    id: "gateway-unreachable",
    names: (i) => largePeer(i).ip,
  },
  {
    what: "a static entry gives a gateway this host's own MAC address",
    change: (doc, i) => {
      const n = neighbourOf(doc, i);
      n.lladdr = eth0Mac(doc);
      n.state = ["PERMANENT"];
    },
    id: "neighbour-wrong",
    names: (i) => largePeer(i).ip,
  },
  {
    what: "a route goes via this host's own address",
    change: (doc, i) => routeOf(doc, i).gateway = "10.0.12.11",
    id: "gateway-self",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "a lease's holder moved off the segment",
    change: (doc, i) => leaseOf(doc, i).value.PublicIP = "192.0.2.7",
    id: "gateway-off-link",
    names: () => "192.0.2.7",
  },
  {
    what: "an hg route that no lease holds, its gateway not answering",
    change: (doc, i) => {
      doc.registry.leases.splice(doc.registry.leases.indexOf(leaseOf(doc, i)), 1);
      neighbourOf(doc, i).state = ["FAILED"];
    },
    id: "route-stale",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "a lease ran out while this host still routes its subnet",
    change: (doc, i) => leaseOf(doc, i).expiresAt = Date.parse(doc.takenAt) - 60_000,
    id: "lease-expired",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "two leases name one public address",
    change: (doc, i) => leaseOf(doc, i + 1).value.PublicIP = largePeer(i).ip,
    id: "lease-conflict",
    names: (i) => largePeer(i).ip,
  },
  {
    what: "a narrower route inside a peer's subnet to another host",
    change: (doc, i) =>
      doc.host.route.push({
        ...routeOf(doc, i),
        dst: largePeer(i).subnet.replace(".0/24", ".128/25"),
        gateway: largePeer(i + 1).ip,
        protocol: "4",
      }),
    id: "route-overlap",
    names: (i) => largePeer(i).subnet,
  },
  {
    what: "a second route to a peer's subnet the kernel prefers, to another host",
    change: (doc, i) => {
      const hg = routeOf(doc, i);
      hg.metric = 10;
      doc.host.route.push({ ...hg, gateway: largePeer(i + 1).ip, protocol: "4", metric: 0 });
    },
    id: "route-duplicate",
    names: (i) => largePeer(i).subnet,
  },
];

describe("a large host, indexed checks", () => {
  it("healthy with 3,000 peers: fine, with the findings of a host with three", () => {
    const large = diagnose(host(LARGE, () => {}));
    assert.equal(large.status, "ok", large.verdict);
    assert.deepEqual(ids(large), ids(diagnose(host(SMALL, () => {}))));
  });

  for (const fault of faults) {
    it(`${fault.what}, in the middle of 3,000: as with three peers`, () => {
      const large = diagnose(host(LARGE, fault.change));
      const small = diagnose(host(SMALL, fault.change));
      assert.deepEqual(ids(large), ids(small));
      const found = large.findings.filter((f) => f.id === fault.id);
      assert.ok(found.length > 0, `${fault.id} not found: ${ids(large).join(", ")}`);
      const text = found.map((f) => [f.summary, ...f.evidence, ...f.fix].join("\n")).join("\n");
      assert.ok(text.includes(fault.names(Math.floor(LARGE / 2))), text);
    });
  }

  it("a packet to the middle peer's container: its own route and gateway", () => {
    const middle = largePeer(LARGE / 2);
    const to = parseAddress(middle.subnet.replace(".0/24", ".2"));
    const healthy = diagnose(host(LARGE, () => {}), { to });
    assert.equal(healthy.status, "ok", healthy.verdict);
    assert.ok(healthy.path?.some((s) => s.stage === "gateway" && s.text.includes(middle.ip)));
    const broken = diagnose(host(LARGE, (doc, i) => neighbourOf(doc, i).state = ["FAILED"]), {
      to,
    });
    assert.equal(broken.findings.find((f) => f.severity === "error")?.id, "gateway-unreachable");
  });

  it("odd but fine: entries stale or in progress, none for some gateways, an admin's route outside the cluster", () => {
    const obs = host(LARGE, (doc, i) => {
      doc.host.neigh.forEach((n: Doc, k: number) => {
        if (n.dev === "eth0") n.state = [k % 3 === 0 ? "STALE" : k % 3 === 1 ? "DELAY" : "PROBE"];
      });
      doc.host.neigh.splice(doc.host.neigh.indexOf(neighbourOf(doc, i + 2)), 1);
      // An admin's route outside the cluster network, through a router on the segment.
      doc.host.route.push({ ...routeOf(doc, i), dst: "192.168.0.0/16", protocol: "4" });
    });
    const d = diagnose(obs);
    assert.equal(d.status, "ok", d.verdict);
    assert.deepEqual(ids(d), ids(diagnose(host(SMALL, () => {}))));
  });
});
