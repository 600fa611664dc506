/**
 * Doctor on the VXLAN path, from snapshots and probes captured on real hand-built VXLAN networks
 * (tests/support/capture_vxlan_snapshots.ts: h1 and h2 on segment A, h3 on segment B, subnets
 * 1.1.1.0/24, 1.1.2.0/24 and 1.1.3.0/24; h1 reaches h2 host-gw and h3 over VXLAN): each break
 * named first, as an error, with its exact fix, whole host and along the packet's way; the odd
 * set-ups that work called fine; the same snapshots without the registry; the firewall walk of
 * VXLAN's UDP; and the captured probes replayed (the kernel's trace of the encapsulated echoes).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { doctorContext } from "../../../lib/doctor/context.ts";
import { diagnose, type Diagnosis } from "../../../lib/doctor/diagnose.ts";
import { chainVerdict, forwardVerdict, parseIptablesSave } from "../../../lib/doctor/iptables.ts";
import { nftHookVerdict, parseNftRuleset } from "../../../lib/doctor/nft.ts";
import { verdictDoubts } from "../../../lib/doctor/packet.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { judgeProbe } from "../../../lib/doctor/verdict.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { tracePasses } from "../../../lib/probe/passes.ts";
import { pathView } from "../../../lib/probe/path.ts";
import {
  encapsulatedEcho,
  traceTableScript,
  vxlanTraceRules,
} from "../../../lib/probe/trace_table.ts";
import { parseMonitorLine } from "../../../lib/probe/trace_line.ts";
import { readProbeFixture } from "../../support/probe_fixture.ts";
import { changedFixture, type Doc, fixture } from "./fixture.ts";

const SYNC_H1 = "hg peer sync --store file:///tmp/lab/subnets.json --node lab-h1";
const H3_MAC = "0e:56:0a:00:14:0d";
const toH3 = { to: parseAddress("1.1.3.2"), from: "lab-h1-c1" };
const toH2 = { to: parseAddress("1.1.2.2"), from: "lab-h1-c1" };

const ids = (d: Diagnosis) => d.findings.map((f) => `${f.id}:${f.severity}`).join(", ");
/** Fix lines that remove or replace a route, address, rule, neighbour, fdb entry or firewall rule. */
const REMOVING =
  /\b(ip (-n \S+ )?(route|rule|addr|address|neigh|link) (del|delete|flush|replace|change)|bridge fdb (del|replace)|hg peer rm|hg netns del|nft (delete|flush)|iptables -D|iptables -F)\b/;

/** The snapshot's diagnoses: whole host, and from h1 along the way to h3's container. */
function diagnoses(name: string): Diagnosis[] {
  const obs = fixture(name);
  return obs.node === "lab-h1" ? [diagnose(obs), diagnose(obs, toH3)] : [diagnose(obs)];
}

/** The breaks: the snapshot, the id doctor names first, and the fix it prints. */
const BREAKS: Readonly<Record<string, { id: string; fix: readonly string[] }>> = {
  "vxlan-device-down": { id: "vxlan-device-down", fix: ["ip link set flannel.1 up", SYNC_H1] },
  "vxlan-device-missing": { id: "vxlan-device-missing", fix: [SYNC_H1] },
  "vxlan-device-mismatch": { id: "vxlan-device-mismatch", fix: [SYNC_H1] },
  "vxlan-neighbour-missing": {
    id: "vxlan-neighbour-missing",
    fix: [`ip neigh replace 1.1.3.0 lladdr ${H3_MAC} dev flannel.1 nud permanent`],
  },
  "vxlan-neighbour-wrong": {
    id: "vxlan-neighbour-wrong",
    fix: [`ip neigh replace 1.1.3.0 lladdr ${H3_MAC} dev flannel.1 nud permanent`],
  },
  "vxlan-fdb-missing": {
    id: "vxlan-fdb-missing",
    fix: [`bridge fdb replace ${H3_MAC} dev flannel.1 dst 10.0.20.13 self permanent`],
  },
  "vxlan-fdb-wrong": {
    id: "vxlan-fdb-wrong",
    fix: [`bridge fdb replace ${H3_MAC} dev flannel.1 dst 10.0.20.13 self permanent`],
  },
  "vxlan-udp-dropped-input": {
    id: "vxlan-udp-dropped",
    fix: ["iptables -I INPUT 1 -i eth0 -p udp --dport 8472 -j ACCEPT"],
  },
  "vxlan-udp-dropped-output": {
    id: "vxlan-udp-dropped",
    fix: ["nft insert rule inet hgt out oifname eth0 udp dport 8472 accept"],
  },
  "vxlan-peer-mode-stale-h3": {
    id: "peer-mode-stale",
    fix: ["hg peer sync --store file:///tmp/lab/subnets.json --node lab-h3"],
  },
};

