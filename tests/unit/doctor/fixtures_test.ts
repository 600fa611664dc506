/**
 * Doctor on snapshots captured from the e2e labs (tests/e2e/doctor_test.ts with
 * HG_CAPTURE_DIR): each broken lab's snapshot gives the same first finding offline, without
 * root; the healthy one gives no error.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { fixture, h2Container } from "./fixture.ts";

const onH1 = [
  "peer-route-missing",
  "forwarding-off",
  "bridge-down",
  "bridge-no-address",
  "veth-detached",
  "container-no-default-route",
  "route-wrong-host",
  "route-stale",
  "mtu-bridge-over-uplink",
  "gateway-off-link",
];

describe("doctor on captured snapshots", () => {
  it("the healthy lab host has no error, whole host and along the packet's way", () => {
    const obs = fixture("healthy");
    assert.deepEqual(diagnose(obs).findings, [], "nothing at all to say about the whole host");
    for (const d of [diagnose(obs), diagnose(obs, { to: h2Container(obs) })]) {
      assert.equal(d.ok, true, d.verdict);
      assert.deepEqual(d.findings.filter((f) => f.severity === "error"), []);
    }
    const path = diagnose(obs, { to: h2Container(obs) }).path!;
    assert.deepEqual(
      path.map((s) => s.stage),
      ["container", "veth", "bridge", "forwarding", "route", "firewall", "gateway", "return"],
    );
    assert.ok(path.every((s) => s.ok));
  });

  for (const id of onH1) {
    it(`${id}: named first for the packet to h2's container`, () => {
      const obs = fixture(id);
      const d = diagnose(obs, { to: h2Container(obs), from: "lab-h1-c1" });
      assert.equal(d.ok, false);
      assert.equal(d.findings[0].id, id, d.findings.map((f) => f.id).join(", "));
      assert.ok(d.findings[0].fix.length > 0, "with a fix");
      assert.ok(d.findings[0].evidence.length > 0, "with evidence");
      assert.equal(d.verdict.startsWith(d.findings[0].summary), true);
    });
  }

  for (const name of ["firewall-iptables", "firewall-nft"]) {
    it(`${name}: firewall-forward-drop, whole host and for the packet`, () => {
      const obs = fixture(name);
      for (const d of [diagnose(obs), diagnose(obs, { to: h2Container(obs) })]) {
        assert.equal(d.findings[0].id, "firewall-forward-drop");
      }
      const fix = diagnose(obs).findings[0].fix.join("\n");
      assert.match(
        fix,
        name === "firewall-nft"
          ? /^nft insert rule inet hgt hgfwd ip saddr 1\.1\.0\.0\/16 accept$/m
          : /^iptables -I FORWARD 1 -s 1\.1\.0\.0\/16 -j ACCEPT$/m,
      );
    });
  }

  it("rp-filter-strict: named on the host with two uplinks, with both sysctls in the fix", () => {
    const d = diagnose(fixture("rp-filter-strict"));
    assert.equal(d.findings[0].id, "rp-filter-strict");
    assert.deepEqual(d.findings[0].fix, [
      "sysctl -w net.ipv4.conf.all.rp_filter=2",
      "sysctl -w net.ipv4.conf.eth0.rp_filter=2",
    ]);
  });

  it("peer-route-missing: the fix is the registry's exact peer add", () => {
    const obs = fixture("peer-route-missing");
    const to = h2Container(obs);
    const d = diagnose(obs, { to });
    const subnet = `${formatAddress(to).split(".").slice(0, 3).join(".")}.0/24`;
    assert.deepEqual(d.findings[0].fix, [`hg peer add ${subnet} --via 10.0.12.12`]);
  });

  it("an unknown --from is bad input", () => {
    assert.throws(
      () => diagnose(fixture("healthy"), { to: h2Container(fixture("healthy")), from: "nope" }),
      /no hg container named nope/,
    );
  });
});
