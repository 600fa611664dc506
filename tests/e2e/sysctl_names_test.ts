/**
 * The sysctl command hg prints for an interface whose name holds a dot (a VLAN such as
 * `eth0.100`) sets that interface's value, run by sysctl(8) in a namespace of the test's own;
 * the dotted form sysctl would misread is shown to fail, which is why hg does not print it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysctlCommand } from "../../lib/sysctl/sysctl.ts";
import { labName, run } from "./harness.ts";

describe("sysctl names of dotted interfaces (e2e, root)", () => {
  it("hg's command sets eth0.100's rp_filter; the dotted form names eth0/100", () => {
    const ns = `${labName()}-sysctl`;
    assert.equal(run("ip", ["netns", "add", ns]).code, 0);
    try {
      const inNs = (line: string) =>
        run("nsenter", [`--net=/run/netns/${ns}`, "--", "sh", "-c", line]);
      assert.equal(inNs("ip link add eth0.100 type veth peer name p100").code, 0);
      const value = () => inNs("cat /proc/sys/net/ipv4/conf/eth0.100/rp_filter").stdout.trim();
      const dotted = inNs("sysctl -w net.ipv4.conf.eth0.100.rp_filter=2");
      assert.notEqual(dotted.code, 0, "sysctl reads the dotted key as eth0/100");
      assert.equal(value(), "0");
      const r = inNs(sysctlCommand("net.ipv4.conf.eth0.100.rp_filter", "2"));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(value(), "2");
    } finally {
      run("ip", ["netns", "del", ns]);
    }
  });
});
