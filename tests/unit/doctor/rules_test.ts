/**
 * Doctor's rules on the healthy lab snapshot, changed in one place each: the container side
 * (address, link, default route, subnet), the route table (duplicates, overlaps, a blackhole,
 * no route at all, a default route to a router), neighbours, and the snapshot's own validation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { InputError } from "../../../lib/errors.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { fixtureDocument, h2Container } from "./fixture.ts";

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

/** Table main in the listing of every table, as `change` left it in `host.route`. */
function withMainTable(doc: Doc): void {
  doc.host.routeTables = [
    ...doc.host.routeTables.filter((r: Doc) => r.table !== "254"),
    ...doc.host.route.map((r: Doc) => ({ ...r, table: "254" })),
  ];
}

/** The healthy snapshot after `change`, diagnosed (towards h2's container when `to`). */
function diagnoseChanged(change: (doc: Doc) => void, to = true) {
  const doc = fixtureDocument("healthy") as Doc;
  const target = h2Container(parseSnapshot(doc));
  change(doc);
  withMainTable(doc);
  return diagnose(parseSnapshot(doc), to ? { to: target, from: "lab-h1-c1" } : {});
}

const container = (doc: Doc) => doc.containers[0].capture;
const peerRoute = (doc: Doc) => doc.host.route.find((r: Doc) => r.protocol === "104");
const ids = (d: { findings: readonly { id: string }[] }) => d.findings.map((f) => f.id);

