import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../lib/errors.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, parsePrefix } from "../../../lib/net/prefix.ts";
import { freeSubnets, ownLease, takenSubnets } from "../../../lib/store/allocate.ts";
import {
  configEquals,
  formatNetworkConfig,
  makeNetworkConfig,
  parseNetworkConfig,
} from "../../../lib/store/config.ts";
import { parseRegistryFile, RegistryFileError } from "../../../lib/store/file/format.ts";
import {
  formatLeaseValue,
  type LeaseSubnets,
  parseLeaseValue,
  subnetKey,
  subnetOfKey,
} from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { formatSubnetEnv } from "../../../lib/setup/subnet_env.ts";

describe("network config (flannel's format)", () => {
  it("fills in flannel's defaults: /24 subnets, the first subnet skipped", () => {
    const c = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}');
    assert.equal(c.subnetLen, 24);
    assert.equal(formatAddress(c.subnetMin), "10.5.1.0");
    assert.equal(formatAddress(c.subnetMax), "10.5.255.0");
    assert.equal(
      parseNetworkConfig('{"Network":"10.5.0.0/24"}').subnetLen,
      26,
      "small networks: two bits more",
    );
  });

  it("round-trips, and compares by value", () => {
    const c = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24, { min: parseAddress("1.1.10.0") });
    const text = formatNetworkConfig(c);
    assert.equal(
      text,
      '{"Network":"1.1.0.0/16","SubnetLen":24,"SubnetMin":"1.1.10.0","SubnetMax":"1.1.255.0","Backend":{"Type":"host-gw"}}',
    );
    assert.ok(configEquals(parseNetworkConfig(text), c));
    assert.ok(!configEquals(makeNetworkConfig(parsePrefix("1.1.0.0/16"), 25), c));
  });

  it("refuses bad configs with one line naming the field", () => {
    const bad: [string, RegExp][] = [
      ["not json", /not JSON/],
      ["[]", /not a JSON object/],
      ['{"SubnetLen":24}', /no Network/],
      ['{"Network":"1.1.0.0/16","SubnetLen":"24"}', /SubnetLen is not a number/],
      ['{"Network":"1.1.0.0/16","SubnetLen":16}', /subnet length 16 does not fit/],
      ['{"Network":"1.1.0.0/16","SubnetLen":31}', /expected 17-30/],
      [
        '{"Network":"1.1.0.0/16","SubnetMin":"1.2.0.0"}',
        /SubnetMin 1\.2\.0\.0 is not the start of a \/24 inside/,
      ],
      ['{"Network":"1.1.0.0/16","SubnetMin":"1.1.9.5"}', /SubnetMin/],
      [
        '{"Network":"1.1.0.0/16","SubnetMin":"1.1.9.0","SubnetMax":"1.1.8.0"}',
        /is above SubnetMax/,
      ],
      ['{"Network":"fd00::/48"}', /IPv6/],
      ['{"Network":"1.1.0.5/16"}', /host bits/],
    ];
    for (const [text, reason] of bad) {
      assert.throws(
        () => parseNetworkConfig(text),
        (e) => e instanceof InputError && reason.test(e.message),
        text,
      );
    }
  });
});

describe("lease values and keys (flannel's format)", () => {
  it("writes flannel's LeaseAttrs fields plus HgNode, and reads flanneld's leases", () => {
    const text = formatLeaseValue({
      publicIp: parseAddress("10.0.12.11"),
      backendType: "host-gw",
      node: "h1",
    });
    assert.equal(
      text,
      '{"PublicIP":"10.0.12.11","PublicIPv6":null,"BackendType":"host-gw","BackendData":null,"HgNode":"h1"}',
    );
    const flannel = parseLeaseValue(
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}',
    );
    assert.equal(formatAddress(flannel.publicIp), "192.168.64.3");
    assert.equal(flannel.node, undefined);
    assert.equal(parseLeaseValue('{"PublicIP":"10.0.0.1"}').backendType, "");
  });

  it("refuses values that are not leases", () => {
    for (
      const bad of [
        "",
        "nope",
        "[]",
        '{"PublicIP":5}',
        '{"PublicIP":"10.0.0.300"}',
        '{"PublicIP":"fd00::1"}',
        '{"PublicIP":"1.1.1.1","BackendType":3}',
        '{"PublicIP":"1.1.1.1","HgNode":"a b"}',
      ]
    ) {
      assert.throws(() => parseLeaseValue(bad), Error, bad);
    }
  });

  it("names subnets as flannel's keys", () => {
    assert.equal(subnetKey(parsePrefix("1.1.3.0/24")), "1.1.3.0-24");
    assert.equal(formatPrefix(subnetOfKey("10.5.52.0-24")!), "10.5.52.0/24");
    for (const bad of ["1.1.3.0/24", "1.1.3.0-", "1.1.3.5-24", "x", "1.1.3.0-24&1.1.4.0-24"]) {
      assert.equal(subnetOfKey(bad), undefined, bad);
    }
  });
});

