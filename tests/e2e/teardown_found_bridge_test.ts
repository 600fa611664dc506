/**
 * `hg teardown` on a host whose bridge an admin made: hg's address goes, the bridge and the
 * admin's own address stay (issue 11). Runs in a namespace of its own.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hgIn, ipJson, labName, run, sh } from "./harness.ts";

type Addr = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] };

const ns = `${labName()}-td`;
const v4 = (dev: string) =>
  (ipJson(ns, ["addr", "show", "dev", dev]) as Addr[])[0]?.addr_info
    .filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`) ?? [];
const linkExists = (dev: string) => run("ip", ["-n", ns, "link", "show", dev]).code === 0;

describe("teardown of a bridge hg did not create (e2e, root)", () => {
  before(() => {
    assert.equal(run("ip", ["netns", "add", ns]).code, 0);
    sh(ns, "ip link set lo up");
  });
  after(() => {
    run("ip", ["netns", "del", ns]);
  });

  it("removes only the address hg added, and keeps the admin's bridge and its port", () => {
    sh(
      ns,
      "ip link add cni0 type bridge && ip link add adm0 type veth peer name adm1 && " +
        "ip link set adm0 master cni0 && ip link set cni0 up",
    );
    try {
      const setup = hgIn(ns, ["setup", "--subnet", "1.1.1.0/24"]);
      assert.equal(setup.code, 0, setup.stderr);
      assert.deepEqual(v4("cni0"), ["1.1.1.1/24"]);
      const down = hgIn(ns, ["teardown"]);
      assert.equal(down.code, 0, down.stderr);
      assert.ok(linkExists("cni0"), "the admin's bridge stays");
      assert.deepEqual(v4("cni0"), []);
      const port = ipJson(ns, ["link", "show", "dev", "adm0"]) as { master?: string }[];
      assert.equal(port[0].master, "cni0", "the admin's port stays on the bridge");
      // Nothing of hg's is left: a second teardown has nothing to do.
      assert.match(hgIn(ns, ["teardown"]).stdout, /nothing to do/);
    } finally {
      run("ip", ["-n", ns, "link", "del", "adm0"]);
      run("ip", ["-n", ns, "link", "del", "cni0"]);
    }
  });

  it("leaves the gateway address when the admin put it on the bridge before hg came", () => {
    sh(
      ns,
      "ip link add cni0 type bridge && ip addr add 1.1.1.1/24 dev cni0 && ip link set cni0 up",
    );
    try {
      const setup = hgIn(ns, ["setup", "--subnet", "1.1.1.0/24"]);
      assert.equal(setup.code, 0, setup.stderr);
      assert.equal(hgIn(ns, ["teardown"]).code, 0);
      assert.deepEqual(v4("cni0"), ["1.1.1.1/24"]);
    } finally {
      run("ip", ["-n", ns, "link", "del", "cni0"]);
    }
  });

  it("removes a bridge hg created, with its address", () => {
    assert.equal(hgIn(ns, ["setup", "--subnet", "1.1.1.0/24"]).code, 0);
    assert.ok(linkExists("cni0"));
    assert.equal(hgIn(ns, ["teardown"]).code, 0);
    assert.ok(!linkExists("cni0"));
  });
});
