/**
 * Doctor with runtime (CNI) containers, on snapshots captured from a real lab where hg's plugin
 * attached pods in namespaces bound outside /run/netns (tests/support/capture_cni_snapshots.sh):
 * pod default/web has two interfaces on hg (eth0 and net1), default/db one, next to hg's own c1.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doctorContext } from "../../../lib/doctor/context.ts";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { fixture, h2Container } from "./fixture.ts";

const healthy = fixture("cni-healthy");
const to = h2Container(healthy);

describe("doctor with runtime containers (captured)", () => {
  it("a healthy host with pods is fine, from a pod as from hg's own container", () => {
    assert.equal(diagnose(healthy).ok, true, JSON.stringify(diagnose(healthy).findings));
    for (const from of ["default/web", "web", "db", "lab-h1-c1"]) {
      const d = diagnose(healthy, { to, from });
      assert.equal(d.ok, true, `${from}: ${d.verdict}`);
      assert.deepEqual(d.findings.filter((f) => f.severity !== "info"), []);
    }
  });

  it("--from takes a pod's name, its container id or a prefix of it, or an address", () => {
    const web = diagnose(healthy, { to, from: "web" });
    assert.equal(web.from, "default/web");
    assert.equal(diagnose(healthy, { to, from: "5e1f00c0ffee0001" }).from, "default/web");
    assert.equal(diagnose(healthy, { to, from: "7a9b" }).from, "default/db");
    // The pod's second interface, by its address: the packet leaves from that address.
    const net1 = doctorContext(healthy).containers.find((c) => c.ifname === "net1");
    assert.ok(net1);
    const address = formatAddress(net1.address);
    const first = diagnose(healthy, { to, from: address }).path?.[0].text ?? "";
    assert.equal(first, `container default/web ${address}/${net1.prefixLength}`);
    assert.throws(() => diagnose(healthy, { to, from: "nope" }), /no container nope on this host/);
    assert.throws(() => diagnose(healthy, { to, from: "c0ffee" }), /no container c0ffee/);
  });

  it("a pod with two interfaces is one container: its eth0 is where the packet starts", () => {
    const d = diagnose(healthy, { to, from: "5e1f" });
    assert.match(d.path?.[0].text ?? "", /container default\/web \S+/);
    assert.match(d.path?.[1].text ?? "", /veth hgcc74ccdba /);
  });

  it("a deleted peer route is found from a pod, with the route that fixes it", () => {
    const broken = fixture("cni-peer-route-missing");
    const d = diagnose(broken, { to, from: "web" });
    assert.equal(d.ok, false);
    const first = d.findings.find((f) => f.severity === "error");
    assert.ok(first, d.verdict);
    assert.equal(first.id, "peer-route-missing", d.verdict);
    const subnet = formatAddress(to).replace(/\.2$/, ".0/24");
    assert.ok(
      first.fix.some((l) => l.startsWith(`hg peer add ${subnet} --via `)),
      first.fix.join("\n"),
    );
    // The whole-host check finds it too.
    assert.ok(diagnose(broken).findings.some((f) => f.id === "peer-route-missing"));
  });

  it("pods whose namespaces are not visible where doctor runs are a warning, never an error", () => {
    const hidden = fixture("ok-cni-netns-hidden");
    const d = diagnose(hidden);
    assert.equal(d.ok, true, d.verdict);
    const missing = d.findings.filter((f) => f.id === "container-missing");
    assert.equal(missing.length, 3);
    assert.ok(missing.every((f) => f.severity === "warning"));
    assert.ok(missing.every((f) => f.fix.every((l) => l.startsWith("#"))), "no command to run");
    // hg's own container, visible, is still checked and fine.
    assert.equal(diagnose(hidden, { to, from: "lab-h1-c1" }).ok, true);
  });
});
