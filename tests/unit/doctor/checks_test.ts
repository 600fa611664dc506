/**
 * The static checks on captured snapshots changed in one place each, for what a lab cannot
 * easily make: two of hg's containers with one address, an old neighbour entry, registry
 * conflicts and expired leases, firewall rules doctor does not model, containers routed through
 * another container, an address on lo, and snapshots older than the rules and every table.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { changedFixture, type Doc, fixture, fixtureDocument, h2Container } from "./fixture.ts";

const ids = (d: { findings: readonly { id: string; severity: string }[] }) =>
  d.findings.map((f) => `${f.id}:${f.severity}`);
const container = (doc: Doc) => doc.containers[0].capture;
const leases = (doc: Doc) => doc.registry.leases as Doc[];
const h2 = fixture("healthy");
const toH2 = { to: h2Container(h2), from: "lab-h1-c1" };

describe("containers and neighbours", () => {
  it("two of hg's containers with one address: an error, the second made again", () => {
    const obs = changedFixture("healthy", (doc) => {
      const veth = doc.host.link.find((l: Doc) => l.ifalias?.startsWith("hg:lab-h1-c1@"));
      doc.host.link.push({
        ...veth,
        ifindex: 99,
        ifname: "hgvtwin",
        ifalias: veth.ifalias.replace("lab-h1-c1", "lab-h1-c2"),
      });
      doc.containers.push({ ...doc.containers[0], name: "lab-h1-c2" });
    });
    const f = diagnose(obs).findings.find((f) => f.id === "address-duplicate");
    assert.equal(f?.severity, "error");
    assert.deepEqual(f?.fix, ["hg netns del lab-h1-c2", "hg netns add lab-h1-c2"]);
  });

  it("an old entry for a container made again (no other device on the bridge): a warning", () => {
    const obs = changedFixture("healthy", (doc) => {
      const n = doc.host.neigh.find((n: Doc) => n.dev === "cni0");
      n.lladdr = "02:00:00:00:00:42";
      n.state = ["STALE"];
    });
    const d = diagnose(obs);
    assert.deepEqual(ids(d), ["address-duplicate:warning"]);
    assert.ok(d.findings[0].fix.every((l) => l.startsWith("#")));
  });

  it("a static entry with the container's own MAC address says nothing", () => {
    const right = changedFixture("healthy", (doc) => {
      doc.host.neigh.find((n: Doc) => n.dev === "cni0").state = ["PERMANENT"];
    });
    assert.deepEqual(diagnose(right).findings, []);
  });

  it("a container routed through another container: a warning when it forwards, else an error", () => {
    const via = (forwarding: string) =>
      changedFixture("healthy", (doc) => {
        const c2 = structuredClone(doc.containers[0]);
        const veth = doc.host.link.find((l: Doc) => l.ifalias?.startsWith("hg:lab-h1-c1@"));
        const [a, b, c] = veth.ifalias.split("@")[1].split(".");
        const other = `${a}.${b}.${c}.3`;
        doc.host.link.push({
          ...veth,
          ifindex: 98,
          ifname: "hgvother",
          ifalias: `hg:lab-h1-c2@${other}/24`,
        });
        c2.name = "lab-h1-c2";
        for (const l of c2.capture.addr) {
          for (const i of l.addr_info) if (i.local?.endsWith(".2")) i.local = other;
        }
        c2.capture.sysctl["net.ipv4.conf.eth0.forwarding"] = forwarding;
        doc.containers.push(c2);
        container(doc).route.find((r: Doc) => r.dst === "default").gateway = other;
      });
    const forwards = diagnose(via("1"), toH2).findings.find((f) =>
      f.id === "container-no-default-route"
    );
    assert.equal(forwards?.severity, "warning");
    assert.ok(forwards!.fix.every((l) => l.startsWith("#")));
    const not = diagnose(via("0"), toH2).findings.find((f) =>
      f.id === "container-no-default-route"
    );
    assert.equal(not?.severity, "error");
    assert.match(not!.fix[0], /^ip -n lab-h1-c1 route replace default via 1\.1\.\d+\.1 dev eth0$/);
  });

  it("no default route, but a route through the host for the whole cluster network: fine", () => {
    const obs = changedFixture("healthy", (doc) => {
      const r = container(doc).route.find((r: Doc) => r.dst === "default");
      r.dst = "1.1.0.0/16";
    });
    assert.deepEqual(diagnose(obs).findings, []);
    assert.equal(diagnose(obs, toH2).ok, true);
  });

  it("a container's dev route when proxy_arp was not read: undecided, not an error", () => {
    const obs = changedFixture("healthy", (doc) => {
      for (const k of Object.keys(doc.sysctl)) if (k.endsWith("proxy_arp")) delete doc.sysctl[k];
      const [a, b, c] = formatH2(doc).split(".");
      container(doc).route.push({
        type: "1",
        dst: `${a}.${b}.${c}.0/24`,
        dev: "eth0",
        protocol: "3",
        scope: "253",
        flags: [],
      });
    });
    const f = diagnose(obs, toH2).findings.find((f) => f.id === "container-route-bypass");
    assert.equal(f?.severity, "undecided");
  });
});

/** h2's container address in a document. */
function formatH2(doc: Doc): string {
  const lease = leases(doc).find((l) => l.value.HgNode === "lab-h2")!;
  return lease.key.split("-")[0];
}