describe("doctor rules", () => {
  it("container without its address", () => {
    const d = diagnoseChanged((doc) => {
      for (const l of container(doc).addr) {
        l.addr_info = l.addr_info.filter((a: Doc) => a.family !== "inet");
      }
    });
    assert.equal(d.findings[0].id, "container-no-address");
    assert.match(d.findings[0].fix[0], /^ip -n lab-h1-c1 addr add 1\.1\.\d+\.2\/24 dev eth0$/);
  });

  it("container without a default route", () => {
    const d = diagnoseChanged((doc) => {
      container(doc).route = container(doc).route.filter((r: Doc) => r.dst !== "default");
    });
    assert.equal(d.findings[0].id, "container-no-default-route");
    assert.match(
      d.findings[0].fix[0],
      /^ip -n lab-h1-c1 route replace default via 1\.1\.\d+\.1 dev eth0$/,
    );
  });

  it("container's eth0 down", () => {
    const d = diagnoseChanged((doc) => {
      for (const l of container(doc).addr) {
        if (l.ifname === "eth0") {
          l.flags = l.flags.filter((f: string) => f !== "UP");
        }
      }
    });
    assert.equal(d.findings[0].id, "container-down");
  });

  it("container whose namespace is gone", () => {
    const d = diagnoseChanged((doc) => {
      doc.containers[0] = {
        name: doc.containers[0].name,
        error: "namespace /run/netns/lab-h1-c1 does not exist",
      };
    }, false);
    assert.equal(d.findings[0].id, "container-missing");
  });

  it("bridge without its address, and without any bridge", () => {
    const noAddr = diagnoseChanged((doc) => {
      for (const l of doc.host.addr) if (l.ifname === "cni0") l.addr_info = [];
    }, false);
    assert.ok(ids(noAddr).includes("bridge-no-address"), ids(noAddr).join());
    // An IPv4 host may turn IPv6 off on its bridge: the IPv4 address is what is missing, and
    // the fix puts it back alone (the IPv6 switch is named only for an IPv6 bridge address).
    const noAddrNo6 = diagnoseChanged((doc) => {
      for (const l of doc.host.addr) if (l.ifname === "cni0") l.addr_info = [];
      doc.sysctl["net.ipv6.conf.cni0.disable_ipv6"] = "1";
    }, false);
    const finding = noAddrNo6.findings.find((f) => f.id === "bridge-no-address");
    assert.deepEqual(finding?.fix, [
      noAddr.findings.find((f) => f.id === "bridge-no-address")!.fix[0],
    ]);
    assert.match(finding!.fix[0], /^ip addr add 1\.1\.\d+\.1\/24 dev cni0$/);
    assert.doesNotMatch(finding!.summary, /IPv6/);
    const gone = diagnoseChanged((doc) => {
      doc.host.link = doc.host.link.filter((l: Doc) => l.ifname !== "cni0");
      doc.host.addr = doc.host.addr.filter((l: Doc) => l.ifname !== "cni0");
    }, false);
    assert.equal(gone.findings[0].id, "bridge-missing");
    assert.match(gone.findings[0].fix[0], /^hg setup --subnet 1\.1\.\d+\.0\/24 --bridge cni0$/);
  });

  it("a blackhole route over the destination", () => {
    const d = diagnoseChanged((doc) => {
      const [a, b, c] = peerRoute(doc).dst.split(".");
      doc.host.route.push({
        type: "6",
        dst: `${a}.${b}.${c}.0/28`,
        protocol: "4",
        scope: "0",
        flags: [],
      });
    });
    assert.equal(d.findings[0].id, "route-rejects");
  });

  it("no route at all, and a default route to a router that does not know the subnet", () => {
    const none = diagnoseChanged((doc) => {
      doc.host.route = doc.host.route.filter((r: Doc) => r.protocol !== "104");
      delete doc.registry;
    });
    assert.equal(none.findings[0].id, "no-route");
    const viaDefault = diagnoseChanged((doc) => {
      doc.host.route = doc.host.route.filter((r: Doc) => r.protocol !== "104");
      doc.host.route.push({
        type: "1",
        dst: "default",
        gateway: "10.0.12.1",
        dev: "eth0",
        protocol: "3",
        scope: "0",
        flags: [],
      });
      delete doc.registry;
    });
    assert.equal(viaDefault.findings[0].id, "peer-route-missing");
    assert.match(viaDefault.findings[0].summary, /default via 10\.0\.12\.1/);
  });

  it("a gateway whose neighbour entry FAILED", () => {
    const d = diagnoseChanged((doc) => {
      const n = doc.host.neigh.find((n: Doc) => n.dst === "10.0.12.12");
      n.state = ["FAILED"];
      delete n.lladdr;
    });
    assert.equal(d.findings[0].id, "gateway-unreachable");
    assert.equal(d.findings[0].evidence[0], "ip neigh: 10.0.12.12 dev eth0 FAILED");
  });

  it("duplicate routes: said, and removed only when the kernel uses one to the wrong host", () => {
    const unused = diagnoseChanged((doc) => {
      doc.host.route.push({ ...peerRoute(doc), protocol: "4", metric: 50 });
    }, false);
    const dup = unused.findings.find((f) => f.id === "route-duplicate");
    assert.equal(dup?.severity, "info", "hg's route is the one the kernel uses");
    assert.deepEqual(dup?.fix, []);
    const wrong = diagnoseChanged((doc) => {
      const hg = peerRoute(doc);
      hg.metric = 100;
      doc.host.route.push({ ...hg, protocol: "4", metric: 50, gateway: "10.0.12.13" });
    }, false);
    const used = wrong.findings.find((f) => f.id === "route-duplicate");
    assert.equal(used?.severity, "error", ids(wrong).join());
    assert.match(
      used!.fix[0],
      /^ip route del 1\.1\.\d+\.0\/24 via 10\.0\.12\.13 dev eth0 metric 50$/,
    );
  });

  it("a peer route inside this host's own subnet: an error when it takes a container", () => {
    const overlap = (half: string) =>
      diagnoseChanged((doc) => {
        const bridgeRoute = doc.host.route.find((r: Doc) => r.dev === "cni0");
        const [a, b, c] = bridgeRoute.dst.split(".");
        doc.host.route.push({
          type: "1",
          dst: `${a}.${b}.${c}.${half}/25`,
          gateway: "10.0.12.12",
          dev: "eth0",
          protocol: "104",
          scope: "0",
          flags: [],
        });
        delete doc.registry;
      }, false).findings.find((f) => f.id === "route-overlap");
    const taken = overlap("0");
    assert.equal(taken?.severity, "error", "the container .2 is inside it");
    assert.match(
      taken!.fix[0],
      /^ip route del 1\.1\.\d+\.0\/25 via 10\.0\.12\.12 dev eth0 proto 104$/,
    );
    const free = overlap("128");
    assert.equal(free?.severity, "warning", "no container is inside it");
    assert.ok(free!.fix.every((l) => l.startsWith("#")));
  });

  it("routes marked linkdown; policy rules that change nothing are not reported", () => {
    const d = diagnoseChanged((doc) => {
      peerRoute(doc).flags = ["linkdown"];
      doc.host.rule = [
        { priority: 0, src: "all", table: "255" },
        { priority: 100, src: "1.1.0.0", srclen: 16, table: "7" },
        { priority: 32766, src: "all", table: "254" },
        { priority: 32767, src: "all", table: "253" },
      ];
    });
    assert.equal(d.findings[0].id, "route-linkdown");
    assert.ok(!ids(d).includes("policy-route"), "table 7 is empty: the lookup goes on to main");
  });

  it("a policy rule that refuses the packet: an error, its removal the fix", () => {
    const rules = [
      { priority: 0, src: "all", table: "255" },
      { priority: 100, src: "1.1.0.0", srclen: 16, action: "6" },
      { priority: 32766, src: "all", table: "254" },
      { priority: 32767, src: "all", table: "253" },
    ];
    const d = diagnoseChanged((doc) => doc.host.rule = rules);
    assert.equal(d.findings[0].id, "policy-route");
    assert.deepEqual(d.findings[0].fix, ["ip rule del pref 100"]);
    const whole = diagnoseChanged((doc) => doc.host.rule = rules, false);
    assert.deepEqual(ids(whole), ["policy-route"], "one finding for the rule, both ways");
  });

  it("without a registry, routes are not judged against it and the fix names no host", () => {
    const d = diagnoseChanged((doc) => {
      delete doc.registry;
      doc.host.route = doc.host.route.filter((r: Doc) => r.protocol !== "104");
    });
    assert.match(
      d.findings[0].fix[0],
      /^hg peer add 1\.1\.\d+\.0\/24 --via ADDRESS-OF-THE-HOST-WITH-/,
    );
  });

  it("the destination on this host's own bridge needs no route", () => {
    const doc = fixtureDocument("healthy") as Doc;
    const obs = parseSnapshot(doc);
    const own = obs.host.addresses.find((l) => l.ifname === "cni0")!.addresses[0].address;
    const d = diagnose(obs, { to: { ...own, value: own.value + 1n } });
    assert.equal(d.ok, true, d.verdict);
    assert.match(d.verdict, /same bridge/);
    assert.match(formatAddress({ ...own, value: own.value + 1n }), /\.2$/);
  });

  it("a snapshot of another version, or a broken one, is refused as bad input", () => {
    assert.throws(() => parseSnapshot({ hgSnapshot: 2 }), InputError);
    assert.throws(() => parseSnapshot([]), InputError);
    const doc = fixtureDocument("healthy") as Doc;
    doc.host.route = "nope";
    assert.throws(() => parseSnapshot(doc), /host\.route is not a list/);
    const bad = fixtureDocument("healthy") as Doc;
    bad.host.route = [{ dst: 7 }];
    assert.throws(() => parseSnapshot(bad), InputError);
  });
});
