/**
 * Sysctl keys of interfaces whose names hold a dot (VLANs such as `eth0.100`): read from
 * /proc/sys under their whole name, and written by sysctl(8) in its slash form, since the dotted
 * form would name the interface `eth0/100`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetSysctls, sysctlCommand, sysctlName } from "../../../lib/sysctl/sysctl.ts";

describe("sysctl names", () => {
  it("an interface name with a dot is kept whole, in the key and in the command", () => {
    const read = parseNetSysctls("conf/eth0.100/rp_filter:1\nconf/eth0/rp_filter:2\n");
    assert.equal(read.get("net.ipv4.conf.eth0.100.rp_filter"), "1");
    assert.equal(read.get("net.ipv4.conf.eth0.rp_filter"), "2");
    assert.equal(
      sysctlCommand("net.ipv4.conf.eth0.100.rp_filter", "2"),
      "sysctl -w net/ipv4/conf/eth0.100/rp_filter=2",
    );
  });

  it("keys without such a name keep their dotted form", () => {
    for (
      const key of [
        "net.ipv4.ip_forward",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.eth0.forwarding",
        "net.ipv4.icmp_echo_ignore_all",
      ]
    ) {
      assert.equal(sysctlName(key), key);
    }
  });
});