describe("the registry", () => {
  it("two hosts with one public address: lease-conflict, a warning that removes nothing", () => {
    const obs = changedFixture("healthy", (doc) => {
      leases(doc).push({
        key: "1.1.250.0-24",
        value: { ...leases(doc)[0].value, HgNode: "lab-h3" },
        expiresAt: leases(doc)[0].expiresAt,
      });
    });
    const f = diagnose(obs).findings.find((f) => f.id === "lease-conflict");
    assert.equal(f?.severity, "warning");
    assert.match(f!.summary, /claim one public address 10\.0\.12\.1[12]/);
  });

  it("overlapping leases: one lease-conflict, not a refusal per lease", () => {
    const obs = changedFixture("healthy", (doc) => {
      const [a, b] = formatH2(doc).split(".");
      const third = Number(formatH2(doc).split(".")[2]);
      const wide = `${a}.${b}.${third - (third % 2)}.0-23`;
      leases(doc).push({
        key: wide,
        value: { ...leases(doc)[0].value, HgNode: "lab-h3", PublicIP: "10.0.12.13" },
      });
    });
    const d = diagnose(obs);
    assert.ok(ids(d).includes("lease-conflict:warning"), ids(d).join());
    assert.ok(
      !d.findings.some((f) =>
        f.id === "lease-refused" && / overlaps .*another peer/.test(f.summary)
      ),
      ids(d).join(),
    );
  });

  it("a lease past its end while this host still routes to it: lease-expired, a warning", () => {
    const obs = changedFixture("healthy", (doc) => {
      const h2lease = leases(doc).find((l) => l.value.HgNode === "lab-h2")!;
      h2lease.expiresAt = Date.parse(doc.takenAt) - 60_000;
    });
    const d = diagnose(obs, toH2);
    assert.equal(d.ok, true);
    assert.ok(ids(d).includes("lease-expired:warning"), ids(d).join());
  });

  it("an unreadable registry is a warning", () => {
    const obs = changedFixture("healthy", (doc) => {
      doc.registry = { url: doc.registry.url, error: "connection refused" };
    });
    assert.deepEqual(ids(diagnose(obs)), ["registry-unreadable:warning"]);
  });
});

describe("the firewall", () => {
  const iptables = (rules: string) =>
    changedFixture("healthy", (doc) => {
      doc.firewall.iptablesSave =
        `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n${rules}COMMIT\n`;
    });

  it("a drop only unless an unmodeled rule accepts: undecided, never an error", () => {
    const d = diagnose(iptables("-A FORWARD -m set --match-set ok src -j ACCEPT\n"), toH2);
    assert.equal(d.ok, false, "not called OK");
    assert.equal(d.status, "undecided", "nor a problem");
    assert.match(d.verdict, /^undecided: /);
    const f = d.findings.find((f) => f.id === "firewall-undecided");
    assert.equal(f?.severity, "undecided");
    assert.match(
      f!.evidence.join("\n"),
      /not evaluated: -A FORWARD -m set --match-set ok src -j ACCEPT/,
    );
  });

  it("an accept past an unmodeled drop: undecided; an unmodeled log changes nothing", () => {
    const doubt = diagnose(
      iptables("-A FORWARD -m set --match-set bad src -j DROP\n-A FORWARD -j ACCEPT\n"),
    );
    assert.deepEqual(ids(doubt), ["firewall-undecided:undecided"]);
    const log = diagnose(
      iptables("-A FORWARD -m limit --limit 1/s -j LOG\n-A FORWARD -j ACCEPT\n"),
    );
    assert.deepEqual(ids(log), []);
  });

  it("a packet queued to a program: undecided", () => {
    const d = diagnose(iptables("-A FORWARD -j NFQUEUE --queue-num 1\n-A FORWARD -j ACCEPT\n"));
    assert.deepEqual(ids(d), ["firewall-undecided:undecided"]);
  });

  it("a drop past modeled rules only: still an error", () => {
    const d = diagnose(iptables("-A FORWARD -s 10.9.0.0/16 -j ACCEPT\n"));
    assert.deepEqual(ids(d), ["firewall-forward-drop:error"]);
  });
});

