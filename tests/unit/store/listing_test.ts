/**
 * A file registry's listing, read the fast way for the common lease (one canonical IPv4 key, a
 * plain value) and the careful way for the rest: each bad entry is refused with the message it
 * always had, each odd-but-fine one is listed, and expired ones are left out.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatAddress } from "../../../lib/net/address.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";
import { FileStore } from "../../../lib/store/file/store.ts";
import { subnetsOfKey } from "../../../lib/store/lease.ts";

const NOW = Date.parse("2026-06-01T00:00:00.000Z");
const LATER = "2026-06-02T00:00:00.000Z";

const value = (attrs: Record<string, unknown>) => ({
  attrs: { PublicIPv6: null, BackendType: "host-gw", BackendData: null, ...attrs },
  expiration: LATER,
});

const LEASES: Record<string, unknown> = {
  "1.1.4.0-24": value({ PublicIP: "10.0.12.14", HgNode: "h4" }),
  "1.1.01.0-24": value({ PublicIP: "10.0.12.15" }),
  "1.1.4.5-24": value({ PublicIP: "10.0.12.16" }),
  "1.1.5.0-024": value({ PublicIP: "10.0.12.17" }),
  "1.1.5.0-33": value({ PublicIP: "10.0.12.17" }),
  "1.1.6.0-24": value({ PublicIP: "10.0.12.016" }),
  "1.1.7.0-24": value({ PublicIP: 5 }),
  "1.1.8.0-24": value({ PublicIP: "10.0.12.18", HgNode: "bad node" }),
  "fd00:1:0:9::-64": value({ PublicIP: null, PublicIPv6: "fd00:12::19", HgNode: "h9" }),
  "fd00:1:0:09::-64": value({ PublicIP: null, PublicIPv6: "fd00:12::19" }),
  "1.1.10.0-24&fd00:1:0:a::-64": value({ PublicIP: "10.0.12.20" }),
  "1.1.11.0-24": { ...value({ PublicIP: "10.0.12.21" }), expiration: "2026-05-31T00:00:00.000Z" },
  "1.1.12.0-24": value({ PublicIP: "fd00::1" }),
  "1.1.13.0-24": value({ PublicIP: "10.0.12.23", PublicIPv6: "fd00:12::23", HgNode: "h13" }),
  "1.1.14.0-24&fd00:1:0:e::-64": value({ PublicIP: "10.0.12.24", PublicIPv6: "fd00:12::24" }),
  "1.1.15.0-24": value({ PublicIP: "10.0.12.25", BackendType: "vxlan", BackendData: null }),
  " 1.1.16.0-24": value({ PublicIP: "10.0.12.26" }),
};

async function listing() {
  const dir = mkdtempSync(join(tmpdir(), "hg-listing-"));
  try {
    const file = join(dir, "subnets.json");
    writeFileSync(
      file,
      JSON.stringify({
        kind: "hg-subnet-registry",
        version: 1,
        revision: 7,
        config: null,
        leases: LEASES,
      }),
    );
    return await new FileStore(file, () => NOW).listLeases();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("a file registry's listing", () => {
  it("refuses each bad entry with its message, in the file's order, and leaves out the expired", async () => {
    const { entries, revision } = await listing();
    assert.equal(revision, "7");
    assert.deepEqual(
      entries.filter((e) => "problem" in e),
      [
        { key: "1.1.01.0-24", problem: 'key "1.1.01.0-24" does not name a subnet' },
        { key: "1.1.4.5-24", problem: 'key "1.1.4.5-24" does not name a subnet' },
        { key: "1.1.5.0-024", problem: 'key "1.1.5.0-024" does not name a subnet' },
        { key: "1.1.5.0-33", problem: 'key "1.1.5.0-33" does not name a subnet' },
        {
          key: "1.1.6.0-24",
          problem:
            '"10.0.12.016" is not a valid IPv4 address: part "016" has a leading zero (ambiguous, could be read as octal)',
        },
        { key: "1.1.7.0-24", problem: "PublicIP is missing or not a string" },
        { key: "1.1.8.0-24", problem: "HgNode is not a valid node name" },
        { key: "fd00:1:0:09::-64", problem: 'key "fd00:1:0:09::-64" does not name a subnet' },
        { key: "1.1.10.0-24&fd00:1:0:a::-64", problem: "a dual-stack lease has no PublicIPv6" },
        {
          key: "1.1.12.0-24",
          problem: 'expected an IPv4 address, got IPv6 address "fd00::1"',
        },
        {
          key: "1.1.15.0-24",
          problem: "a vxlan lease has no BackendData object (with VtepMAC)",
        },
        { key: " 1.1.16.0-24", problem: 'key " 1.1.16.0-24" does not name a subnet' },
      ],
    );
  });

  it("lists the good ones with their subnets, addresses and expiry", async () => {
    const { entries } = await listing();
    const leases = entries.flatMap((e) => "lease" in e ? [[e.key, e.lease] as const] : []);
    assert.deepEqual(
      leases.map(([key, l]) => [
        key,
        formatPrefix(l.subnet),
        l.ipv6Subnet ? formatPrefix(l.ipv6Subnet) : null,
        formatAddress(l.attrs.publicIp),
        l.attrs.publicIpv6 ? formatAddress(l.attrs.publicIpv6) : null,
        l.attrs.node ?? null,
        l.expiresAt,
      ]),
      [
        ["1.1.4.0-24", "1.1.4.0/24", null, "10.0.12.14", null, "h4", Date.parse(LATER)],
        ["fd00:1:0:9::-64", "fd00:1:0:9::/64", null, "fd00:12::19", null, "h9", Date.parse(LATER)],
        // An IPv4 lease keeps only its IPv4 address.
        ["1.1.13.0-24", "1.1.13.0/24", null, "10.0.12.23", null, "h13", Date.parse(LATER)],
        [
          "1.1.14.0-24&fd00:1:0:e::-64",
          "1.1.14.0/24",
          "fd00:1:0:e::/64",
          "10.0.12.24",
          "fd00:12::24",
          null,
          Date.parse(LATER),
        ],
      ],
    );
    // Each lease's subnets are its key's, parsed the one way or the other.
    for (const [key, l] of leases) {
      const subnets = subnetsOfKey(key)!;
      assert.deepEqual(subnets.subnet, l.subnet);
      assert.deepEqual(subnets.ipv6Subnet, l.ipv6Subnet);
    }
    assert.deepEqual(Object.keys(leases[0][1]), ["subnet", "attrs", "expiresAt"]);
    assert.deepEqual(Object.keys(leases[3][1]), ["subnet", "ipv6Subnet", "attrs", "expiresAt"]);
  });
});
