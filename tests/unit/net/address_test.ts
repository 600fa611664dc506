import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../../lib/errors.ts";
import {
  addressEquals,
  familyBits,
  formatAddress,
  type IpAddress,
  parseAddress,
  parseAddressOf,
} from "../../../lib/net/mod.ts";

/** Assert that `fn` throws a one-line InputError whose message quotes `value`. */
function assertInputError(fn: () => unknown, value: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.ok(
      error.message.includes(JSON.stringify(value)),
      `message ${JSON.stringify(error.message)} does not name ${JSON.stringify(value)}`,
    );
    assert.ok(!error.message.includes("\n"), "message must be one line");
    return true;
  });
}

describe("parseAddress", () => {
  it("parses IPv4 into an unsigned 32-bit value", () => {
    assert.deepEqual(parseAddress("0.0.0.0"), { family: 4, value: 0n });
    assert.deepEqual(parseAddress("255.255.255.255"), { family: 4, value: 0xffffffffn });
    assert.deepEqual(parseAddress("192.0.2.1"), { family: 4, value: 0xc0000201n });
    assert.deepEqual(parseAddress("10.0.0.1"), { family: 4, value: 0x0a000001n });
  });

  it("parses the standard IPv6 forms", () => {
    assert.deepEqual(parseAddress("::"), { family: 6, value: 0n });
    assert.deepEqual(parseAddress("::1"), { family: 6, value: 1n });
    assert.deepEqual(parseAddress("fd00:12::11"), {
      family: 6,
      value: (0xfd00n << 112n) | (0x12n << 96n) | 0x11n,
    });
    assert.deepEqual(parseAddress("1:2:3:4:5:6:7:8"), {
      family: 6,
      value: 0x0001_0002_0003_0004_0005_0006_0007_0008n,
    });
    assert.deepEqual(parseAddress("1::"), { family: 6, value: 1n << 112n });
    assert.deepEqual(parseAddress("FFFF:ffff:FFFF:ffff:FFFF:ffff:FFFF:ffff"), {
      family: 6,
      value: (1n << 128n) - 1n,
    });
  });

  it("parses an embedded IPv4 tail", () => {
    assert.deepEqual(parseAddress("::ffff:1.2.3.4"), { family: 6, value: 0xffff_0102_0304n });
    assert.deepEqual(parseAddress("1:2:3:4:5:6:1.2.3.4"), {
      family: 6,
      value: 0x0001_0002_0003_0004_0005_0006_0102_0304n,
    });
    assert.deepEqual(parseAddress("64:ff9b::192.0.2.33"), {
      family: 6,
      value: (0x64n << 112n) | (0xff9bn << 96n) | 0xc0000221n,
    });
  });

  it("lets '::' stand for a single zero group", () => {
    assert.deepEqual(parseAddress("1:2:3:4:5:6:7::"), parseAddress("1:2:3:4:5:6:7:0"));
    assert.deepEqual(parseAddress("::2:3:4:5:6:7:8"), parseAddress("0:2:3:4:5:6:7:8"));
  });

  const bad: Array<[string, RegExp]> = [
    ["300.1.1.1", /each of the four parts must be a decimal number 0-255/],
    ["256.0.0.0", /0-255/],
    ["01.1.1.1", /leading zero/],
    ["1.1.1.010", /leading zero/],
    ["1.1", /four dot-separated/],
    ["1.1.1", /four dot-separated/],
    ["1.1.1.1.1", /four dot-separated/],
    ["1.1.1.", /0-255/],
    ["1..1.1", /0-255/],
    ["0x1.1.1.1", /0-255/],
    ["1.1.1.-1", /0-255/],
    ["1.1.1.+1", /0-255/],
    [" 1.1.1.1", /whitespace/],
    ["1.1.1.1\n", /whitespace/],
    ["::1 ", /whitespace/],
    ["", /not a valid IP address/],
    ["abc", /not a valid IP address/],
    ["1", /not a valid IP address/],
    ["fe80::1%eth0", /zone ids \("%eth0"\) are not supported/],
    ["[::1]", /brackets/],
    ["1::2::3", /at most one "::"/],
    ["1:::2", /empty group/],
    [":1:2:3:4:5:6:7", /empty group/],
    ["1:2:3:4:5:6:7:", /empty group/],
    ["12345::", /group "12345" must be 1-4 hex digits/],
    ["g::1", /group "g" must be 1-4 hex digits/],
    ["1:2:3:4:5:6:7", /expected 8 colon-separated groups/],
    ["1:2:3:4:5:6:7:8:9", /expected 8 colon-separated groups/],
    ["1:2:3:4:5:6:7::8", /at most 7 groups/],
    ["1:2:3:4:5:6:7:1.2.3.4", /expected 8 colon-separated groups/],
    ["1.2.3.4::", /only allowed at the end/],
    ["::ffff:1.2.3.400", /embedded IPv4 part "1.2.3.400" is invalid/],
    ["::ffff:01.2.3.4", /leading zero/],
    ["1.2.3.4:80", /only allowed at the end/],
  ];
  for (const [text, reason] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assertInputError(() => parseAddress(text), text);
      assert.throws(() => parseAddress(text), reason);
    });
  }

  it("gives the exact message for an out-of-range IPv4 part", () => {
    assert.throws(() => parseAddress("300.1.1.1"), {
      name: "InputError",
      message:
        '"300.1.1.1" is not a valid IPv4 address: each of the four parts must be a decimal number 0-255',
    });
  });

  it("rejects non-string input with a clear message", () => {
    for (const value of [undefined, null, 42, {}]) {
      assert.throws(
        () => parseAddress(value as unknown as string),
        (error: unknown) =>
          error instanceof InputError && /not a valid IP address: expected a string/.test(
            error.message,
          ),
      );
    }
  });
});

