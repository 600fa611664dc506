import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../../lib/errors.ts";
import {
  firstHost,
  formatAddress,
  formatPrefix,
  hostAt,
  isUsableHost,
  lastHost,
  nthSubnet,
  parseAddress,
  parseInterfaceAddress,
  parsePrefix,
  type Prefix,
  prefixContains,
  prefixCovers,
  prefixEquals,
  prefixesOverlap,
  prefixOf,
  subnetCount,
  subnetIndex,
} from "../../../lib/net/mod.ts";

const p = parsePrefix;
const a = parseAddress;

/** Assert that `fn` throws a one-line InputError whose message contains `fragment`. */
function assertInputError(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.ok(
      error.message.includes(fragment),
      `message ${JSON.stringify(error.message)} does not contain ${JSON.stringify(fragment)}`,
    );
    assert.ok(!error.message.includes("\n"), "message must be one line");
    return true;
  });
}

describe("parsePrefix and formatPrefix", () => {
  it("round-trips canonical prefixes", () => {
    for (
      const text of [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "1.1.0.0/16",
        "192.0.2.0/24",
        "192.0.2.7/32",
        "::/0",
        "fd00::/48",
        "fd00:0:0:12::/64",
        "2001:db8::1/128",
      ]
    ) {
      assert.equal(formatPrefix(p(text)), text);
    }
  });

  it("normalises IPv6 text", () => {
    assert.equal(formatPrefix(p("FD00:0000:0012::/48")), "fd00:0:12::/48");
    const prefix = p("fd00::/48");
    assert.equal(prefix.length, 48);
    assert.deepEqual(prefix.address, { family: 6, value: 0xfd00n << 112n });
  });

  it("refuses host bits and suggests the network", () => {
    assert.throws(() => p("1.1.1.5/24"), {
      name: "InputError",
      message: '"1.1.1.5/24" has host bits set: did you mean 1.1.1.0/24?',
    });
    assert.throws(() => p("fd00::1/64"), {
      name: "InputError",
      message: '"fd00::1/64" has host bits set: did you mean fd00::/64?',
    });
  });

  const bad = [
    "",
    "1.1.1.0",
    "fd00::",
    "1.1.1.0/",
    "1.1.1.0/33",
    "fd00::/129",
    "1.1.1.0/024",
    "1.1.1.0/-1",
    "1.1.1.0/+8",
    "1.1.1.0/8.0",
    "1.1.1.0/24/8",
    "1.1.1.0/ 24",
    "/24",
    "300.1.1.0/24",
    "01.1.1.0/24",
    "1.1/16",
    "fe80::%eth0/64",
    "[fd00::]/64",
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assertInputError(() => p(text), JSON.stringify(text));
      assertInputError(() => parseInterfaceAddress(text), JSON.stringify(text));
    });
  }

  it("explains which part of the prefix is wrong", () => {
    assert.throws(() => p("1.1.1.0/33"), /length must be 0-32 for IPv4/);
    assert.throws(() => p("fd00::/129"), /length must be 0-128 for IPv6/);
    assert.throws(() => p("1.1.1.0/024"), /without sign or leading zeros/);
    assert.throws(() => p("1.1.1.0"), /expected address\/length/);
    assert.throws(() => p("300.1.1.0/24"), /0-255/);
  });
});

describe("parseInterfaceAddress", () => {
  it("keeps the host address and derives the prefix", () => {
    const v4 = parseInterfaceAddress("1.1.1.5/24");
    assert.equal(formatAddress(v4.address), "1.1.1.5");
    assert.equal(formatPrefix(v4.prefix), "1.1.1.0/24");
    const v6 = parseInterfaceAddress("fd00:12::11/64");
    assert.equal(formatAddress(v6.address), "fd00:12::11");
    assert.equal(formatPrefix(v6.prefix), "fd00:12::/64");
  });

  it("accepts the network address itself", () => {
    const { address, prefix } = parseInterfaceAddress("10.0.0.0/8");
    assert.equal(formatAddress(address), "10.0.0.0");
    assert.equal(formatPrefix(prefix), "10.0.0.0/8");
  });
});

