/**
 * Labs whose hosts run `hg agent`, on a real etcd and on the shared JSON file: hosts come up and
 * reach each other; a host joins and every host routes to it; a host leaves for good and its
 * routes go everywhere; a route deleted by hand, and routes lost with a bridge or an uplink that
 * went down and up, come back within 2 s; a poisoned lease written while agents run is never
 * installed; SIGTERM leaves the routes in place.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hg, hgIn, ipJson, labEtcdctl, pings, run, spawnLabAgent, withLab } from "./harness.ts";

const routes = (host: string) =>
  (ipJson(host, ["-N", "route", "show", "proto", "104"]) as { dst: string; gateway: string }[])
    .map((r) => `${r.dst} via ${r.gateway}`).sort();

/** Waits until `check` holds, polling every 50 ms, for at most `ms`; returns how long it took. */
async function within(ms: number, check: () => boolean, what: string): Promise<number> {
  const start = Date.now();
  while (!check()) {
    assert.ok(Date.now() - start < ms, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

function status(host: string) {
  const r = hgIn(host, ["status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const store of ["etcd", "file"] as const) {
  describe(`agents on the ${store} store (e2e, root)`, () => {
    it("join, leave, repair and restart", async () => {
      await withLab(
        3,
        async (lab) => {
          const hosts = [1, 2, 3].map((i) => `${lab}-h${i}`);
          for (const h of hosts) assert.equal(routes(h).length, 2, `${h} routes to both others`);
          const s1 = status(hosts[0]);
          assert.equal(s1.agent.node, hosts[0]);
          assert.ok(s1.agent.lastSync);
          assert.equal(s1.agent.storeReachable, true);
          assert.deepEqual(s1.agent.refused, []);

          // A fourth host joins: every host routes to it.
          const add = hg(["lab", "add-node", "--name", lab]);
          assert.equal(add.code, 0, add.stderr);
          const h4 = `${lab}-h4`;
          const subnet4 = status(h4).bridge.subnet;
          for (const h of [...hosts, h4]) assert.equal(routes(h).length, 3, `${h} after the join`);
          assert.ok(routes(hosts[0]).includes(`${subnet4} via 10.0.12.14`));
          assert.ok(pings(`${lab}-h1-c1`, status(h4).containers[0].address.split("/")[0]));

          // The second host leaves for good: its routes disappear everywhere.
          const subnet2 = status(hosts[1]).bridge.subnet;
          assert.equal(hg(["lab", "rm-node", hosts[1], "--name", lab]).code, 0);
          for (const h of [hosts[0], hosts[2], h4]) {
            await within(
              2000,
              () => !routes(h).some((r) => r.startsWith(subnet2)),
              `${h} drops ${subnet2}`,
            );
          }

          // A route deleted by hand comes back within 2 s.
          assert.equal(run("ip", ["-n", hosts[0], "route", "del", subnet4]).code, 0);
          await within(
            2000,
            () => routes(hosts[0]).includes(`${subnet4} via 10.0.12.14`),
            "the deleted route is back",
          );

          // Bridge down and up, then uplink down and up: the host is made right again.
          assert.equal(run("ip", ["-n", hosts[0], "link", "set", "cni0", "down"]).code, 0);
          await within(
            2000,
            () =>
              (ipJson(hosts[0], ["link", "show", "cni0"]) as { flags: string[] }[])[0].flags
                .includes(
                  "UP",
                ),
            "the bridge is up again",
          );
          assert.equal(run("ip", ["-n", hosts[0], "link", "set", "eth0", "down"]).code, 0);
          await within(
            2000,
            () => routes(hosts[0]).length === 0,
            "routes through a downed uplink are gone (the kernel)",
          );
          assert.equal(run("ip", ["-n", hosts[0], "link", "set", "eth0", "up"]).code, 0);
          await within(
            2000,
            () => routes(hosts[0]).length === 2,
            "the routes are back after the uplink came up",
          );
          assert.ok(pings(`${lab}-h1-c1`, status(h4).containers[0].address.split("/")[0]));
        },
        store,
        true,
      );
    });
  });
}

describe("agents and a poisoned lease (e2e, root)", () => {
  it("a bad lease written while agents run is never installed, and is reported in status", async () => {
    await withLab(
      2,
      async (lab) => {
        const before = [1, 2].map((i) => routes(`${lab}-h${i}`));
        const put = (key: string, value: string) =>
          labEtcdctl(lab, ["put", `/coreos.com/network/subnets/${key}`, value]);
        assert.equal(put("0.0.0.0-0", '{"PublicIP":"10.0.12.12","BackendType":"host-gw"}').code, 0);
        assert.equal(
          put("1.1.0.0-16", '{"PublicIP":"10.0.12.12","BackendType":"host-gw"}').code,
          0,
        );
        await within(
          2000,
          () => status(`${lab}-h1`).agent.refused.length === 2,
          "the agent reports both",
        );
        await new Promise((r) => setTimeout(r, 1200)); // a few repair ticks
        assert.deepEqual([1, 2].map((i) => routes(`${lab}-h${i}`)), before);
        const log = run("cat", [`/run/hg/lab-${lab}/${lab}-h1.agent.log`]).stdout;
        assert.match(
          log,
          /refused lease 0\.0\.0\.0-0: 0\.0\.0\.0\/0 is outside the cluster network/,
        );
      },
      "etcd",
      true,
    );
  });
});

describe("agent restart (e2e, root)", () => {
  it("SIGTERM stops the agent with exit 0 and leaves every route in place", async () => {
    await withLab(2, async (lab) => {
      const h1 = `${lab}-h1`;
      const before = routes(h1);
      assert.equal(before.length, 1);
      const agent = spawnLabAgent(lab);
      let log = "";
      agent.stderr.on("data", (d) => log += d);
      const exited = new Promise<number | null>((r) => agent.on("close", r));
      await within(5000, () => status(h1).agent?.lastSync != null, "the agent is running");
      process.kill(agent.pid!, "SIGTERM");
      assert.equal(await exited, 0, log);
      assert.match(log, /stopped; routes left in place/);
      assert.deepEqual(routes(h1), before);
      assert.equal(status(h1).agent, null, "no agent reported after it stopped");
    }, "etcd");
  });
});
