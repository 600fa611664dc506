/**
 * IPv6 and dual-stack registries: flannel's config fields and defaults, its `v4&v6` lease keys
 * and `PublicIPv6` values, and allocation that never hands a subnet of either family twice.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../lib/errors.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, parsePrefix, prefixEquals } from "../../../lib/net/prefix.ts";
import { allocate, previewAllocation, subnetsAt } from "../../../lib/store/allocate.ts";
import {
  formatNetworkConfig,
  makeNetworkConfig,
  makeSubnetRange,
  parseNetworkConfig,
} from "../../../lib/store/config.ts";
import { FileStore } from "../../../lib/store/file/store.ts";
import {
  formatLeaseValue,
  type LeaseAttrs,
  leaseAttrsFor,
  leaseKey,
  leaseOf,
  leaseRoutes,
  leaseSubnets,
  parseLeaseValue,
  subnetsOfKey,
} from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";

const dual = makeNetworkConfig(
  parsePrefix("1.1.0.0/16"),
  24,
  {},
  undefined,
  makeSubnetRange(parsePrefix("fd00:1::/56")),
);
const v6only = makeNetworkConfig(parsePrefix("fd00:1::/48"));

describe("flannel's IPv6 config fields", () => {
  it("reads a dual-stack config as flannel writes it, with flannel's defaults", () => {
    const config = parseNetworkConfig(
      '{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"host-gw"}}',
    );
    assert.equal(formatPrefix(config.network), "10.5.0.0/16");
    assert.equal(formatPrefix(config.ipv6!.network), "fc00::/48");
    // /64 for a network of /62 or larger; the first subnet is skipped as for IPv4.
    assert.equal(config.ipv6!.subnetLen, 64);
    assert.equal(formatAddress(config.ipv6!.subnetMin), "fc00:0:0:1::");
    assert.equal(formatAddress(config.ipv6!.subnetMax), "fc00:0:0:ffff::");
    // Written back in flannel's names, and read again to the same config.
    const text = formatNetworkConfig(config);
    assert.deepEqual(JSON.parse(text), {
      Network: "10.5.0.0/16",
      SubnetLen: 24,
      SubnetMin: "10.5.1.0",
      SubnetMax: "10.5.255.0",
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 64,
      IPv6SubnetMin: "fc00:0:0:1::",
      IPv6SubnetMax: "fc00:0:0:ffff::",
      Backend: { Type: "host-gw" },
    });
    assert.equal(formatNetworkConfig(parseNetworkConfig(text)), text);
  });

  it("reads an IPv6-only config (EnableIPv4 false): its range is the primary one", () => {
    const config = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:1::/120"}',
    );
    assert.equal(formatPrefix(config.network), "fd00:1::/120");
    assert.equal(config.ipv6, undefined);
    // Smaller than /62: two bits more, as flannel does (four subnets of /122).
    assert.equal(config.subnetLen, 122);
    assert.deepEqual(JSON.parse(formatNetworkConfig(config)).EnableIPv4, false);
    // An IPv4 Network left in an IPv6-only config is not read (flannel ignores it too).
    const stray = parseNetworkConfig(
      '{"EnableIPv4":false,"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56"}',
    );
    assert.equal(formatPrefix(stray.network), "fd00::/56");
  });

  it("refuses each wrong IPv6 field with its name", () => {
    const cases: [string, RegExp][] = [
      ['{"EnableIPv4":false}', /enables neither IPv4 nor IPv6/],
      ['{"Network":"1.1.0.0/16","EnableIPv6":true}', /has no IPv6Network/],
      ['{"Network":"1.1.0.0/16","EnableIPv6":"yes","IPv6Network":"fd00::/56"}', /EnableIPv6/],
      ['{"Network":"1.1.0.0/16","EnableIPv6":true,"IPv6Network":"1.2.0.0/16"}', /not IPv6/],
      ['{"Network":"fd00::/56"}', /EnableIPv4": false/],
      ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/125"}', /subnet length/],
      [
        '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":127}',
        /expected 57-126/,
      ],
      [
        '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMin":"fd00:0:0:1::1"}',
        /SubnetMin fd00:0:0:1::1 is not the start of a \/64/,
      ],
      ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"ff00::/56"}', /multicast/],
      ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fe80::/56"}', /link-local/],
      [
        '{"Network":"1.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","Backend":{"Type":"vxlan"}}',
        /vxlan backend carries IPv4 only/,
      ],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseNetworkConfig(text), (e) => {
        return e instanceof InputError && message.test(e.message);
      }, text);
    }
  });
});

describe("dual-stack and IPv6-only leases (flannel's format)", () => {
  it("names both subnets in one key, and one name per lease", () => {
    const subnets = subnetsOfKey("10.5.52.0-24&fc00::-64")!;
    assert.equal(formatPrefix(subnets.subnet), "10.5.52.0/24");
    assert.equal(formatPrefix(subnets.ipv6Subnet!), "fc00::/64");
    assert.equal(leaseKey(subnets), "10.5.52.0-24&fc00::-64");
    assert.equal(formatPrefix(subnetsOfKey("fd00:1:0:5::-64")!.subnet), "fd00:1:0:5::/64");
    for (
      const bad of [
        "fc00:0::-64", // not the canonical name of fc00::/64: a second key for one subnet
        "FC00::-64",
        "fc00::-64&10.5.52.0-24",
        "10.5.52.0-24&10.5.53.0-24",
        "10.5.52.0-24&fc00::1-64", // host bits
        "10.5.52.0-24&",
      ]
    ) {
      assert.equal(subnetsOfKey(bad), undefined, bad);
    }
  });

  it("writes and reads PublicIPv6 beside PublicIP; an IPv6-only lease says PublicIP null", () => {
    const attrs: LeaseAttrs = {
      publicIp: parseAddress("10.0.12.11"),
      publicIpv6: parseAddress("fd00:12::11"),
      backendType: "host-gw",
      node: "h1",
    };
    assert.deepEqual(JSON.parse(formatLeaseValue(attrs)), {
      PublicIP: "10.0.12.11",
      PublicIPv6: "fd00:12::11",
      BackendType: "host-gw",
      BackendData: null,
      HgNode: "h1",
    });
    const only6 = { publicIp: parseAddress("fd00:12::11"), backendType: "host-gw" };
    assert.deepEqual(JSON.parse(formatLeaseValue(only6)), {
      PublicIP: null,
      PublicIPv6: "fd00:12::11",
      BackendType: "host-gw",
      BackendData: null,
    });
    assert.equal(formatAddress(parseLeaseValue(formatLeaseValue(only6)).publicIp), "fd00:12::11");
    assert.throws(() => parseLeaseValue('{"PublicIP":null}'), /PublicIP is missing/);
    assert.throws(() => parseLeaseValue('{"PublicIP":"10.0.0.1","PublicIPv6":"10.0.0.2"}'));
  });

  it("routes each family's subnet via the holder's address of that family", () => {
    const lease = leaseOf(
      subnetsOfKey("1.1.5.0-24&fd00:1:0:5::-64")!,
      parseLeaseValue('{"PublicIP":"10.0.12.15","PublicIPv6":"fd00:12::15"}'),
    );
    assert.deepEqual(
      leaseRoutes(lease).map((r) => `${formatPrefix(r.subnet)} via ${formatAddress(r.via)}`),
      ["1.1.5.0/24 via 10.0.12.15", "fd00:1:0:5::/64 via fd00:12::15"],
    );
    // A dual-stack key whose value has no IPv6 address cannot be routed: refused when read.
    assert.throws(
      () =>
        leaseOf(
          subnetsOfKey("1.1.5.0-24&fd00:1:0:5::-64")!,
          parseLeaseValue('{"PublicIP":"10.0.12.15"}'),
        ),
      /dual-stack lease has no PublicIPv6/,
    );
    // An IPv6-only key whose value names both (a host that wrote a dual-stack value): its
    // IPv6 address is the one the subnet goes via.
    const v6 = leaseOf(
      subnetsOfKey("fd00:1:0:5::-64")!,
      parseLeaseValue('{"PublicIP":"10.0.12.15","PublicIPv6":"fd00:12::15"}'),
    );
    assert.equal(formatAddress(leaseRoutes(v6)[0].via), "fd00:12::15");
    assert.equal(leaseRoutes(v6).length, 1);
  });

  it("keeps what the network's families need of the host's addresses", () => {
    const both = {
      publicIp: parseAddress("10.0.12.11"),
      publicIpv6: parseAddress("fd00:12::11"),
      backendType: "host-gw",
    };
    assert.equal(formatAddress(leaseAttrsFor(both, dual).publicIpv6!), "fd00:12::11");
    assert.equal(formatAddress(leaseAttrsFor(both, v6only).publicIp), "fd00:12::11");
    assert.equal(leaseAttrsFor(both, v6only).publicIpv6, undefined);
    assert.equal(
      leaseAttrsFor(both, makeNetworkConfig(parsePrefix("1.1.0.0/16"))).publicIpv6,
      undefined,
    );
  });
});

describe("dual-stack allocation", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const attrs = (n: number, v6 = true): LeaseAttrs => ({
    publicIp: parseAddress(`10.0.12.${n}`),
    ...(v6 ? { publicIpv6: parseAddress(`fd00:12::${n}`) } : {}),
    backendType: "host-gw",
    node: `h${n}`,
  });

  it("pairs the n-th IPv4 subnet with the n-th IPv6 subnet", () => {
    const first = subnetsAt(dual, 0n);
    assert.equal(formatPrefix(first.subnet), "1.1.1.0/24");
    assert.equal(formatPrefix(first.ipv6Subnet!), "fd00:1:0:1::/64");
    const last = subnetsAt(dual, 254n);
    assert.equal(formatPrefix(last.subnet), "1.1.255.0/24");
    assert.equal(formatPrefix(last.ipv6Subnet!), "fd00:1:0:ff::/64");
  });

  it("refuses a host without an IPv6 address on a dual-stack network, with the way out", () => {
    assert.throws(
      () => previewAllocation(dual, [], { attrs: attrs(11, false), ttlSeconds: 60 }, "r"),
      /dual-stack .*needs a public IPv6 address as well \(--public-ipv6/,
    );
    assert.throws(
      () =>
        previewAllocation(v6only, [], {
          attrs: { publicIp: parseAddress("10.0.12.11"), backendType: "host-gw" },
          ttlSeconds: 60,
        }, "r"),
      /10\.0\.12\.11 is IPv4: the network's IPv6 subnets are routed through an IPv6 address/,
    );
  });

  it("never hands a subnet of either family twice: 40 hosts at once on one file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hg-dual-"));
    dirs.push(dir);
    const small = makeNetworkConfig(
      parsePrefix("1.1.0.0/16"),
      24,
      {},
      undefined,
      makeSubnetRange(parsePrefix("fd00:1::/58")), // 63 IPv6 subnets: fewer than IPv4's 255
    );
    const file = join(dir, "r.json");
    await new FileStore(file).putConfig(small, undefined);
    // A lease flanneld wrote, paired its own way: its IPv6 subnet is the 3rd pair's.
    const flannel = subnetsAt(small, 30n);
    await new FileStore(file).claim(
      { subnet: flannel.subnet, ipv6Subnet: subnetsAt(small, 2n).ipv6Subnet },
      attrs(200),
      600,
    );
    const results = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => allocate(new FileStore(file), { attrs: attrs(i + 1), ttlSeconds: 600 }),
      ),
    );
    const all = [
      ...results.flatMap((r) => leaseSubnets(r.lease)),
      flannel.subnet,
      subnetsAt(small, 2n).ipv6Subnet!,
    ];
    for (const [i, a] of all.entries()) {
      assert.equal(all.findIndex((b) => prefixEquals(a, b)), i, `${formatPrefix(a)} twice`);
    }
    const { entries } = await new FileStore(file).listLeases();
    assert.equal(entries.length, 41);
    assert.ok(
      entries.every((e: RegistryEntry) => "lease" in e && e.lease.ipv6Subnet !== undefined),
    );
  });

  it("says the network is full when the smaller family runs out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hg-dual-"));
    dirs.push(dir);
    const tiny = makeNetworkConfig(
      parsePrefix("1.1.0.0/16"),
      24,
      {},
      undefined,
      makeSubnetRange(parsePrefix("fd00:1::/62")), // 3 pairs after the skipped first
    );
    const store = new FileStore(join(dir, "r.json"));
    await store.putConfig(tiny, undefined);
    for (const n of [1, 2, 3]) await allocate(store, { attrs: attrs(n), ttlSeconds: 600 });
    await assert.rejects(
      allocate(store, { attrs: attrs(4), ttlSeconds: 600 }),
      /network 1\.1\.0\.0\/16 \+ fd00:1::\/62 is full: every \/24 from 1\.1\.1\.0 to 1\.1\.255\.0 paired with \/64 from fd00:1:0:1:: to fd00:1:0:3:: is leased/,
    );
  });
});