describe("prefixOf", () => {
  it("masks host bits", () => {
    assert.equal(formatPrefix(prefixOf(a("10.1.2.3"), 16)), "10.1.0.0/16");
    assert.equal(formatPrefix(prefixOf(a("10.1.2.3"), 0)), "0.0.0.0/0");
    assert.equal(formatPrefix(prefixOf(a("10.1.2.3"), 32)), "10.1.2.3/32");
    assert.equal(formatPrefix(prefixOf(a("fd00:1:2:3:4::5"), 64)), "fd00:1:2:3::/64");
    assert.equal(formatPrefix(prefixOf(a("fd00:1:2:3:4::5"), 1)), "8000::/1");
  });

  it("rejects lengths outside the family", () => {
    assertInputError(() => prefixOf(a("10.0.0.1"), 33), "33");
    assertInputError(() => prefixOf(a("10.0.0.1"), -1), "-1");
    assertInputError(() => prefixOf(a("10.0.0.1"), 8.5), "8.5");
    assertInputError(() => prefixOf(a("::1"), 129), "129");
  });
});

describe("containment and overlap", () => {
  it("prefixContains checks the range and the family", () => {
    assert.equal(prefixContains(p("10.0.0.0/8"), a("10.255.255.255")), true);
    assert.equal(prefixContains(p("10.0.0.0/8"), a("11.0.0.0")), false);
    assert.equal(prefixContains(p("10.0.0.0/8"), a("9.255.255.255")), false);
    assert.equal(prefixContains(p("0.0.0.0/0"), a("203.0.113.9")), true);
    assert.equal(prefixContains(p("fd00::/48"), a("fd00:0:0:ffff::1")), true);
    assert.equal(prefixContains(p("fd00::/48"), a("fd00:0:1::")), false);
    // Across families: never, not even for the all-covering /0 or equal values.
    assert.equal(prefixContains(p("::/0"), a("10.0.0.1")), false);
    assert.equal(prefixContains(p("0.0.0.0/0"), a("::1")), false);
    assert.equal(prefixContains(p("::/96"), a("0.0.0.1")), false);
  });

  it("prefixCovers requires the inner prefix to be entirely inside", () => {
    assert.equal(prefixCovers(p("10.0.0.0/8"), p("10.1.0.0/16")), true);
    assert.equal(prefixCovers(p("10.1.0.0/16"), p("10.0.0.0/8")), false);
    assert.equal(prefixCovers(p("10.1.0.0/16"), p("10.1.0.0/16")), true);
    assert.equal(prefixCovers(p("10.0.0.0/8"), p("11.0.0.0/16")), false);
    assert.equal(prefixCovers(p("fd00::/48"), p("fd00:0:0:5::/64")), true);
    assert.equal(prefixCovers(p("::/0"), p("10.0.0.0/8")), false);
  });

  it("prefixesOverlap is symmetric and false across families", () => {
    const cases: Array<[string, string, boolean]> = [
      ["10.0.0.0/8", "10.1.0.0/16", true],
      ["10.1.0.0/16", "10.0.0.0/8", true],
      ["10.0.0.0/16", "10.1.0.0/16", false],
      ["10.0.0.0/24", "10.0.0.0/24", true],
      ["0.0.0.0/0", "192.0.2.0/24", true],
      ["fd00::/48", "fd00:0:0:1::/64", true],
      ["fd00::/64", "fd00:0:0:1::/64", false],
      ["::/0", "0.0.0.0/0", false],
      ["::/96", "0.0.0.0/32", false],
    ];
    for (const [x, y, expected] of cases) {
      assert.equal(prefixesOverlap(p(x), p(y)), expected, `${x} vs ${y}`);
      assert.equal(prefixesOverlap(p(y), p(x)), expected, `${y} vs ${x}`);
    }
  });

  it("prefixEquals compares family, network and length", () => {
    assert.equal(prefixEquals(p("fd00::/48"), p("FD00:0::/48")), true);
    assert.equal(prefixEquals(p("10.0.0.0/8"), p("10.0.0.0/9")), false);
    assert.equal(prefixEquals(p("0.0.0.0/0"), p("::/0")), false);
    assert.equal(prefixEquals(p("10.0.0.0/8"), prefixOf(a("10.9.9.9"), 8)), true);
  });
});

