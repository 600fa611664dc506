import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hgIn, ipJson, netState, pings, withLab } from "./harness.ts";

// The seed experiment: two hosts on one segment, a container on each, a route each way.
describe("two-host lab (e2e, root)", () => {
  it("pings across hosts both ways, fails without a peer route, and plans nothing on re-runs", async () => {
    await withLab(2, (lab) => {
      const [h1, h2, c1, c2] = [`${lab}-h1`, `${lab}-h2`, `${lab}-h1-c1`, `${lab}-h2-c1`];
      assert.ok(pings(c1, "1.1.2.2"), "h1's container reaches h2's");
      assert.ok(pings(c2, "1.1.1.2"), "h2's container reaches h1's");

      // The route table carries hg's mark.
      const routes = ipJson(h1, ["-N", "route", "show", "proto", "104"]) as {
        dst: string;
        gateway: string;
      }[];
      assert.deepEqual(routes.map((r) => [r.dst, r.gateway]), [["1.1.2.0/24", "10.0.12.12"]]);

      // --dry-run prints the exact command and changes nothing.
      const before = netState(h1);
      const dry = hgIn(h1, ["--dry-run", "peer", "rm", "1.1.2.0/24"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.trim(), "ip route del 1.1.2.0/24 proto 104");
      assert.equal(netState(h1), before);

      // Without the route, the ping fails; with it back, it works again.
      assert.equal(hgIn(h1, ["peer", "rm", "1.1.2.0/24"]).code, 0);
      assert.ok(!pings(c1, "1.1.2.2"), "no route to h2's subnet: the ping must fail");
      assert.ok(!pings(c2, "1.1.1.2"), "replies from h1 cannot find the way back either");
      const readd = hgIn(h1, ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"]);
      assert.equal(readd.code, 0, readd.stderr);
      assert.ok(pings(c1, "1.1.2.2"));
      assert.ok(pings(c2, "1.1.1.2"));

      // A peer that moved: adding it with another gateway replaces hg's route (and, the new
      // gateway being no host at all, breaks the ping) until it is put back.
      assert.equal(hgIn(h1, ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.99"]).code, 0);
      const moved = ipJson(h1, ["-N", "route", "show", "proto", "104"]) as { gateway: string }[];
      assert.deepEqual(moved.map((r) => r.gateway), ["10.0.12.99"]);
      assert.ok(!pings(c1, "1.1.2.2"), "the route points at a host that is not there");
      assert.equal(hgIn(h1, ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"]).code, 0);
      assert.ok(pings(c1, "1.1.2.2"));

      // Every mutating command a second time: nothing planned, nothing changed.
      const again = [
        ["setup", "--subnet", "1.1.1.0/24"],
        ["netns", "add", c1, "--ip", "1.1.1.2"],
        ["netns", "add", c1],
        ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"],
      ];
      const settled = netState(h1);
      for (const args of again) {
        const r = hgIn(h1, ["--json", ...args]);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        const result = JSON.parse(r.stdout);
        assert.deepEqual(result.commands, [], `${args.join(" ")} planned ${result.commands}`);
        assert.equal(result.changed, false);
      }
      assert.equal(netState(h1), settled);

      // status --json tells the whole story.
      const status = JSON.parse(hgIn(h1, ["status", "--json"]).stdout);
      assert.equal(status.schema, 1);
      assert.equal(status.bridge.subnet, "1.1.1.0/24");
      assert.equal(status.bridge.address, "1.1.1.1/24");
      assert.equal(status.forwarding, true);
      assert.deepEqual(
        status.containers.map((c: { name: string; address: string }) => [c.name, c.address]),
        [[c1, "1.1.1.2/24"]],
      );
      assert.deepEqual(status.peers, [{
        subnet: "1.1.2.0/24",
        via: "10.0.12.12",
        dev: "eth0",
        linkdown: false,
        mode: "host-gw",
        peer: "10.0.12.12",
        vtepMac: null,
        reason: "10.0.12.12 is on eth0 (10.0.12.0/22)",
      }]);

      // teardown removes exactly hg's things, and a second teardown plans nothing.
      const down = hgIn(h1, ["--json", "teardown"]);
      assert.equal(down.code, 0, down.stderr);
      const after = JSON.parse(hgIn(h1, ["status", "--json"]).stdout);
      assert.equal(after.bridge.present, false);
      assert.deepEqual(after.containers, []);
      assert.deepEqual(after.peers, []);
      const uplink = ipJson(h1, ["addr", "show", "dev", "eth0"]) as {
        addr_info: { local: string }[];
      }[];
      assert.ok(
        uplink[0].addr_info.some((a) => a.local === "10.0.12.11"),
        "teardown left the uplink alone",
      );
      assert.deepEqual(JSON.parse(hgIn(h1, ["--json", "teardown"]).stdout).commands, []);
      void h2;
    });
  });
});
