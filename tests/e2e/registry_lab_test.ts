/**
 * Labs whose hosts lease their subnets from a registry and route to each other with
 * `hg peer sync`: on the shared JSON file and on a real etcd. On etcd also: a poisoned registry
 * (only the good lease is installed) and flannel interop (a lease written in flannel's exact
 * format is a peer; hg's leases have flannel's LeaseAttrs shape).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  firstHostIdentity,
  hg,
  hgIn,
  ipJson,
  labEtcdctl,
  netState,
  pings,
  run,
  withLab,
} from "./harness.ts";

/** `hg lab status --json` of a lab. */
function labStatus(lab: string) {
  const r = hg(["--json", "lab", "status", "--name", lab]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    hosts: {
      netns: string;
      status: { bridge: { subnet: string }; containers: { address: string }[] };
    }[];
    reachability: { ok: boolean }[];
  };
}

function etcdctl(lab: string, args: readonly string[]): string {
  const r = labEtcdctl(lab, args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe("labs on a registry (e2e, root)", () => {
  for (const store of ["file", "etcd"] as const) {
    it(`3 hosts on the ${store} store lease distinct subnets and all containers reach each other`, async () => {
      await withLab(3, (lab) => {
        const status = labStatus(lab);
        const subnets = status.hosts.map((h) => h.status.bridge.subnet);
        assert.equal(new Set(subnets).size, 3);
        assert.equal(status.reachability.length, 6);
        assert.ok(status.reachability.every((r) => r.ok), JSON.stringify(status.reachability));
        // A second sync on a settled cluster plans nothing.
        const url = store === "file" ? `/run/hg/lab-${lab}/subnets.json` : "etcd://10.0.12.2:2379";
        const again = JSON.parse(
          hgIn(`${lab}-h1`, ["--json", "peer", "sync", "--store", url, "--node", `${lab}-h1`])
            .stdout,
        );
        assert.deepEqual(again.commands, []);
        assert.equal(again.unchanged, 2);
      }, store);
    });
  }

  it("hg setup again after the lease ran out: the bridge's subnet is leased again, or a clear error", async () => {
    await withLab(2, (lab) => {
      const h1 = `${lab}-h1`;
      const url = "etcd://10.0.12.2:2379";
      const who = firstHostIdentity(lab);
      const subnetOf = () =>
        (JSON.parse(hgIn(h1, ["subnet", "ls", "--store", url, "--json"]).stdout).leases as {
          node?: string;
          subnet: string;
        }[]).filter((l) => l.node === h1).map((l) => l.subnet);
      const [subnet] = subnetOf();
      const setup = (...more: string[]) => {
        const r = hgIn(h1, ["setup", "--store", url, ...who, ...more]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const changed = (...more: string[]) => JSON.parse(setup("--json", ...more)).changed;
      // Run again on a host that is set up: nothing changes, and it says so.
      assert.equal(changed(), false, "a renewal alone is no change");
      // The lease is gone (ran out, or released): setup takes the same subnet again. The host
      // needs no change, the registry did change: a script reading `changed` must hear it.
      assert.equal(hgIn(h1, ["subnet", "release", subnet, "--store", url]).code, 0);
      assert.equal(
        setup(),
        `leased ${subnet} in ${url}/coreos.com/network\nnothing to do on the host: bridge cni0 ${
          subnet.replace(".0/", ".1/")
        } for subnet ${subnet}, forwarding on\n`,
      );
      assert.deepEqual(subnetOf(), [subnet]);
      assert.equal(hgIn(h1, ["subnet", "release", subnet, "--store", url]).code, 0);
      assert.equal(changed(), true, "the lease made again is a change");
      // The lease's value written anew (another node name) is a change; the next run is not.
      assert.equal(changed("--node", `${h1}-renamed`), true);
      assert.equal(changed("--node", `${h1}-renamed`), false);
      assert.equal(changed(), true, "the node name back");

      // Gone and taken by another host: setup says so, and changes nothing.
      assert.equal(hgIn(h1, ["subnet", "release", subnet, "--store", url]).code, 0);
      etcdctl(lab, [
        "put",
        `/coreos.com/network/subnets/${subnet.replace("/", "-")}`,
        '{"PublicIP":"10.0.12.99","BackendType":"host-gw"}',
      ]);
      const before = netState(h1);
      const refused = hgIn(h1, ["setup", "--store", url, ...who]);
      assert.equal(refused.code, 1);
      assert.equal(
        refused.stderr,
        `hg: this host uses ${subnet}, which it cannot lease again: it is leased to a host (10.0.12.99)\n`,
      );
      assert.equal(netState(h1), before);
      assert.deepEqual(subnetOf(), [], "no other subnet leased");
    }, "etcd");
  });

  it("a poisoned registry: peer sync names every bad lease, installs none of them, installs the good one", async () => {
    await withLab(2, (lab) => {
      const h1 = `${lab}-h1`;
      const status = labStatus(lab);
      const taken = new Set(status.hosts.map((h) => Number(h.status.bridge.subnet.split(".")[2])));
      const free = Array.from({ length: 250 }, (_, i) => i + 2).filter((n) => !taken.has(n));
      const [local, self, offlink, malformed, flannel] = free;
      // A local network of h1's that a lease must not shadow.
      assert.equal(
        run("ip", ["-n", h1, "addr", "add", `1.1.${local}.1/24`, "dev", "eth0"]).code,
        0,
      );
      const lease = (ip: string, node?: string) =>
        JSON.stringify({
          PublicIP: ip,
          PublicIPv6: null,
          BackendType: "host-gw",
          BackendData: null,
          ...(node ? { HgNode: node } : {}),
        });
      const poisoned: [string, string, RegExp][] = [
        ["0.0.0.0-0", lease("10.0.12.12", "evil0"), /outside the cluster network/],
        ["9.9.9.0-24", lease("10.0.12.12", "evil1"), /outside the cluster network/],
        [
          `1.1.${local}.0-24`,
          lease("10.0.12.12", "evil2"),
          /overlaps 1\.1\.\d+\.0\/24 \(address on eth0\)/,
        ],
        [`1.1.${self}.0-24`, lease("10.0.12.11", "evil3"), /this host's own address/],
        [
          `1.1.${offlink}.0-24`,
          lease("192.168.77.1", "evil4"),
          /not on a directly connected network/,
        ],
        [`1.1.${malformed}.0-24`, "not json {", /not JSON/],
      ];
      for (const [key, value] of poisoned) {
        etcdctl(lab, ["put", `/coreos.com/network/subnets/${key}`, value]);
      }
      // Interop: a lease exactly as flanneld writes it (no HgNode) is a peer like any other.
      etcdctl(lab, ["put", `/coreos.com/network/subnets/1.1.${flannel}.0-24`, lease("10.0.12.12")]);

      const r = hgIn(h1, [
        "--json",
        "peer",
        "sync",
        "--store",
        "etcd://10.0.12.2:2379",
        "--node",
        h1,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const sync = JSON.parse(r.stdout) as {
        refused: { key: string; reason: string }[];
        commands: string[];
      };
      for (const [key, , reason] of poisoned) {
        const refused = sync.refused.find((x) => x.key === key);
        assert.ok(refused, `${key} is named as refused`);
        assert.match(refused.reason, reason);
      }
      assert.equal(sync.refused.length, poisoned.length);
      assert.deepEqual(sync.commands, [
        `ip route replace 1.1.${flannel}.0/24 via 10.0.12.12 dev eth0 proto 104`,
      ]);
      const routes = (ipJson(h1, ["-N", "route", "show", "proto", "104"]) as { dst: string }[]).map(
        (x) => x.dst,
      ).sort();
      const h2subnet = status.hosts[1].status.bridge.subnet;
      assert.deepEqual(routes, [h2subnet, `1.1.${flannel}.0/24`].sort());
      assert.ok(pings(`${lab}-h1-c1`, status.hosts[1].status.containers[0].address.split("/")[0]));

      // hg's own lease has flannel's LeaseAttrs shape (Go's decoder ignores the extra HgNode).
      const own = JSON.parse(
        etcdctl(lab, [
          "get",
          "--print-value-only",
          `/coreos.com/network/subnets/${status.hosts[0].status.bridge.subnet.replace("/", "-")}`,
        ]),
      );
      assert.match(own.PublicIP, /^\d+\.\d+\.\d+\.\d+$/);
      assert.equal(own.PublicIPv6, null);
      assert.equal(own.BackendType, "host-gw");
      assert.equal(own.BackendData, null);
      assert.deepEqual(Object.keys(own).sort(), [
        "BackendData",
        "BackendType",
        "HgNode",
        "PublicIP",
        "PublicIPv6",
      ]);
      assert.ok(!("BackendV6Data" in own));
    }, "etcd");
  });
});