describe("subnetting", () => {
  const net16 = p("1.1.0.0/16");

  it("counts subnets", () => {
    assert.equal(subnetCount(net16, 24), 256n);
    assert.equal(subnetCount(net16, 16), 1n);
    assert.equal(subnetCount(net16, 32), 65536n);
    assert.equal(subnetCount(p("fd00::/48"), 64), 65536n);
    assert.equal(subnetCount(p("::/0"), 128), 1n << 128n);
  });

  it("rejects subnet lengths outside network..family bits", () => {
    assertInputError(() => subnetCount(net16, 8), "/8");
    assertInputError(() => subnetCount(net16, 33), "/33");
    assertInputError(() => nthSubnet(net16, 15, 0), "1.1.0.0/16");
    assertInputError(() => subnetCount(p("fd00::/48"), 129), "/129");
  });

  it("finds the n-th /24 of 1.1.0.0/16", () => {
    assert.equal(formatPrefix(nthSubnet(net16, 24, 0)), "1.1.0.0/24");
    assert.equal(formatPrefix(nthSubnet(net16, 24, 1)), "1.1.1.0/24");
    assert.equal(formatPrefix(nthSubnet(net16, 24, 255n)), "1.1.255.0/24");
    assert.equal(formatPrefix(nthSubnet(net16, 16, 0)), "1.1.0.0/16");
    assert.equal(formatPrefix(nthSubnet(net16, 32, 65535)), "1.1.255.255/32");
  });

  it("rejects subnet indexes out of range", () => {
    assert.throws(() => nthSubnet(net16, 24, 256), {
      name: "InputError",
      message: "subnet index 256 is out of range: 1.1.0.0/16 has 256 /24 subnets (0-255)",
    });
    assertInputError(() => nthSubnet(net16, 24, -1), "-1");
    assertInputError(() => nthSubnet(net16, 24, 1.5), "1.5");
    assertInputError(() => nthSubnet(net16, 24, Number.NaN), "NaN");
  });

  it("subnetIndex inverts nthSubnet", () => {
    assert.equal(subnetIndex(net16, p("1.1.1.0/24")), 1n);
    assert.equal(subnetIndex(net16, p("1.1.255.0/24")), 255n);
    assert.equal(subnetIndex(net16, net16), 0n);
    for (const n of [0n, 7n, 128n, 255n]) {
      assert.equal(subnetIndex(net16, nthSubnet(net16, 24, n)), n);
    }
  });

  it("subnetIndex rejects a subnet outside the network", () => {
    assertInputError(() => subnetIndex(net16, p("1.2.0.0/24")), "1.2.0.0/24");
    assertInputError(() => subnetIndex(net16, p("1.0.0.0/8")), "1.0.0.0/8");
    assertInputError(() => subnetIndex(net16, p("fd00::/64")), "fd00::/64");
  });

  it("splits fd00::/48 into /64s", () => {
    const net48 = p("fd00::/48");
    assert.equal(formatPrefix(nthSubnet(net48, 64, 0)), "fd00::/64");
    assert.equal(formatPrefix(nthSubnet(net48, 64, 1)), "fd00:0:0:1::/64");
    assert.equal(formatPrefix(nthSubnet(net48, 64, 0x12)), "fd00:0:0:12::/64");
    assert.equal(formatPrefix(nthSubnet(net48, 64, 65535n)), "fd00:0:0:ffff::/64");
    assertInputError(() => nthSubnet(net48, 64, 65536n), "65536");
    assert.equal(subnetIndex(net48, p("fd00:0:0:abcd::/64")), 0xabcdn);
    // Subnetting the whole IPv6 space works with bigint indexes beyond 2^53.
    const big = (1n << 100n) + 3n;
    assert.equal(subnetIndex(p("::/0"), nthSubnet(p("::/0"), 128, big)), big);
  });
});

