/**
 * The ADD result (CNI spec section 5, and its 0.4.0 and 1.0.0 forms): written in the config's
 * version, every `ips[].interface` an index into `interfaces` that names the container's
 * interface with its sandbox, and a previous plugin's result carried through unchanged.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Attachment, buildResult, macFor } from "../../../lib/cni/result.ts";
import { parseAddress } from "../../../lib/net/address.ts";

const NETNS = "/var/run/netns/cni-5b4f2f0e-7c61-2b1c-1d6e-9c2f3a4b5c6d";

function attachment(more: Partial<Attachment> = {}): Attachment {
  return {
    hostVeth: "hgc0123abcd",
    ifname: "eth0",
    mac: "0a:58:01:01:01:05",
    mtu: 1500,
    netns: NETNS,
    address: parseAddress("1.1.1.5"),
    prefixLength: 24,
    gateway: parseAddress("1.1.1.1"),
    defaultRoute: true,
    ...more,
  };
}

type Doc = {
  cniVersion: string;
  interfaces: Record<string, unknown>[];
  ips: Record<string, unknown>[];
  routes: Record<string, unknown>[];
  dns: Record<string, unknown>;
};

/** The result as a runtime reads it: through JSON. */
const asJson = (value: unknown): Doc => JSON.parse(JSON.stringify(value));

/** Every `ips[].interface` is an index into `interfaces`. */
function assertIndexes(doc: Doc): void {
  for (const ip of doc.ips) {
    if (ip.interface === undefined) continue;
    const i = ip.interface as number;
    assert.ok(Number.isInteger(i) && i >= 0 && i < doc.interfaces.length, JSON.stringify(doc));
  }
}

/** hg's address entry and the interface it points at. */
function mine(doc: Doc): { ip: Record<string, unknown>; iface: Record<string, unknown> } {
  const ip = doc.ips.find((i) => i.address === "1.1.1.5/24");
  assert.ok(ip, `hg's address is in ips: ${JSON.stringify(doc)}`);
  return { ip, iface: doc.interfaces[ip.interface as number] };
}

describe("macFor", () => {
  it("is 0a:58: and the address's four bytes", () => {
    assert.equal(macFor(parseAddress("1.1.1.5")), "0a:58:01:01:01:05");
    assert.equal(macFor(parseAddress("10.244.255.1")), "0a:58:0a:f4:ff:01");
    assert.equal(macFor(parseAddress("255.255.255.254")), "0a:58:ff:ff:ff:fe");
  });

  it("is a locally administered unicast address, the same for the same address", () => {
    const first = parseInt(macFor(parseAddress("192.168.7.9")).slice(0, 2), 16);
    assert.equal(first & 1, 0, "unicast");
    assert.equal(first & 2, 2, "locally administered");
    assert.equal(macFor(parseAddress("1.1.1.9")), macFor(parseAddress("1.1.1.9")));
    assert.notEqual(macFor(parseAddress("1.1.1.9")), macFor(parseAddress("1.1.1.10")));
  });
});

