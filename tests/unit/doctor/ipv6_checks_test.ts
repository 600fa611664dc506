/**
 * Doctor's IPv6 checks on snapshots captured from real dual-stack networks in namespaces
 * (tests/support/ipv6_lab.ts): each broken one's first finding, whole host and along an IPv6
 * packet's way, with the fix it prints; each odd-but-working one called fine; and snapshots
 * from before IPv6 (without the IPv6 routes, settings and ip6tables) still diagnosed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { diagnose, type Diagnosis } from "../../../lib/doctor/diagnose.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { fixture } from "./fixture.ts";

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

const document = (name: string): Doc =>
  JSON.parse(
    readFileSync(new URL(`../../fixtures/doctor/ipv6/${name}.json`, import.meta.url), "utf8"),
  );
const snapshot = (name: string) => parseSnapshot(document(name));
const changed = (name: string, change: (doc: Doc) => void) => {
  const doc = document(name);
  change(doc);
  return parseSnapshot(doc);
};

/** h2's container, the destination of the lab's IPv6 ping. */
const TO = parseAddress("fd00:1:2::2");
const ids = (d: Diagnosis) => d.findings.map((f) => `${f.id}:${f.severity}`).join(", ");

/** Fix lines that remove or replace something. */
const REMOVING = /\b(del|delete|flush|replace|rm)\b|\s-[DF]\s/;