describe("hosts", () => {
  const host = (prefix: Prefix) => [
    formatAddress(firstHost(prefix)),
    formatAddress(lastHost(prefix)),
  ];

  it("skips network and broadcast for IPv4 up to /30", () => {
    assert.deepEqual(host(p("10.0.0.0/24")), ["10.0.0.1", "10.0.0.254"]);
    assert.deepEqual(host(p("10.0.0.4/30")), ["10.0.0.5", "10.0.0.6"]);
    assert.deepEqual(host(p("0.0.0.0/0")), ["0.0.0.1", "255.255.255.254"]);
  });

  it("uses every address of IPv4 /31 and /32", () => {
    assert.deepEqual(host(p("10.0.0.0/31")), ["10.0.0.0", "10.0.0.1"]);
    assert.deepEqual(host(p("10.0.0.7/32")), ["10.0.0.7", "10.0.0.7"]);
  });

  it("has no broadcast in IPv6", () => {
    assert.deepEqual(host(p("fd00::/64")), ["fd00::1", "fd00::ffff:ffff:ffff:ffff"]);
    assert.deepEqual(host(p("fd00::/126")), ["fd00::1", "fd00::3"]);
    assert.deepEqual(host(p("fd00::/127")), ["fd00::", "fd00::1"]);
    assert.deepEqual(host(p("fd00::5/128")), ["fd00::5", "fd00::5"]);
    assert.deepEqual(host(p("::/0")), ["::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
  });

  it("hostAt offsets from the network address", () => {
    assert.equal(formatAddress(hostAt(p("10.0.0.0/24"), 0)), "10.0.0.0");
    assert.equal(formatAddress(hostAt(p("10.0.0.0/24"), 10)), "10.0.0.10");
    assert.equal(formatAddress(hostAt(p("10.0.0.0/24"), 255n)), "10.0.0.255");
    assert.equal(formatAddress(hostAt(p("fd00:12::/64"), 0x11)), "fd00:12::11");
    assert.equal(formatAddress(hostAt(p("10.0.0.7/32"), 0)), "10.0.0.7");
  });

  it("hostAt rejects offsets outside the prefix", () => {
    assertInputError(() => hostAt(p("10.0.0.0/24"), 256), "256");
    assertInputError(() => hostAt(p("10.0.0.0/24"), -1), "-1");
    assertInputError(() => hostAt(p("10.0.0.7/32"), 1), "10.0.0.7/32");
    assertInputError(() => hostAt(p("fd00::/127"), 2n), "fd00::/127");
    assertInputError(() => hostAt(p("10.0.0.0/24"), 0.5), "0.5");
  });

  it("isUsableHost", () => {
    const net = p("10.0.0.0/24");
    assert.equal(isUsableHost(net, a("10.0.0.1")), true);
    assert.equal(isUsableHost(net, a("10.0.0.254")), true);
    assert.equal(isUsableHost(net, a("10.0.0.0")), false);
    assert.equal(isUsableHost(net, a("10.0.0.255")), false);
    assert.equal(isUsableHost(net, a("10.0.1.1")), false);
    assert.equal(isUsableHost(net, a("::ffff:10.0.0.1")), false);
    assert.equal(isUsableHost(p("10.0.0.0/31"), a("10.0.0.0")), true);
    assert.equal(isUsableHost(p("10.0.0.0/31"), a("10.0.0.1")), true);
    assert.equal(isUsableHost(p("10.0.0.7/32"), a("10.0.0.7")), true);
    assert.equal(isUsableHost(p("fd00::/64"), a("fd00::ffff:ffff:ffff:ffff")), true);
    assert.equal(isUsableHost(p("fd00::/64"), a("fd00:0:0:1::")), false);
  });
});