/** Set-ups that pass a real ping, and what doctor still says about them (never an error). */
const WORKING: Readonly<Record<string, { id: string; severity: string } | undefined>> = {
  "vxlan-healthy": undefined,
  "vxlan-healthy-h3": undefined,
  "vxlan-ok-no-direct-routing": undefined,
  "vxlan-ok-flanneld-peer": undefined,
  "vxlan-ok-fdb-default": undefined,
  "vxlan-ok-all-host-gw": undefined,
  "vxlan-ok-input-drop-policy": undefined,
  "vxlan-ok-onlink-tunnel": { id: "peer-mode-stale", severity: "warning" },
  "vxlan-mtu": { id: "vxlan-mtu", severity: "warning" },
};

describe("doctor on captured VXLAN snapshots", () => {
  for (const [name, want] of Object.entries(BREAKS)) {
    it(`${name}: ${want.id} first, an error, with evidence and the fix`, () => {
      for (const d of diagnoses(name)) {
        assert.equal(d.status, "problem", ids(d));
        assert.equal(d.findings[0].id, want.id, ids(d));
        assert.equal(d.findings[0].severity, "error");
        assert.deepEqual(d.findings[0].fix, want.fix);
        assert.ok(d.findings[0].evidence.length > 0);
        assert.ok(d.verdict.startsWith(d.findings[0].summary));
      }
    });
  }

  for (const [name, says] of Object.entries(WORKING)) {
    it(`${name}: no error, nothing that removes${says ? `; ${says.id} as ${says.severity}` : ""}`, () => {
      const all = name === "vxlan-ok-all-host-gw"
        ? [diagnose(fixture(name)), diagnose(fixture(name), toH2)]
        : diagnoses(name);
      for (const d of all) {
        assert.equal(d.status, "ok", `${d.verdict} (${ids(d)})`);
        for (const f of d.findings) {
          assert.ok(f.fix.every((l) => !REMOVING.test(l)), `${f.id}: ${f.fix.join("; ")}`);
        }
      }
      const findings = all.flatMap((d) => d.findings).filter((f) => f.severity !== "info");
      if (says) {
        assert.ok(
          findings.length > 0 && findings.every((f) => f.id === says.id),
          all.map(ids).join(" | "),
        );
        assert.ok(findings.every((f) => f.severity === says.severity));
      } else assert.deepEqual(findings, [], all.map(ids).join(" | "));
    });
  }

  it("the healthy host: every stage of the way to h3 fine, the gateway its VTEP", () => {
    const d = diagnose(fixture("vxlan-healthy"), toH3);
    assert.ok(d.path!.every((s) => s.ok), JSON.stringify(d.path));
    assert.ok(
      d.path!.some((s) =>
        s.text ===
          `gateway 1.1.3.0 on flannel.1, neighbour PERMANENT ${H3_MAC} (VTEP at 10.0.20.13)`
      ),
      JSON.stringify(d.path),
    );
    // The way back over VXLAN needs this host's VTEP MAC too.
    const back = d.findings.find((f) => f.id === "return-path")!;
    assert.match(
      back.fix[0],
      /hg peer add 1\.1\.1\.0\/24 --via 10\.0\.12\.11 --vtep-mac 0e:56:0a:00:0c:0b$/,
    );
  });

  it("device down: its routes' absence is not said again as missing routes", () => {
    for (const d of diagnoses("vxlan-device-down")) {
      assert.ok(
        !d.findings.some((f) => f.id === "peer-route-missing" || f.id === "no-route"),
        ids(d),
      );
    }
  });

  it("device mismatch: the MAC the others address is named, with the lease's", () => {
    const f = diagnose(fixture("vxlan-device-mismatch")).findings[0];
    assert.match(f.summary, /MAC 0e:56:0a:00:0c:99, not 0e:56:0a:00:0c:0b/);
    assert.ok(
      f.evidence.some((e) =>
        e.startsWith("flannel.1: vxlan id 1 dstport 8472 local 10.0.12.11 dev eth0")
      ),
    );
  });

  it("device mismatch by the lease alone: leasing again is the fix", () => {
    const obs = changedFixture("vxlan-healthy", (doc) => {
      const own = (doc.registry.leases as Doc[]).find((l) => l.key === "1.1.1.0-24")!;
      own.value.BackendData.VtepMAC = "6a:00:00:00:00:01";
    });
    const f = diagnose(obs).findings[0];
    assert.equal(f.id, "vxlan-device-mismatch");
    assert.deepEqual(f.fix, [
      "hg setup --store file:///tmp/lab/subnets.json --node lab-h1",
      "# then on the other hosts: hg peer sync --store file:///tmp/lab/subnets.json (their agents do it themselves)",
    ]);
  });

  it("another VNI or port than the registry's is a mismatch", () => {
    const obs = changedFixture("vxlan-healthy", (doc) => {
      doc.registry.config.Backend.Port = 4789;
    });
    const f = diagnose(obs).findings.find((f) => f.id === "vxlan-device-mismatch");
    assert.match(f!.summary, /UDP port 8472, not 4789/);
  });

  it("UDP dropped on the way in: the peers that cannot reach this host named", () => {
    const f = diagnose(fixture("vxlan-udp-dropped-input")).findings[0];
    assert.match(
      f.summary,
      /on its way in from lab-h1 at 10\.0\.12\.11 and lab-h2 at 10\.0\.12\.12/,
    );
    assert.equal(f.evidence[0], "iptables: -A INPUT -p udp -m udp --dport 8472 -j DROP");
  });

  it("UDP dropped on the way out: in the firewall step of the way to h3, not to h2", () => {
    const to3 = diagnose(fixture("vxlan-udp-dropped-output"), toH3);
    const step = to3.path!.find((s) => s.stage === "firewall")!;
    assert.equal(step.ok, false);
    assert.match(step.text, /drops the VXLAN packets that carry it/);
    assert.equal(diagnose(fixture("vxlan-udp-dropped-output"), toH2).status, "ok");
  });

  it("peer moved off the segment: its host-gw route named stale, the sync as fix, on the way to it", () => {
    for (
      const d of [
        diagnose(fixture("vxlan-peer-mode-stale")),
        diagnose(fixture("vxlan-peer-mode-stale"), toH2),
      ]
    ) {
      const f = d.findings[0];
      assert.equal(f.id, "peer-mode-stale", ids(d));
      assert.equal(f.severity, "error");
      assert.deepEqual(f.fix, [SYNC_H1]);
      assert.match(
        f.summary,
        /goes host-gw via 10\.0\.12\.12 dev eth0, but lab-h2 at 10\.0\.20\.12 is to be reached over VXLAN now/,
      );
      // Not also called a wrong host or an off-link gateway.
      assert.ok(
        !d.findings.some((x) => x.id === "route-wrong-host" || x.id === "gateway-off-link"),
        ids(d),
      );
    }
  });

  it("peer came onto the segment while its tunnel still points at the old address: an error", () => {
    const f = diagnose(fixture("vxlan-peer-mode-stale-h3")).findings[0];
    assert.match(
      f.summary,
      /goes over VXLAN \(flannel\.1\), but lab-h2 at 10\.0\.20\.12 is on this host's segment now/,
    );
    assert.ok(f.evidence.includes("bridge fdb: 0e:56:0a:00:0c:0c dev flannel.1 dst 10.0.12.12"));
  });

  it("MTU: the bridge, veth and container above the tunnel's, each lowered by the fix", () => {
    const f = diagnose(fixture("vxlan-mtu")).findings.find((f) => f.id === "vxlan-mtu")!;
    assert.equal(f.fix[0], "ip link set cni0 mtu 1450");
    assert.match(f.fix[1], /^ip link set hgv[0-9a-f]+ mtu 1450$/);
    assert.equal(f.fix[2], "ip -n lab-h1-c1 link set eth0 mtu 1450");
    // The device above its uplink less the encapsulation is said too.
    const big = changedFixture("vxlan-healthy", (doc) => {
      doc.host.link.find((l: Doc) => l.ifname === "flannel.1").mtu = 1500;
    });
    const device = diagnose(big).findings.find((f) => f.id === "vxlan-mtu")!;
    assert.equal(device.severity, "warning");
    assert.deepEqual(device.fix, ["ip link set flannel.1 mtu 1450"]);
  });

  it("a host-gw network, and a VXLAN one whose peers are all on-link at 1450: no VXLAN finding", () => {
    assert.deepEqual(diagnose(fixture("healthy")).findings, []);
    const allHostGw = diagnose(fixture("vxlan-ok-all-host-gw"));
    assert.ok(!allHostGw.findings.some((f) => f.id.startsWith("vxlan-")), ids(allHostGw));
  });

  it("the flanneld host's lease (a random MAC, no node) is checked like any other", () => {
    const broken = changedFixture("vxlan-ok-flanneld-peer", (doc) => {
      doc.host.fdb.entries = doc.host.fdb.entries.filter((e: Doc) => e.mac !== "6a:1b:2c:3d:4e:5f");
    });
    const f = diagnose(broken).findings[0];
    assert.equal(f.id, "vxlan-fdb-missing");
    assert.deepEqual(f.fix, [
      "bridge fdb replace 6a:1b:2c:3d:4e:5f dev flannel.1 dst 10.0.20.50 self permanent",
    ]);
  });

  it("many peers with one fault: one finding, their fixes (a sync beyond five)", () => {
    const obs = changedFixture("vxlan-fdb-missing", (doc) => {
      const route = doc.host.route.find((r: Doc) => r.dst === "1.1.3.0/24");
      for (let i = 10; i < 17; i++) {
        doc.host.route.push({ ...route, dst: `1.1.${i}.0/24`, gateway: `1.1.${i}.0` });
        doc.host.neigh.push({
          dst: `1.1.${i}.0`,
          dev: "flannel.1",
          lladdr: `0e:00:00:00:00:${i}`,
          state: ["PERMANENT"],
        });
      }
    });
    const f = diagnose(obs).findings.find((f) => f.id === "vxlan-fdb-missing")!;
    assert.match(f.summary, /^no fdb entries on flannel\.1 for 8 peers' VTEP MACs/);
    assert.deepEqual(f.fix, [SYNC_H1]);
  });
});

describe("doctor on VXLAN snapshots without the registry", () => {
  const bare = (name: string, change: (doc: Doc) => void = () => {}) =>
    diagnose(changedFixture(name, (doc) => {
      delete doc.registry;
      change(doc);
    }));

  it("the healthy host, and the odd ones: nothing to say", () => {
    for (
      const name of [
        "vxlan-healthy",
        "vxlan-ok-fdb-default",
        "vxlan-ok-flanneld-peer",
        "vxlan-ok-no-direct-routing",
      ]
    ) {
      const d = bare(name);
      assert.deepEqual(d.findings.filter((f) => f.severity !== "info"), [], `${name}: ${ids(d)}`);
    }
  });

  it("what cannot be right without the registry: missing entries, a down device, dropped UDP", () => {
    assert.equal(bare("vxlan-neighbour-missing").findings[0].id, "vxlan-neighbour-missing");
    assert.match(
      bare("vxlan-neighbour-missing").findings[0].fix[0],
      /^# give it the peer's VTEP MAC: ip neigh replace 1\.1\.3\.0 lladdr PEER-VTEP-MAC/,
    );
    assert.equal(bare("vxlan-fdb-missing").findings[0].id, "vxlan-fdb-missing");
    // A neighbour MAC without an fdb entry: the packets have no host to go to.
    assert.equal(bare("vxlan-neighbour-wrong").findings[0].id, "vxlan-fdb-missing");
    const down = bare("vxlan-device-down").findings[0];
    assert.equal(down.id, "vxlan-device-down");
    assert.equal(down.fix[0], "ip link set flannel.1 up");
    assert.match(down.fix[1], /^# then route the VXLAN peers again/);
    assert.equal(bare("vxlan-udp-dropped-output").findings[0].id, "vxlan-udp-dropped");
  });

  it("a neighbour entry with this host's own MAC, an fdb entry to this host itself: wrong", () => {
    const own = bare("vxlan-healthy", (doc) => {
      doc.host.neigh.find((n: Doc) => n.dev === "flannel.1").lladdr = "0e:56:0a:00:0c:0b";
      doc.host.fdb.entries.push({
        mac: "0e:56:0a:00:0c:0b",
        dst: "10.0.12.11",
        state: "permanent",
      });
    });
    assert.deepEqual(own.findings.map((f) => f.id), ["vxlan-neighbour-wrong", "vxlan-fdb-wrong"]);
    // Without the registry another host's address is not known to be wrong.
    assert.deepEqual(bare("vxlan-fdb-wrong").findings.filter((f) => f.severity !== "info"), []);
  });
});

describe("the firewall walk of VXLAN's UDP", () => {
  const h1 = parseAddress("10.0.12.11");
  const h3 = parseAddress("10.0.20.13");
  const inbound = { src: h3, dst: h1, iif: "eth0", protocol: "udp" as const, dport: 8472 };
  const outbound = { src: h1, dst: h3, oif: "eth0", protocol: "udp" as const, dport: 8472 };
  const icmp = {
    src: parseAddress("1.1.1.2"),
    dst: parseAddress("1.1.3.2"),
    iif: "cni0",
    oif: "flannel.1",
  };
  const save = (rules: string) =>
    parseIptablesSave(
      `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules}COMMIT\n`,
    );

  it("iptables: ports, ranges and multiport lists are matched, on the protocol's packets only", () => {
    for (
      const rule of [
        "-p udp -m udp --dport 8472",
        "-p udp -m multiport --dports 4789,8472",
        "-p udp --dport 8000:9000",
        "-p udp -m udp ! --dport 53",
      ]
    ) {
      const v = chainVerdict(save(`-A INPUT ${rule} -j DROP\n`), "INPUT", inbound);
      assert.equal(v.accepted, false, rule);
      assert.deepEqual(v.skipped, []);
    }
    for (
      const rule of [
        "-p tcp --dport 8472",
        "-p udp --dport 4789",
        "-p udp ! --dport 8472",
        "-o eth0 -p udp",
      ]
    ) {
      assert.equal(
        chainVerdict(save(`-A INPUT ${rule} -j DROP\n`), "INPUT", inbound).accepted,
        true,
        rule,
      );
    }
    // The sender's own packets meet OUTPUT, not INPUT.
    const filter = save("-A OUTPUT -o eth0 -p udp --dport 8472 -j REJECT\n");
    assert.equal(chainVerdict(filter, "OUTPUT", outbound).accepted, false);
    assert.equal(chainVerdict(filter, "INPUT", inbound).accepted, true);
  });

  it("iptables: a source port (VXLAN's is a hash) cannot be told: the rule is in doubt", () => {
    const v = chainVerdict(save("-A INPUT -p udp --sport 40000:50000 -j DROP\n"), "INPUT", inbound);
    assert.equal(v.accepted, true);
    assert.deepEqual(verdictDoubts(v), ["-A INPUT -p udp --sport 40000:50000 -j DROP"]);
  });

  it("a rule for another protocol never matches, whatever it also asks (no doubt for the ping)", () => {
    const v = forwardVerdict(save("-A FORWARD -p udp -m set --match-set x src -j DROP\n"), icmp);
    assert.equal(v.accepted, true);
    assert.deepEqual(verdictDoubts(v), []);
  });

  it("nftables: sets, ranges, th, the prerouting and input hooks in order", () => {
    const ruleset = (rules: string[], hook = "input", policy = "accept") =>
      parseNftRuleset({
        nftables: [
          { chain: { family: "inet", table: "t", name: "c", hook, prio: 0, policy } },
          ...rules.map((r) => ({
            rule: { family: "inet", table: "t", chain: "c", expr: JSON.parse(r) },
          })),
        ],
      });
    const udp = (right: unknown, op = "==", protocol = "udp", field = "dport") =>
      `[{"match":{"op":"${op}","left":{"payload":{"protocol":"${protocol}","field":"${field}"}},"right":${
        JSON.stringify(right)
      }}},{"drop":null}]`;
    const drops = [
      udp(8472),
      udp({ set: [4789, 8472] }),
      udp({ range: [8000, 9000] }, "==", "th"),
      udp(53, "!="),
    ];
    for (const r of drops) {
      const v = nftHookVerdict(ruleset([r]), inbound, ["prerouting", "input"]);
      assert.equal(v.accepted, false, r);
      assert.match(v.decidedBy!, /^inet t c: /);
    }
    for (const r of [udp(4789), udp(8472, "==", "tcp"), udp(8472, "!=")]) {
      assert.equal(
        nftHookVerdict(ruleset([r]), inbound, ["prerouting", "input"]).accepted,
        true,
        r,
      );
    }
    assert.equal(
      nftHookVerdict(ruleset([udp(8472)], "prerouting"), inbound, ["prerouting", "input"]).accepted,
      false,
    );
    assert.equal(
      nftHookVerdict(ruleset([udp(8472)], "output"), inbound, ["prerouting", "input"]).accepted,
      true,
    );
    const policy = nftHookVerdict(ruleset([], "output", "drop"), outbound, [
      "output",
      "postrouting",
    ]);
    assert.equal(policy.decidedBy, "inet t c: policy drop (hook output)");
    const sport = nftHookVerdict(ruleset([udp(53, "==", "udp", "sport")]), inbound, ["input"]);
    assert.equal(sport.accepted, true);
    assert.equal(verdictDoubts(sport).length, 1);
    // udp dport never matches a ping, nor makes its verdict doubtful.
    const ping = nftHookVerdict(ruleset([udp(8472)], "forward"), icmp, ["forward"]);
    assert.deepEqual([ping.accepted, ping.skipped], [true, []]);
  });
});

describe("the probe's trace of the encapsulated echoes", () => {
  it("one trace rule per echo type and id at the inner echo's offsets, read back from the trace", () => {
    assert.deepEqual(vxlanTraceRules(8472, [4242]), [
      "udp dport 8472 @th,400,8 8 @th,432,16 4242 meta nftrace set 1",
      "udp dport 8472 @th,400,8 0 @th,432,16 4242 meta nftrace set 1",
    ]);
    assert.deepEqual(
      encapsulatedEcho("udp dport 8472 @th,400,8 0x8 @th,432,16 0x1092 meta nftrace set 1"),
      { icmpType: "echo-request", icmpId: 4242 },
    );
    assert.deepEqual(
      encapsulatedEcho("udp dport 4789 @th,400,8 0x0 @th,432,16 0x1092 meta nftrace set 1"),
      { icmpType: "echo-reply", icmpId: 4242 },
    );
    assert.equal(encapsulatedEcho("icmp id 4242 meta nftrace set 1"), undefined);
    assert.ok(!traceTableScript("hgprobe_1_2", [7], ["eth0"]).includes("udp dport"));
    assert.match(
      traceTableScript("hgprobe_1_2", [7], ["eth0"], 8472),
      /udp dport 8472 @th,400,8 8 @th,432,16 7 meta nftrace set 1/,
    );
  });

  it("a traced VXLAN packet carries its echo's type and id through every table it passes", () => {
    const events = [
      'trace id 01 inet hgprobe_1_2 trace_input packet: iif "eth0" ip saddr 10.0.12.11 ip daddr 10.0.20.13 ip id 7 ip protocol udp udp sport 1 udp dport 8472',
      "trace id 01 inet hgprobe_1_2 trace_input rule udp dport 8472 @th,400,8 0x8 @th,432,16 0x1092 meta nftrace set 1 # handle 3 (verdict continue)",
      "trace id 01 inet hgprobe_1_2 trace_input policy accept",
      'trace id 01 ip filter INPUT packet: iif "eth0" ip saddr 10.0.12.11 ip daddr 10.0.20.13 ip id 7 udp sport 1 udp dport 8472',
      "trace id 01 ip filter INPUT rule udp dport 8472 drop # handle 9 (verdict drop)",
      // The kernel's trace id again, for another packet (another IP id): not the echo's.
      'trace id 01 ip filter INPUT packet: iif "eth0" ip saddr 10.0.12.11 ip daddr 10.0.20.13 ip id 8 udp sport 1 udp dport 8472',
    ];
    const parsed = events.map(parseMonitorLine).flatMap((e) =>
      e && e.kind !== "ruleset" ? [e] : []
    );
    const passes = tracePasses(parsed, new Map([["ip filter INPUT", "input"]]));
    assert.deepEqual(
      passes.map((p) => [p.encapsulated ?? false, p.packet.icmpType, p.packet.icmpId]),
      [
        [true, "echo-request", 4242],
        [true, "echo-request", 4242],
        [false, undefined, undefined],
      ],
    );
    assert.equal(passes[1].verdict, "drop");
  });
});

/** A captured VXLAN probe replayed through the pure half of doctor. */
function replay(name: string, change: (peer: Doc) => void = () => {}) {
  const f = readProbeFixture(
    readFileSync(
      new URL(`../../fixtures/doctor/vxlan-probe/${name}.json`, import.meta.url),
      "utf8",
    ),
  );
  const obs = parseSnapshot(f.here);
  const here = doctorContext(obs);
  const peerDoc = structuredClone(f.peer) as Doc;
  change(peerDoc);
  const to = parseAddress(f.to);
  const view = pathView(f.result);
  const d = judgeProbe({
    local: diagnose(obs, { to, from: f.from }),
    here,
    peer: { netns: f.peerNetns, ctx: doctorContext(parseSnapshot(peerDoc)) },
    from: here.containers.find((c) => c.name === f.from)!,
    to,
    result: f.result,
  });
  return { view, d };
}

describe("captured VXLAN probes replayed", () => {
  it("healthy: answered; the encapsulated echoes seen leaving this host and reaching the peer", () => {
    const { view, d } = replay("healthy");
    assert.equal(d.status, "ok");
    const here = view.request.find((v) => v.role === "this host")!;
    assert.ok(here.allPasses.some((p) => p.encapsulated && p.hook === "output"));
    const peer = view.request.find((v) => v.role === "peer host")!;
    assert.ok(peer.allPasses.some((p) => p.encapsulated && p.hook === "input"));
  });

  it("UDP dropped on the peer's INPUT: the trace's drop of the VXLAN packets, the peer's fix", () => {
    const { view, d } = replay("udp-dropped-input");
    assert.equal(view.stop?.kind, "dropped");
    assert.equal(view.stop?.role, "peer host");
    assert.equal(
      d.probe?.stoppedAt,
      "requests: peer host lab-h3: dropped by ip filter INPUT (the VXLAN packets that carry them)",
    );
    const f = d.findings[0];
    assert.deepEqual([f.id, f.where, f.severity], ["vxlan-udp-dropped", "lab-h3", "error"]);
    assert.match(f.evidence[0], /^trace: ip filter INPUT \(hook input\): udp dport 8472 .*drop/);
    assert.deepEqual(f.fix, [
      "ip netns exec lab-h3 iptables -I INPUT 1 -i eth0 -p udp --dport 8472 -j ACCEPT",
    ]);
  });

  it("UDP dropped where the static walk cannot see it: the trace alone names it", () => {
    const { d } = replay("udp-dropped-input", (peer) => {
      peer.firewall = { notes: ["iptables-save failed"] };
    });
    const f = d.findings[0];
    assert.equal(f.id, "vxlan-udp-dropped");
    assert.match(
      f.summary,
      /drops the VXLAN packets that carry the probe's echo requests, on peer host \(lab-h3\)/,
    );
    assert.deepEqual(f.fix, [
      "ip netns exec lab-h3 iptables -t filter -I INPUT 1 -p udp --dport 8472 -j ACCEPT",
    ]);
  });

  it("the fdb sends the tunnel elsewhere: the packets left and never arrived, the entry named", () => {
    const { view, d } = replay("fdb-wrong");
    assert.equal(view.stop?.kind, "not-delivered");
    assert.equal(d.findings[0].id, "vxlan-fdb-wrong");
    assert.ok(
      d.findings[0].evidence.some((e) => e.startsWith("trace: the echo requests left this host")),
    );
  });

  it("MTU: small echoes answered, the full-size one refused; vxlan-mtu proven, an error", () => {
    const { view, d } = replay("mtu");
    assert.equal(view.answered, true);
    assert.equal(view.largeLost, true);
    assert.equal(d.status, "problem");
    assert.equal(d.findings[0].id, "vxlan-mtu");
    assert.equal(d.findings[0].severity, "error");
    assert.ok(d.findings[0].evidence.includes("counter IpFragFails +1 during the probe"));
  });
});
