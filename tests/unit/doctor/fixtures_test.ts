/**
 * Doctor on snapshots captured from real labs (tests/binary/doctor_test.ts and
 * tests/corpus/doctor_static_test.ts with HG_CAPTURE_DIR): each broken lab's snapshot gives the same first
 * finding offline, without root, whole host and along the packet's way; each odd-but-working
 * lab's gives no error and no fix that removes anything; no finding but an error ever prints
 * such a fix.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { diagnose, type Diagnosis } from "../../../lib/doctor/diagnose.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { fixture, h2Container } from "./fixture.ts";

/** Faults whose snapshot is of the sending host h1: doctor follows the packet there, too. */
const ON_H1: Readonly<Record<string, string>> = {
  "peer-route-missing": "peer-route-missing",
  "forwarding-off": "forwarding-off",
  "bridge-down": "bridge-down",
  "bridge-no-address": "bridge-no-address",
  "veth-detached": "veth-detached",
  "container-no-default-route": "container-no-default-route",
  "route-wrong-host": "route-wrong-host",
  "route-stale": "route-stale",
  "mtu-bridge-over-uplink": "mtu-bridge-over-uplink",
  "gateway-off-link": "gateway-off-link",
  "firewall-iptables": "firewall-forward-drop",
  "firewall-nft": "firewall-forward-drop",
  "uplink-down": "uplink-down",
  "uplink-no-carrier": "uplink-down",
  "forwarding-bridge-off": "forwarding-off",
  "forwarding-uplink-off": "forwarding-off",
  "policy-blackhole": "policy-route",
  "policy-table-router": "policy-route",
  "policy-return": "policy-route",
  "gateway-self": "gateway-self",
  "gateway-unreachable-host-route": "gateway-unreachable",
  "neighbour-wrong-container": "neighbour-wrong",
  "neighbour-wrong-gateway": "neighbour-wrong",
  "address-duplicate": "address-duplicate",
  "mtu-container": "mtu-container",
  "container-route-dev": "container-route-bypass",
  "container-route-via": "container-route-bypass",
  "container-mask-wide": "container-route-bypass",
};

/** Faults whose snapshot is of the receiving host h2: doctor checks the whole host. */
const ON_H2: Readonly<Record<string, string>> = {
  "rp-filter-strict": "rp-filter-strict",
  "echo-ignored": "echo-ignored",
  "arp-ignore-uplink": "arp-ignored",
  "arp-filter-policy": "arp-ignored",
  "arp-ignore-container": "arp-ignored",
};

/** Set-ups that pass a real ping, and what doctor still says about them (never an error). */
const WORKING: Readonly<Record<string, { id: string; severity: string } | undefined>> = {
  "ok-bridge-mask-wide": { id: "bridge-mask-wide", severity: "warning" },
  "ok-lease-released": { id: "route-stale", severity: "warning" },
  "ok-lease-released-h2": { id: "lease-expired", severity: "warning" },
  "ok-policy-harmless": undefined,
  "ok-policy-same-path": undefined,
  "ok-policy-undecided": { id: "policy-route", severity: "undecided" },
  "ok-static-neighbours": undefined,
  "ok-firewall-iptables-unmodeled": { id: "firewall-undecided", severity: "undecided" },
  "ok-firewall-nft-unmodeled": { id: "firewall-undecided", severity: "undecided" },
  "ok-extra-routes": { id: "lease-refused", severity: "warning" },
  "ok-second-uplink": undefined,
  "ok-mtu-pmtu": { id: "mtu-container", severity: "warning" },
  "ok-proxy-arp-dev-route": undefined,
  "ok-arp-ignore-2": undefined,
  "ok-forwarding-per-interface": undefined,
};

/** Fix lines that remove or replace a route, address, rule, neighbour or firewall rule. */
const REMOVING =
  /\b(ip (-n \S+ )?(route|rule|addr|address|neigh) (del|delete|flush|replace|change)|hg peer rm|hg netns del|nft (delete|flush)|iptables -D|iptables -F)\b|\bflush\b/;

/** The diagnoses of a snapshot: whole host, and to h2's container when it is h1's. */
function diagnoses(name: string): Diagnosis[] {
  const obs = fixture(name);
  const whole = diagnose(obs);
  if (obs.node !== "lab-h1") return [whole];
  try {
    return [whole, diagnose(obs, { to: h2Container(obs), from: "lab-h1-c1" })];
  } catch {
    return [whole]; // h2 has no lease (it released it)
  }
}

const ids = (d: Diagnosis) => d.findings.map((f) => `${f.id}:${f.severity}`).join(", ");

