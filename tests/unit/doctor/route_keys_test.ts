/**
 * The keys doctor matches routes, leases and the sync's peers by without formatting each one: a
 * prefix's text gives the key the prefix gives, an address's text is compared with the address
 * by its number, for IPv4 and IPv6 alike.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAddressText, prefixId, textPrefixId } from "../../../lib/doctor/route_index.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";

describe("textPrefixId", () => {
  it("gives the key of the prefix the text names", () => {
    for (
      const text of [
        "1.1.2.0/24",
        "0.0.0.0/0",
        "255.255.255.255/32",
        "100.64.0.0/10",
        "10.0.12.128/25",
        "fd00:1:2::/64",
        "::/0",
      ]
    ) assert.equal(textPrefixId(text), prefixId(parsePrefix(text)), text);
  });

  it("tells apart prefixes that differ in address or length only", () => {
    const ids = ["1.1.2.0/24", "1.1.2.0/25", "1.1.3.0/24", "1.1.2.0/23"].map(textPrefixId);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe("isAddressText", () => {
  it("compares an address with the text hg writes for it", () => {
    assert.equal(isAddressText(parseAddress("10.0.12.7"), "10.0.12.7"), true);
    assert.equal(isAddressText(parseAddress("10.0.12.7"), "10.0.12.70"), false);
    assert.equal(isAddressText(parseAddress("fd00::7"), "fd00::7"), true);
    assert.equal(isAddressText(parseAddress("fd00::7"), "fd00::8"), false);
  });

  it("takes no other family's text or another spelling for the address", () => {
    assert.equal(isAddressText(parseAddress("10.0.12.7"), "::ffff:10.0.12.7"), false);
    assert.equal(isAddressText(parseAddress("10.0.12.7"), "010.0.12.7"), false);
    assert.equal(isAddressText(parseAddress("::a00:c07"), "10.0.12.7"), false);
  });
});