describe("the uplink and ARP", () => {
  it("this host's lease address on no interface: uplink-down", () => {
    const obs = changedFixture("healthy", (doc) => {
      for (const l of doc.host.addr) {
        if (l.ifname === "eth0") l.addr_info = l.addr_info.filter((a: Doc) => a.family !== "inet");
      }
      doc.host.route = doc.host.route.filter((r: Doc) => r.dev !== "eth0");
    });
    const d = diagnose(obs, toH2);
    assert.equal(d.findings[0].id, "uplink-down");
    assert.match(d.findings[0].summary, /10\.0\.12\.11 .* is on no interface/);
    assert.ok(
      !ids(d).some((i) => i.startsWith("peer-route-missing")),
      "its consequence is not said",
    );
  });

  it("arp_ignore=1 with this host's address on lo: its uplink does not answer for it", () => {
    const obs = changedFixture("healthy", (doc) => {
      const eth0 = doc.host.addr.find((l: Doc) => l.ifname === "eth0");
      const lo = doc.host.addr.find((l: Doc) => l.ifname === "lo");
      const own = eth0.addr_info.find((a: Doc) => a.family === "inet");
      lo.addr_info.push({ ...own, prefixlen: 32, label: "lo" });
      own.local = "10.0.12.99";
      doc.sysctl["net.ipv4.conf.all.arp_ignore"] = "1";
    });
    const f = diagnose(obs).findings.find((f) => f.id === "arp-ignored");
    assert.equal(f?.severity, "error");
    assert.match(f!.summary, /10\.0\.12\.11 on eth0: arp_ignore=1 .* is on lo, not eth0/);
    const zero = changedFixture(
      "healthy",
      (doc) => doc.sysctl["net.ipv4.conf.all.arp_ignore"] = "0",
    );
    assert.deepEqual(diagnose(zero).findings, []);
  });
});

describe("snapshots", () => {
  it("one from before the rules, every table and the interface settings were read: still fine", () => {
    const doc = fixtureDocument("healthy") as Doc;
    delete doc.host.rule;
    delete doc.host.routeTables;
    doc.sysctl = { "net.ipv4.ip_forward": "1" };
    for (const c of doc.containers) delete c.capture.sysctl;
    const obs = parseSnapshot(doc);
    assert.deepEqual(diagnose(obs).findings, []);
    assert.equal(diagnose(obs, toH2).ok, true);
  });

  it("IPv6 routes in the listing of every table are left out", () => {
    const obs = fixture("healthy");
    assert.ok(obs.routeTables!.length > 0);
    assert.ok(obs.routeTables!.every((r) => r.dst.address.family === 4));
  });
});

describe("an uplink whose name holds a dot (a VLAN)", () => {
  it("strict rp_filter on eth0.100: read under its whole name, fixed in sysctl's slash form", () => {
    // The rp-filter-strict lab (packets arrive on eth0, the way back leaves by eth1), its uplink
    // renamed as a VLAN would be.
    const text = JSON.stringify(fixtureDocument("rp-filter-strict"))
      .replaceAll('"eth0"', '"eth0.100"')
      .replaceAll("net.ipv4.conf.eth0.", "net.ipv4.conf.eth0.100.");
    const d = diagnose(parseSnapshot(JSON.parse(text)));
    const f = d.findings.find((x) => x.id === "rp-filter-strict");
    assert.ok(f, d.findings.map((x) => x.id).join(" "));
    assert.match(f.summary, /on eth0\.100 /);
    assert.ok(f.evidence.includes("net.ipv4.conf.eth0.100.rp_filter = 0"), f.evidence.join("; "));
    assert.ok(
      f.fix.includes("sysctl -w net/ipv4/conf/eth0.100/rp_filter=2"),
      `${f.fix.join("; ")}: sysctl would read net.ipv4.conf.eth0.100 as eth0/100`,
    );
  });
});