describe("doctor on captured snapshots", () => {
  it("the healthy lab host has no error, whole host and along the packet's way", () => {
    const obs = fixture("healthy");
    assert.deepEqual(diagnose(obs).findings, [], "nothing at all to say about the whole host");
    const d = diagnose(obs, { to: h2Container(obs) });
    assert.equal(d.ok, true, d.verdict);
    assert.deepEqual(d.findings.map((f) => f.severity), ["info"], ids(d));
    assert.deepEqual(
      d.path!.map((s) => s.stage),
      [
        "container",
        "veth",
        "bridge",
        "forwarding",
        "route",
        "firewall",
        "uplink",
        "gateway",
        "return",
      ],
    );
    assert.ok(d.path!.every((s) => s.ok));
  });

  for (const [name, id] of Object.entries({ ...ON_H1, ...ON_H2 })) {
    it(`${name}: ${id} named first, as an error with evidence and a fix`, () => {
      for (const d of diagnoses(name)) {
        assert.equal(d.ok, false);
        assert.equal(d.findings[0].id, id, ids(d));
        assert.equal(d.findings[0].severity, "error");
        assert.ok(d.findings[0].fix.length > 0, "with a fix");
        assert.ok(d.findings[0].evidence.length > 0, "with evidence");
        assert.equal(d.verdict.startsWith(d.findings[0].summary), true);
      }
    });
  }

  for (const [name, says] of Object.entries(WORKING)) {
    it(`${name}: no error, and nothing that removes${says ? `; ${says.id} as ${says.severity}` : ""}`, () => {
      const all = diagnoses(name);
      for (const d of all) {
        // What doctor cannot evaluate is undecided: neither a problem nor called OK.
        assert.notEqual(d.status, "problem", `${d.verdict} (${ids(d)})`);
        assert.equal(d.ok, d.status === "ok");
        for (const f of d.findings) {
          assert.ok(f.fix.every((l) => !REMOVING.test(l)), `${f.id}: ${f.fix.join("; ")}`);
        }
      }
      const findings = all.flatMap((d) => d.findings).filter((f) => f.severity !== "info");
      if (says) {
        assert.ok(
          findings.some((f) => f.id === says.id && f.severity === says.severity),
          all.map(ids).join(" | "),
        );
      } else assert.deepEqual(findings, [], all.map(ids).join(" | "));
    });
  }

  it("every captured snapshot: a fix that removes or replaces something is an error's", () => {
    const names = readdirSync(new URL("../../fixtures/doctor/", import.meta.url))
      .filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
    assert.ok(names.length >= 45, `${names.length} snapshots`);
    for (const name of names) {
      for (const d of diagnoses(name)) {
        for (const f of d.findings) {
          if (f.severity === "error") continue;
          assert.ok(
            f.fix.every((l) => !REMOVING.test(l)),
            `${name}: ${f.id} ${f.severity}: ${f.fix}`,
          );
        }
      }
    }
  });
});