describe("doctor's IPv6 checks on captured snapshots", () => {
  it("the healthy dual-stack host: nothing to say, whole host and to an IPv6 container", () => {
    const obs = snapshot("ipv6-healthy");
    assert.deepEqual(diagnose(obs).findings, []);
    const d = diagnose(obs, { to: TO });
    assert.equal(d.ok, true, d.verdict);
    assert.deepEqual(d.findings.map((f) => f.id), ["return-path"]);
    assert.ok(d.path!.every((s) => s.ok), JSON.stringify(d.path));
    assert.match(d.path!.find((s) => s.stage === "route")!.text, /fd00:1:2::\/64 via fd00:12::12/);
    assert.match(d.findings[0].summary, /fd00:12::12 needs fd00:1:1::\/64 via fd00:12::11/);
  });

  const broken: [string, string, RegExp, RegExp][] = [
    [
      "ipv6-forwarding-off",
      "forwarding-off",
      /^IPv6 forwarding is off/,
      /^sysctl -w net\.ipv6\.conf\.all\.forwarding=1$/,
    ],
    [
      "ipv6-forward-drop",
      "firewall-forward-drop",
      /fd00:1:1::2 -> fd00:1:2::2 \(in cni0, out eth0\)/,
      /^ip6tables -I FORWARD 1 -s fd00:1::\/46 -j ACCEPT$/,
    ],
    [
      "ipv6-gateway-failed",
      "gateway-unreachable",
      /fd00:12::12 \(the gateway to fd00:1:2::\/64\) does not answer neighbour solicitations on eth0: its neighbour entry is (INCOMPLETE|FAILED)/,
      /^# check the host at fd00:12::12/,
    ],
  ];
  for (const [name, id, summary, fix] of broken) {
    it(`${name}: ${id} first, whole host and along the way, with its fix`, () => {
      const obs = snapshot(name);
      for (const d of [diagnose(obs), diagnose(obs, { to: TO })]) {
        assert.equal(d.status, "problem");
        assert.equal(d.findings[0].id, id, ids(d));
        assert.equal(d.findings[0].severity, "error");
        assert.match(d.findings[0].summary, summary);
        assert.match(d.findings[0].fix[0], fix);
        assert.ok(d.findings[0].evidence.length > 0);
      }
    });
  }

  it("ipv6-route-missing: the packet's way has no route (no registry: the subnet's host unknown)", () => {
    const obs = snapshot("ipv6-route-missing");
    const d = diagnose(obs, { to: TO });
    assert.equal(d.findings[0].id, "no-route", ids(d));
    assert.match(d.findings[0].summary, /no route to fd00:1:2::2/);
    assert.match(d.findings[0].fix[0], /^hg peer add fd00:1:2::\/64 --via /);
    // Without the registry the whole host cannot know a subnet is missing.
    assert.equal(diagnose(obs).status, "ok");
  });

  it("neighbour solicitations dropped by nftables on the receiving host: ndp-filtered, and its nft fix", () => {
    const d = diagnose(snapshot("ipv6-ndp-nft"));
    assert.equal(d.status, "problem");
    const f = d.findings[0];
    assert.equal(f.id, "ndp-filtered", ids(d));
    assert.match(f.summary, /drops neighbour solicitations from the peer at fd00:12::11 on eth0/);
    assert.doesNotMatch(f.summary, /advertisements/, "the rule drops type 135 only");
    assert.deepEqual(f.evidence, [
      "nft: inet filter input: icmpv6 type nd-neighbor-solicit drop",
    ]);
    assert.deepEqual(f.fix, [
      "nft insert rule inet filter input icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
    ]);
  });

  it("all ICMPv6 dropped by ip6tables' INPUT: ndp-filtered, both types, ip6tables' fix", () => {
    const d = diagnose(snapshot("ipv6-ndp-ip6tables"));
    const f = d.findings[0];
    assert.equal(f.id, "ndp-filtered", ids(d));
    assert.match(f.summary, /neighbour solicitations from the peer at fd00:12::11 on eth0/);
    assert.match(f.summary, /neighbour advertisements from the containers on cni0/);
    assert.deepEqual(f.evidence, ["ip6tables: -A INPUT -p ipv6-icmp -j DROP"]);
    assert.deepEqual(f.fix, [
      "ip6tables -I INPUT 1 -p ipv6-icmp --icmpv6-type 136 -j ACCEPT",
      "ip6tables -I INPUT 1 -p ipv6-icmp --icmpv6-type 135 -j ACCEPT",
    ]);
    // The IPv4 view has its own firewall: no IPv4 finding from an ip6tables rule.
    assert.equal(d.findings.length, 1, ids(d));
  });

  it("a container given another's address, DAD on: address-dad-failed for it, said once", () => {
    const obs = snapshot("ipv6-dad-failed");
    const d = diagnose(obs);
    assert.deepEqual(d.findings.map((f) => f.id), ["address-dad-failed"], ids(d));
    const f = d.findings[0];
    assert.equal(f.severity, "error");
    assert.equal(f.stage, "container");
    assert.match(f.summary, /^fd00:1:1::2 on container lab-h1-c2's eth0 failed duplicate address/);
    assert.match(f.evidence[0], /fd00:1:1::2\/64 tentative dadfailed/);
    assert.deepEqual(f.fix.slice(1), [
      "ip netns exec lab-h1-c2 ip addr del fd00:1:1::2/64 dev eth0",
      "ip netns exec lab-h1-c2 ip addr add fd00:1:1::2/64 dev eth0",
    ]);
    // c1 (the first container) still reaches h2's: its way has no error.
    const way = diagnose(obs, { to: TO, from: "lab-h1-c1" });
    assert.equal(way.ok, true, `${way.verdict} (${ids(way)})`);
    const from2 = diagnose(obs, { to: TO, from: "lab-h1-c2" });
    assert.equal(from2.findings[0].id, "address-dad-failed", ids(from2));
  });

  it("addresses still tentative (DAD on when the links were made): warnings with accept_dad's fix", () => {
    const d = diagnose(snapshot("ipv6-tentative"));
    assert.equal(d.status, "ok", d.verdict);
    const tentative = d.findings.filter((f) => f.id === "address-tentative");
    assert.ok(tentative.length > 0, ids(d));
    assert.ok(d.findings.every((f) => f.id === "address-tentative" && f.severity === "warning"));
    const bridge = tentative.find((f) => f.stage === "bridge");
    assert.ok(bridge, "the bridge's addresses are tentative");
    assert.match(bridge.summary, /fd00:1:1::1.* on cni0 (is|are) still tentative/);
    assert.deepEqual(bridge.fix.slice(0, 2), [
      "sysctl -w net.ipv6.conf.all.accept_dad=0",
      "sysctl -w net.ipv6.conf.default.accept_dad=0",
    ]);
  });

  const working: [string, string][] = [
    [
      "ok-ipv6-echo-drop",
      "an nft drop of echo requests to the host leaves neighbour discovery alone",
    ],
    ["ok-ipv6-ip6tables-nd-first", "ip6tables accepts 135 and 136 before it drops all ICMPv6"],
    ["ok-ipv6-interface-forwarding-off", "all.forwarding on, the bridge's and uplink's own off"],
    ["ok-ipv6-unused-forwarding-off", "IPv6 forwarding off on a host without IPv6 subnets"],
    ["ok-ipv6-nodad", "DAD on, the global addresses added with nodad"],
  ];
  for (const [name, what] of working) {
    it(`${name}: ${what}: fine, nothing that removes`, () => {
      const obs = snapshot(name);
      const all = [diagnose(obs)];
      if (name !== "ok-ipv6-unused-forwarding-off") all.push(diagnose(obs, { to: TO }));
      for (const d of all) {
        assert.equal(d.status, "ok", `${d.verdict} (${ids(d)})`);
        assert.ok(d.findings.every((f) => f.severity === "info" || f.severity === "warning"));
        for (const f of d.findings) {
          assert.ok(f.fix.every((l) => !REMOVING.test(l)), f.fix.join("; "));
        }
      }
    });
  }

  it("an nft rule that accepts neighbour discovery before a drop of all ICMPv6: fine", () => {
    const obs = changed("ipv6-ndp-nft", (doc) => {
      const rules = doc.firewall.nft.nftables;
      const drop = rules.find((r: Doc) => r.rule);
      drop.rule.expr = [
        { match: { op: "==", left: { meta: { key: "l4proto" } }, right: "ipv6-icmp" } },
        { drop: null },
      ];
      const accept = structuredClone(drop);
      accept.rule.expr = [
        {
          match: {
            op: "==",
            left: { payload: { protocol: "icmpv6", field: "type" } },
            right: { set: ["nd-neighbor-solicit", "nd-neighbor-advert"] },
          },
        },
        { accept: null },
      ];
      rules.splice(rules.indexOf(drop), 0, accept);
    });
    assert.deepEqual(diagnose(obs).findings, []);
  });

  it("an nft drop of all ICMPv6 (meta l4proto ipv6-icmp) on input: ndp-filtered", () => {
    const obs = changed("ipv6-ndp-nft", (doc) => {
      const drop = doc.firewall.nft.nftables.find((r: Doc) => r.rule);
      drop.rule.expr[0] = {
        match: { op: "==", left: { meta: { key: "l4proto" } }, right: "ipv6-icmp" },
      };
    });
    const f = diagnose(obs).findings[0];
    assert.equal(f.id, "ndp-filtered");
    assert.match(f.summary, /advertisements/);
  });

  it("IPv6 forwarding on with the bridge's force_forwarding: the per-interface switch is not the cause", () => {
    // all.forwarding off, force_forwarding on the bridge and the uplink (Linux 6.17 on): forwards.
    const obs = changed("ipv6-forwarding-off", (doc) => {
      doc.sysctl["net.ipv6.conf.cni0.force_forwarding"] = "1";
      doc.sysctl["net.ipv6.conf.eth0.force_forwarding"] = "1";
    });
    assert.deepEqual(diagnose(obs).findings, []);
  });
});

describe("snapshots from before IPv6", () => {
  it("an IPv4 snapshot without route6, IPv6 settings or ip6tables diagnoses as before", () => {
    const obs = fixture("healthy");
    assert.equal(obs.routes6, undefined);
    assert.deepEqual(diagnose(obs).findings, []);
  });

  it("a dual-stack snapshot with the IPv6 parts taken out: no IPv6 verdict it cannot make", () => {
    const obs = changed("ipv6-forwarding-off", (doc) => {
      delete doc.host.route6;
      delete doc.firewall.ip6tablesSave;
      for (const c of doc.containers) delete c.capture?.route6;
      for (const key of Object.keys(doc.sysctl)) {
        if (key.startsWith("net.ipv6.")) delete doc.sysctl[key];
      }
    });
    const d = diagnose(obs);
    // The bridge's IPv6 address is there (ip -j addr held it), the forwarding switch is not read.
    assert.ok(!d.findings.some((f) => f.id === "forwarding-off"), ids(d));
    assert.equal(d.status, "ok", ids(d));
  });
});