describe("buildResult", () => {
  it("1.1.0: the host veth and the container's interface (its sandbox the CNI_NETNS), ips, routes, dns", () => {
    const doc = asJson(buildResult(attachment(), "1.1.0"));
    assert.equal(doc.cniVersion, "1.1.0", "cniVersion: the same version supplied on input");
    assertIndexes(doc);
    const { ip, iface } = mine(doc);
    assert.equal(iface.name, "eth0");
    assert.equal(iface.sandbox, NETNS);
    assert.equal(iface.mac, "0a:58:01:01:01:05");
    assert.equal(ip.gateway, "1.1.1.1");
    assert.equal(ip.version, undefined, "1.x results have no ips[].version");
    const host = doc.interfaces.filter((i) => !i.sandbox);
    assert.ok(host.some((i) => i.name === "hgc0123abcd"), "host-level interfaces are listed");
    if (iface.mtu !== undefined) assert.equal(iface.mtu, 1500);
    assert.ok(
      doc.routes.some((r) => r.dst === "0.0.0.0/0" && (r.gw ?? ip.gateway) === "1.1.1.1"),
      "the default route via the bridge",
    );
    assert.equal(typeof doc.dns, "object");
  });

  it("1.0.0: the same, without ips[].version", () => {
    const doc = asJson(buildResult(attachment(), "1.0.0"));
    assert.equal(doc.cniVersion, "1.0.0");
    assertIndexes(doc);
    const { ip, iface } = mine(doc);
    assert.equal(iface.sandbox, NETNS);
    assert.equal(ip.version, undefined);
  });

  it('0.4.0: every address carries version "4"', () => {
    const doc = asJson(buildResult(attachment(), "0.4.0"));
    assert.equal(doc.cniVersion, "0.4.0");
    assertIndexes(doc);
    for (const ip of doc.ips) assert.equal(ip.version, "4");
    assert.equal(mine(doc).iface.sandbox, NETNS);
  });

  it("another interface name (net1) and a namespace given by /proc path", () => {
    const doc = asJson(
      buildResult(attachment({ ifname: "net1", netns: "/proc/4242/ns/net" }), "1.0.0"),
    );
    const { iface } = mine(doc);
    assert.equal(iface.name, "net1");
    assert.equal(iface.sandbox, "/proc/4242/ns/net");
  });

  it("a container's second attachment adds no second default route", () => {
    const doc = asJson(buildResult(attachment({ ifname: "net1", defaultRoute: false }), "1.0.0"));
    assert.ok(!doc.routes.some((r) => r.dst === "0.0.0.0/0"), JSON.stringify(doc.routes));
    assert.equal(mine(doc).iface.name, "net1");
  });

  it("chained after another plugin: its interfaces, ips (indexes kept), routes and dns come first", () => {
    const prev = {
      cniVersion: "1.0.0",
      interfaces: [
        { name: "vhost0", mac: "02:00:00:00:00:01" },
        { name: "sriov0", mac: "02:00:00:00:00:02", sandbox: NETNS },
      ],
      ips: [{ address: "10.99.0.5/24", gateway: "10.99.0.1", interface: 1 }],
      routes: [{ dst: "10.99.0.0/16", gw: "10.99.0.1" }],
      dns: { nameservers: ["10.99.0.1"], search: ["example.test"] },
    };
    for (const version of ["0.4.0", "1.0.0", "1.1.0"] as const) {
      const doc = asJson(buildResult(attachment(), version, structuredClone(prev)));
      assert.deepEqual(doc.interfaces.slice(0, 2), prev.interfaces, version);
      assert.equal(doc.ips[0].address, "10.99.0.5/24");
      assert.equal(doc.ips[0].interface, 1, "the earlier address still points at sriov0");
      assert.deepEqual(doc.routes[0], prev.routes[0]);
      assert.deepEqual(doc.dns, prev.dns);
      assertIndexes(doc);
      const { iface } = mine(doc);
      assert.equal(iface.name, "eth0");
      assert.equal(iface.sandbox, NETNS);
    }
  });

  it("chained after an IPAM-like result with ips but no interfaces", () => {
    const prev = { cniVersion: "1.0.0", ips: [{ address: "10.99.0.5/24" }] };
    const doc = asJson(buildResult(attachment(), "1.0.0", prev));
    assertIndexes(doc);
    assert.equal(mine(doc).iface.sandbox, NETNS);
    assert.equal(doc.ips[0].address, "10.99.0.5/24");
  });

  it("leaves the previous result as it was (the runtime may still hold it)", () => {
    const prev = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "x" }],
      ips: [{ address: "10.99.0.5/24", interface: 0 }],
      routes: [],
      dns: {},
    };
    const copy = structuredClone(prev);
    buildResult(attachment(), "1.1.0", prev);
    assert.deepEqual(prev, copy);
  });
});