describe("allocation choices", () => {
  const config = makeNetworkConfig(parsePrefix("1.1.0.0/22"), 24);
  const entry = (key: string, ip: string, node?: string): RegistryEntry => ({
    key,
    lease: {
      subnet: subnetOfKey(key)!,
      attrs: { publicIp: parseAddress(ip), backendType: "host-gw", node },
    },
  });

  it("lists free subnets between SubnetMin and SubnetMax, counting broken entries as taken", () => {
    const entries: RegistryEntry[] = [entry("1.1.1.0-24", "10.0.12.11"), {
      key: "1.1.3.0-24",
      problem: "not JSON",
    }, { key: "junk", problem: "bad key" }];
    const primary = (free: LeaseSubnets[]) => free.map((f) => formatPrefix(f.subnet));
    assert.deepEqual(primary(freeSubnets(config, takenSubnets(entries))), ["1.1.2.0/24"]);
    assert.deepEqual(primary(freeSubnets(config, new Set())), [
      "1.1.1.0/24",
      "1.1.2.0/24",
      "1.1.3.0/24",
    ]);
    assert.deepEqual(primary(freeSubnets(config, new Set(), 1)), ["1.1.1.0/24"]);
  });

  it("finds a host's own lease by node name or by public address", () => {
    const entries = [entry("1.1.1.0-24", "10.0.12.11", "a"), entry("1.1.2.0-24", "10.0.12.12")];
    const attrs = (ip: string, node?: string) => ({
      publicIp: parseAddress(ip),
      backendType: "host-gw",
      node,
    });
    assert.equal(formatPrefix(ownLease(entries, attrs("10.0.12.99", "a"))!.subnet), "1.1.1.0/24");
    assert.equal(formatPrefix(ownLease(entries, attrs("10.0.12.12", "b"))!.subnet), "1.1.2.0/24");
    assert.equal(ownLease(entries, attrs("10.0.12.13", "c")), undefined);
  });
});

describe("registry file format", () => {
  it("refuses files that are not hg registries, naming the file", () => {
    const bad = [
      "",
      "{",
      "[]",
      '{"kind":"other"}',
      '{"kind":"hg-subnet-registry","version":2,"revision":1,"config":null,"leases":{}}',
      '{"kind":"hg-subnet-registry","version":1,"revision":-1,"config":null,"leases":{}}',
      '{"kind":"hg-subnet-registry","version":1,"revision":1,"config":null,"leases":{"1.1.1.0-24":{}}}',
    ];
    for (const text of bad) {
      assert.throws(
        () => parseRegistryFile(text, "/x/subnets.json"),
        (e) =>
          e instanceof RegistryFileError && e.message.startsWith("/x/subnets.json ") &&
          e.message.endsWith("refusing to use or overwrite it"),
        text,
      );
    }
    assert.equal(
      parseRegistryFile(
        '{"kind":"hg-subnet-registry","version":1,"revision":3,"config":null,"leases":{}}',
        "f",
      ).revision,
      3,
    );
  });
});

describe("subnet.env", () => {
  it("says what flanneld says", () => {
    assert.equal(
      formatSubnetEnv({
        network: parsePrefix("10.5.0.0/16"),
        subnet: parsePrefix("10.5.72.0/24"),
        mtu: 1450,
        ipMasq: true,
      }),
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
  });
});