describe("the fixes doctor prints for the captured faults", () => {
  const first = (name: string, to = true) => diagnoses(name)[to ? 1 : 0].findings[0];

  it("forwarding: the interface the packets arrive on", () => {
    assert.deepEqual(first("forwarding-bridge-off").fix, [
      "sysctl -w net.ipv4.conf.cni0.forwarding=1",
    ]);
    assert.deepEqual(first("forwarding-uplink-off").fix, [
      "sysctl -w net.ipv4.conf.eth0.forwarding=1",
    ]);
    assert.equal(first("forwarding-off").fix[0], "sysctl -w net.ipv4.ip_forward=1");
  });

  it("policy: the rule that sends the packet away, with the kernel's route as evidence", () => {
    for (const name of ["policy-blackhole", "policy-table-router", "policy-return"]) {
      const f = first(name);
      assert.deepEqual(f.fix, ["ip rule del pref 100"], name);
      assert.match(f.evidence[0], /^ip rule: 100: /);
      assert.ok(f.evidence.some((e) => e.startsWith("the kernel: ")), name);
    }
    assert.equal(first("policy-return").stage, "return");
    assert.match(
      first("policy-table-router").evidence.join("\n"),
      /default via 10\.0\.12\.1 dev eth0 table 100/,
    );
  });

  it("uplink down: up again, and the peer routes the kernel removed put back", () => {
    assert.deepEqual(first("uplink-down").fix, [
      "ip link set eth0 up",
      "hg peer sync --store file:///run/hg/lab-lab/subnets.json --node lab-h1",
    ]);
    assert.ok(
      diagnoses("uplink-down").every((d) => !d.findings.some((f) => f.id === "peer-route-missing")),
    );
  });

  it("gateway-self and a host route to a host that is not there", () => {
    const obs = fixture("gateway-self");
    const subnet = `${formatAddress(h2Container(obs)).split(".").slice(0, 3).join(".")}.0/24`;
    assert.deepEqual(first("gateway-self").fix, [`hg peer add ${subnet} --via 10.0.12.12`]);
    const to = formatAddress(h2Container(fixture("gateway-unreachable-host-route")));
    assert.deepEqual(first("gateway-unreachable-host-route").fix, [
      `ip route del ${to}/32 via 10.0.12.19 dev eth0`,
    ]);
  });

  it("neighbours: the static entry removed; a duplicate address named, not removed", () => {
    assert.match(first("neighbour-wrong-container").fix[0], /^ip neigh del 1\.1\.\d+\.2 dev cni0$/);
    assert.deepEqual(first("neighbour-wrong-gateway").fix, ["ip neigh del 10.0.12.12 dev eth0"]);
    const dup = first("address-duplicate");
    assert.ok(dup.fix.every((l) => l.startsWith("#")));
    assert.match(dup.evidence.join("\n"), /ports of cni0 that are not hg containers: xv0/);
  });

  it("container routes and MTU: inside the container", () => {
    assert.match(
      first("container-route-dev").fix[0],
      /^ip -n lab-h1-c1 route del 1\.1\.\d+\.0\/24$/,
    );
    assert.deepEqual(
      first("container-mask-wide").fix.map((l) => l.replace(/\d+\.\d+\.\d+\.\d+/g, "A")),
      [
        "ip -n lab-h1-c1 addr del A/16 dev eth0",
        "ip -n lab-h1-c1 addr add A/24 dev eth0",
        "ip -n lab-h1-c1 route replace default via A dev eth0",
      ],
    );
    assert.deepEqual(first("mtu-container").fix, ["ip -n lab-h1-c1 link set eth0 mtu 1500"]);
  });

  it("on the receiving host: pings, ARP", () => {
    assert.deepEqual(first("echo-ignored", false).fix, [
      "ip netns exec lab-h2-c1 sysctl -w net.ipv4.icmp_echo_ignore_all=0",
    ]);
    assert.deepEqual(first("arp-ignore-uplink", false).fix, [
      "sysctl -w net.ipv4.conf.all.arp_ignore=0",
      "sysctl -w net.ipv4.conf.eth0.arp_ignore=0",
    ]);
    assert.match(first("arp-filter-policy", false).summary, /route back leaves, and that is dm0/);
    assert.match(first("arp-ignore-container", false).fix[0], /^ip netns exec lab-h2-c1 sysctl/);
  });

  it("rp-filter-strict: named on the host with two uplinks, with both sysctls in the fix", () => {
    assert.deepEqual(first("rp-filter-strict", false).fix, [
      "sysctl -w net.ipv4.conf.all.rp_filter=2",
      "sysctl -w net.ipv4.conf.eth0.rp_filter=2",
    ]);
  });

  it("firewall drops: an accept for the cluster network", () => {
    assert.match(
      first("firewall-nft", false).fix.join("\n"),
      /^nft insert rule inet hgt hgfwd ip saddr 1\.1\.0\.0\/16 accept$/m,
    );
    assert.match(
      first("firewall-iptables", false).fix.join("\n"),
      /^iptables -I FORWARD 1 -s 1\.1\.0\.0\/16 -j ACCEPT$/m,
    );
  });

  it("peer-route-missing: the registry's exact peer add", () => {
    const obs = fixture("peer-route-missing");
    const to = h2Container(obs);
    const subnet = `${formatAddress(to).split(".").slice(0, 3).join(".")}.0/24`;
    assert.deepEqual(first("peer-route-missing").fix, [`hg peer add ${subnet} --via 10.0.12.12`]);
  });

  it("route-stale: removed only because its gateway does not answer", () => {
    const f = first("route-stale");
    assert.match(f.fix[0], /^hg peer rm 1\.1\.\d+\.0\/25$/);
    assert.match(f.evidence.join("\n"), /ip neigh: 10\.0\.12\.19 dev eth0 (FAILED|INCOMPLETE)/);
  });

  it("an unknown --from is bad input", () => {
    assert.throws(
      () => diagnose(fixture("healthy"), { to: h2Container(fixture("healthy")), from: "nope" }),
      /no container nope on this host/,
    );
  });
});
