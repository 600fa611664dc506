/**
 * flannel's VXLAN formats as hg reads and writes them: the network config's Backend and a VXLAN
 * host's lease (`BackendData.VtepMAC`), including leases flanneld writes (random MACs, older
 * ones without VNI).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { formatNetworkConfig, HOST_GW, parseNetworkConfig } from "../../../lib/store/config.ts";
import { formatLeaseValue, leaseAttrsFor, parseLeaseValue } from "../../../lib/store/lease.ts";
import { parseMac, vtepMac } from "../../../lib/vxlan/vtep.ts";

const net = (backend: unknown) => JSON.stringify({ Network: "10.5.0.0/16", Backend: backend });

describe("network config Backend", () => {
  it("reads flannel's vxlan options with flannel's defaults", () => {
    assert.deepEqual(parseNetworkConfig(net({ Type: "vxlan" })).backend, {
      type: "vxlan",
      vni: 1,
      port: 8472,
      directRouting: false,
    });
    assert.deepEqual(
      parseNetworkConfig(net({ Type: "vxlan", VNI: 4096, Port: 4789, DirectRouting: true }))
        .backend,
      { type: "vxlan", vni: 4096, port: 4789, directRouting: true },
    );
    assert.deepEqual(parseNetworkConfig(JSON.stringify({ Network: "10.5.0.0/16" })).backend, {
      type: "host-gw",
    });
  });

  it("writes what it read, in flannel's names", () => {
    const text = net({ Type: "vxlan", VNI: 7, Port: 8472, DirectRouting: true });
    const written = JSON.parse(formatNetworkConfig(parseNetworkConfig(text)));
    assert.deepEqual(written.Backend, { Type: "vxlan", VNI: 7, Port: 8472, DirectRouting: true });
    assert.deepEqual(parseNetworkConfig(JSON.stringify(written)), parseNetworkConfig(text));
  });

  it("refuses a backend hg cannot route and bad options, naming the field", () => {
    for (
      const [backend, message] of [
        [{ Type: "wireguard" }, /Backend\.Type "wireguard" is not one hg speaks: host-gw or vxlan/],
        [{ Type: "vxlan", VNI: 16777216 }, /Backend\.VNI 16777216 is not a VNI/],
        [{ Type: "vxlan", Port: 0 }, /Backend\.Port 0 is not a UDP port/],
        [{ Type: "vxlan", DirectRouting: "yes" }, /DirectRouting is not true or false/],
        ["vxlan", /Backend is not a JSON object/],
      ] as const
    ) {
      assert.throws(() => parseNetworkConfig(net(backend)), message);
    }
  });
});

describe("VXLAN leases", () => {
  it("reads a lease flanneld wrote (random MAC; with and without VNI)", () => {
    const flannel =
      '{"PublicIP":"10.0.20.50","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"6A:1B:2C:3D:4E:5F"}}';
    assert.deepEqual(parseLeaseValue(flannel).vtep, { mac: "6a:1b:2c:3d:4e:5f", vni: 1 });
    const older =
      '{"PublicIP":"10.0.20.50","BackendType":"vxlan","BackendData":{"VtepMAC":"6a:1b:2c:3d:4e:5f"}}';
    assert.deepEqual(parseLeaseValue(older).vtep, { mac: "6a:1b:2c:3d:4e:5f" });
  });

  it("a host-gw lease has no VTEP even with BackendData", () => {
    const v = parseLeaseValue(
      '{"PublicIP":"10.0.12.7","BackendType":"host-gw","BackendData":{"VtepMAC":"6a:1b:2c:3d:4e:5f"}}',
    );
    assert.equal(v.vtep, undefined);
  });

  it("refuses a vxlan lease without a usable VTEP MAC", () => {
    for (
      const [data, message] of [
        ["null", /no BackendData object/],
        ['{"VNI":1}', /VtepMAC is missing/],
        ['{"VtepMAC":"6a:1b:2c:3d:4e"}', /is not a MAC address/],
        ['{"VtepMAC":"01:00:5e:00:00:01"}', /multicast/],
        ['{"VtepMAC":"00:00:00:00:00:00"}', /all zeros/],
        ['{"VtepMAC":"6a:1b:2c:3d:4e:5f","VNI":-1}', /VNI is not a VNI/],
      ] as const
    ) {
      assert.throws(
        () =>
          parseLeaseValue(
            `{"PublicIP":"10.0.20.50","BackendType":"vxlan","BackendData":${data}}`,
          ),
        message,
        data,
      );
    }
  });

  it("hg's own VXLAN lease is flannel's shape, with hg's MAC for the public address", () => {
    const attrs = leaseAttrsFor(
      { publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1" },
      {
        network: parsePrefix("1.1.0.0/16"),
        backend: { type: "vxlan", vni: 1, port: 8472, directRouting: true },
      },
    );
    assert.deepEqual(JSON.parse(formatLeaseValue(attrs)), {
      PublicIP: "10.0.12.11",
      PublicIPv6: null,
      BackendType: "vxlan",
      BackendData: { VNI: 1, VtepMAC: "0e:56:0a:00:0c:0b" },
      HgNode: "h1",
    });
    // And back to host-gw: no VTEP left in the lease.
    const back = leaseAttrsFor(attrs, { network: parsePrefix("1.1.0.0/16"), backend: HOST_GW });
    assert.equal(JSON.parse(formatLeaseValue(back)).BackendData, null);
  });
});

describe("VTEP MACs", () => {
  it("hg's MAC is 0e:56 and the address, distinct per host, locally administered and unicast", () => {
    const a = vtepMac(parseAddress("10.0.12.11"));
    const b = vtepMac(parseAddress("10.0.20.11"));
    assert.equal(a, "0e:56:0a:00:0c:0b");
    assert.notEqual(a, b);
    assert.equal(parseMac("test", a), a);
  });

  it("parseMac takes upper case and dashes, refuses the rest with one line", () => {
    assert.equal(parseMac("--vtep-mac", "0E-56-0A-00-0C-0B"), "0e:56:0a:00:0c:0b");
    assert.throws(
      () => parseMac("--vtep-mac", "0e:56:0a:00:0c"),
      /--vtep-mac "0e:56:0a:00:0c" is not a MAC address/,
    );
    assert.throws(() => parseMac("--vtep-mac", "ff:ff:ff:ff:ff:ff"), /multicast/);
  });
});