describe("parseAddressOf", () => {
  it("accepts an address of the requested family", () => {
    assert.deepEqual(parseAddressOf(4, "10.1.2.3"), parseAddress("10.1.2.3"));
    assert.deepEqual(parseAddressOf(6, "fd00::1"), parseAddress("fd00::1"));
    assert.deepEqual(parseAddressOf(6, "::ffff:1.2.3.4"), parseAddress("::ffff:1.2.3.4"));
  });

  it("names the family mismatch", () => {
    assert.throws(() => parseAddressOf(4, "fd00::1"), {
      name: "InputError",
      message: 'expected an IPv4 address, got IPv6 address "fd00::1"',
    });
    assert.throws(() => parseAddressOf(6, "1.2.3.4"), {
      name: "InputError",
      message: 'expected an IPv6 address, got IPv4 address "1.2.3.4"',
    });
  });

  it("reports malformed text against the requested family", () => {
    assertInputError(() => parseAddressOf(4, "zz::"), "zz::");
    assert.throws(() => parseAddressOf(4, "zz::"), /not a valid IPv4 address/);
    assertInputError(() => parseAddressOf(6, "300.1.1.1"), "300.1.1.1");
    assert.throws(() => parseAddressOf(6, "300.1.1.1"), /not a valid IPv6 address/);
  });
});

describe("formatAddress", () => {
  it("round-trips canonical text", () => {
    for (
      const text of [
        "0.0.0.0",
        "10.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "1::",
        "fd00:12::11",
        "2001:db8::1",
        "1:2:3:4:5:6:7:8",
        "fe80::1:2:3:4",
        "::ffff:1.2.3.4",
      ]
    ) {
      assert.equal(formatAddress(parseAddress(text)), text);
    }
  });

  // Cases from RFC 5952 sections 4 and 5.
  const canonical: Array<[string, string]> = [
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:0db8::0001", "2001:db8::1"],
    ["2001:db8:0:0:0::1", "2001:db8::1"],
    ["2001:db8:0:0::1", "2001:db8::1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"],
    // A single zero group is not shortened to "::" (4.2.2).
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    // The longest run is shortened (4.2.3) ...
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    // ... and the first one when runs tie.
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8::aaaa:0:0:1", "2001:db8::aaaa:0:0:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["0:1:0:0:0:0:0:0", "0:1::"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    // IPv4-mapped addresses in mixed notation (section 5).
    ["0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"],
    ["::FFFF:c0a8:1", "::ffff:192.168.0.1"],
  ];
  for (const [input, expected] of canonical) {
    it(`formats ${input} as ${expected}`, () => {
      assert.equal(formatAddress(parseAddress(input)), expected);
    });
  }

  it("rejects an address object whose value is out of range", () => {
    assert.throws(() => formatAddress({ family: 4, value: 1n << 32n }), InputError);
    assert.throws(() => formatAddress({ family: 6, value: -1n }), InputError);
    assert.throws(() => formatAddress({ family: 5, value: 0n } as unknown as IpAddress), {
      name: "InputError",
      message: "5 is not a valid IP family: expected 4 or 6",
    });
  });
});

describe("addressEquals and familyBits", () => {
  it("compares family and value", () => {
    assert.equal(addressEquals(parseAddress("fd00::1"), parseAddress("FD00:0::0:1")), true);
    assert.equal(addressEquals(parseAddress("10.0.0.1"), parseAddress("10.0.0.2")), false);
    // Same numeric value, different family.
    assert.equal(addressEquals(parseAddress("0.0.0.1"), parseAddress("::1")), false);
    assert.equal(addressEquals(parseAddress("1.2.3.4"), parseAddress("::ffff:1.2.3.4")), false);
  });

  it("knows the width of each family", () => {
    assert.equal(familyBits(4), 32);
    assert.equal(familyBits(6), 128);
  });
});
