/**
 * VXLAN across segments, end to end on a hand-built network: hosts h1 and h2 on segment A
 * (10.0.12.0/22), h3 on segment B (10.0.20.0/22), a router namespace between them, a registry
 * file with flannel's `{"Type":"vxlan","DirectRouting":true}`, and each host set up with hg's
 * own commands. A fourth host, fl, is built the way flanneld builds its VXLAN host (its own
 * flannel.1 with a random MAC, its lease written in flannel's format), so hg must route a lease
 * it did not write.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { addFlanneldHost, addSegmentHost, buildRouter, type Segment } from "../support/segments.ts";
import { answers, hgIn, ipJson, labName, netnsList, netState, pings, run, sh } from "./harness.ts";

interface Net {
  readonly p: string;
  readonly store: string;
  readonly dir: string;
}

/** Adds host `name` on segment `seg` at `address`, with a route to the other segment. */
function addHost(net: Net, name: string, seg: Segment, address: string): string {
  const host = `${net.p}-${name}`;
  addSegmentHost(`${net.p}-ul`, host, `ul-${name}`, seg, address);
  return host;
}

/** Builds the router and three hg hosts, runs `body`, always removes every namespace. */
async function withSegments(body: (net: Net) => void | Promise<void>): Promise<void> {
  const p = labName();
  const dir = `/tmp/${p}`;
  const net = { p, store: `${dir}/subnets.json`, dir };
  let failure: unknown;
  try {
    run("mkdir", ["-p", dir]);
    buildRouter(`${p}-ul`);
    addHost(net, "h1", "a", "10.0.12.11");
    addHost(net, "h2", "a", "10.0.12.12");
    addHost(net, "h3", "b", "10.0.20.13");
    must(
      hgIn(`${p}-h1`, [
        "subnet",
        "config",
        "--store",
        net.store,
        "--network",
        "1.1.0.0/16",
        // The flanneld-style host of one test holds 1.1.250.0/24 (FLANNELD): hg's hosts are
        // handed subnets below it (a random h1 once drew it, and the flanneld lease replaced h1's).
        "--subnet-max",
        "1.1.249.0",
        "--backend",
        "vxlan",
        "--direct-routing",
      ]),
    );
    for (const h of ["h1", "h2", "h3"]) {
      const host = `${p}-${h}`;
      must(
        hgIn(host, [
          "setup",
          "--store",
          net.store,
          "--node",
          h,
          "--iface",
          "eth0",
          "--subnet-file",
          `${dir}/${h}.env`,
        ]),
      );
      must(hgIn(host, ["netns", "add", `${host}-c1`]));
    }
    await body(net);
  } catch (e) {
    failure = e;
  }
  for (const ns of netnsList().filter((n) => n.startsWith(`${p}-`))) {
    run("ip", ["netns", "del", ns]);
  }
  rmSync(dir, { recursive: true, force: true });
  if (failure) throw failure;
}

function must(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const sync = (net: Net, h: string) =>
  JSON.parse(
    must(hgIn(`${net.p}-${h}`, ["--json", "peer", "sync", "--store", net.store, "--node", h])),
  );

/** The address of host `h`'s container. */
function containerAddress(net: Net, h: string): string {
  const [eth0] = ipJson(`${net.p}-${h}-c1`, ["-4", "addr", "show", "dev", "eth0"]) as {
    addr_info: { local: string }[];
  }[];
  return eth0.addr_info[0].local;
}

/** Every pair of hosts' containers ping each other. */
function assertAllReach(net: Net, hosts: readonly string[]): void {
  for (const from of hosts) {
    for (const to of hosts) {
      if (from === to) continue;
      assert.ok(answers(`${net.p}-${from}-c1`, containerAddress(net, to)), `${from} -> ${to}`);
    }
  }
}

/** The TX packet counter of a host's VXLAN device. */
function tunnelled(net: Net, h: string): number {
  const [link] = ipJson(`${net.p}-${h}`, ["-s", "link", "show", "dev", "flannel.1"]) as {
    stats64: { tx: { packets: number } };
  }[];
  return link.stats64.tx.packets;
}

describe("VXLAN across two segments (e2e, root)", () => {
  it("host-gw on the segment, VXLAN across it: every container reaches every other, each peer says which way and why", async () => {
    await withSegments((net) => {
      // --dry-run prints the ip and bridge commands and changes nothing.
      const h1 = `${net.p}-h1`;
      const untouched = netState(h1);
      const dry = hgIn(h1, ["--dry-run", "peer", "sync", "--store", net.store, "--node", "h1"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        /^ip route replace 1\.1\.\d+\.0\/24 via 1\.1\.\d+\.0 dev flannel\.1 onlink proto 104$/m,
      );
      assert.match(
        dry.stdout,
        /^ip neigh replace 1\.1\.\d+\.0 lladdr 0e:56:0a:00:14:0d dev flannel\.1 nud permanent$/m,
      );
      assert.match(
        dry.stdout,
        /^bridge fdb replace 0e:56:0a:00:14:0d dev flannel\.1 dst 10\.0\.20\.13 self permanent$/m,
      );
      assert.equal(netState(h1), untouched, "a dry run changes nothing");

      for (const h of ["h1", "h2", "h3"]) sync(net, h);
      assertAllReach(net, ["h1", "h2", "h3"]);

      const status = JSON.parse(must(hgIn(`${net.p}-h1`, ["status", "--json"])));
      const modes = Object.fromEntries(
        status.peers.map((
          p: { peer: string; mode: string; reason: string },
        ) => [p.peer, [p.mode, p.reason]]),
      );
      assert.deepEqual(modes, {
        "10.0.12.12": ["host-gw", "10.0.12.12 is on eth0 (10.0.12.0/22)"],
        "10.0.20.13": ["vxlan", "10.0.20.13 is not on a local network: through flannel.1"],
      });
      // Only cross-segment traffic is encapsulated.
      const before = tunnelled(net, "h1");
      assert.ok(pings(`${net.p}-h1-c1`, containerAddress(net, "h2")));
      assert.equal(tunnelled(net, "h1"), before, "h1 -> h2 stays host-gw");
      assert.ok(pings(`${net.p}-h1-c1`, containerAddress(net, "h3")));
      assert.ok(tunnelled(net, "h1") > before, "h1 -> h3 goes through flannel.1");

      // The VXLAN MTU everywhere once a peer tunnels; a full-size DF packet fits.
      assert.equal(status.bridge.mtu, 1450);
      const df = run("nsenter", [
        `--net=/run/netns/${net.p}-h1-c1`,
        "ping",
        "-n",
        "-c",
        "1",
        "-W",
        "2",
        "-M",
        "do",
        "-s",
        "1422",
        containerAddress(net, "h3"),
      ]);
      assert.equal(df.code, 0, `a 1450-byte DF packet crosses: ${df.stdout}${df.stderr}`);

      // Idempotent: the second sync plans nothing.
      for (const h of ["h1", "h2", "h3"]) {
        const again = sync(net, h);
        assert.equal(again.changed, false, `${h}: ${JSON.stringify(again)}`);
      }
    });
  });

  it("a deleted fdb entry or neighbour entry makes the ping fail, and peer sync puts it back", async () => {
    await withSegments((net) => {
      for (const h of ["h1", "h2", "h3"]) sync(net, h);
      const h1 = `${net.p}-h1`;
      const to = containerAddress(net, "h3");
      const h3Mac = "0e:56:0a:00:14:0d";
      sh(h1, `bridge fdb del ${h3Mac} dev flannel.1 self`);
      assert.ok(!pings(`${h1}-c1`, to), "no fdb entry: nowhere to send the encapsulated packet");
      const fixed = sync(net, "h1");
      assert.equal(fixed.changed, true);
      assert.ok(answers(`${h1}-c1`, to), "fdb entry back");
      const gateway =
        (JSON.parse(must(hgIn(h1, ["status", "--json"]))).peers as { peer: string; via: string }[])
          .find((p) => p.peer === "10.0.20.13")!.via;
      sh(h1, `ip neigh del ${gateway} dev flannel.1`);
      assert.ok(!pings(`${h1}-c1`, to), "no neighbour entry: the inner frame has no MAC");
      sync(net, "h1");
      assert.ok(answers(`${h1}-c1`, to), "neighbour entry back");
    });
  });

  it("routes a lease in flannel's VXLAN format (a random VTEP MAC, no node name) to a flanneld-style host", async () => {
    await withSegments((net) => {
      // The flanneld host: its own VTEP as flanneld makes it, container subnet 1.1.250.0/24.
      const fl = `${net.p}-fl`;
      addFlanneldHost(`${net.p}-ul`, fl, "ul-fl", net.store);
      sh(
        fl,
        "ip link add cni0 type bridge && ip addr add 1.1.250.1/24 dev cni0 && ip link set cni0 up",
      );
      run("ip", ["netns", "add", `${fl}-c1`]);
      sh(
        fl,
        `ip link add veth-c1 type veth peer name eth0 netns ${fl}-c1 && ip link set veth-c1 master cni0 up`,
      );
      sh(
        `${fl}-c1`,
        "ip addr add 1.1.250.2/24 dev eth0 && ip link set eth0 up && ip route add default via 1.1.250.1",
      );
      const s = sync(net, "h1");
      const flPeer = s.peers.find((p: { subnet: string }) => p.subnet === "1.1.250.0/24");
      assert.equal(flPeer?.mode, "vxlan", JSON.stringify(s));
      // What flanneld would do on its side for h1.
      const h1Mac = "0e:56:0a:00:0c:0b";
      const h1Subnet = JSON.parse(must(hgIn(`${net.p}-h1`, ["status", "--json"]))).bridge
        .subnet as string;
      const h1Net = h1Subnet.split("/")[0];
      sh(
        fl,
        `ip route add ${h1Subnet} via ${h1Net} dev flannel.1 onlink && ` +
          `ip neigh add ${h1Net} lladdr ${h1Mac} dev flannel.1 nud permanent && ` +
          `bridge fdb add ${h1Mac} dev flannel.1 dst 10.0.12.11 self permanent`,
      );
      assert.ok(answers(`${net.p}-h1-c1`, "1.1.250.2"), "hg's container reaches flanneld's");
      // hg's own leases read as flannel's: VtepMAC in BackendData.
      const mine = JSON.parse(readFileSync(net.store, "utf8")).leases;
      const h1Lease = mine[h1Subnet.replace("/", "-")].attrs;
      assert.deepEqual(
        [h1Lease.BackendType, h1Lease.BackendData, h1Lease.PublicIP],
        ["vxlan", { VNI: 1, VtepMAC: h1Mac }, "10.0.12.11"],
      );
    });
  });

  it("a host that leaves takes its route, neighbour and fdb entry off the others; teardown removes the device", async () => {
    await withSegments((net) => {
      for (const h of ["h1", "h2", "h3"]) sync(net, h);
      const h3Subnet = JSON.parse(must(hgIn(`${net.p}-h3`, ["status", "--json"]))).bridge
        .subnet as string;
      must(hgIn(`${net.p}-h3`, ["subnet", "release", "--store", net.store, "--node", "h3"]));
      sync(net, "h1");
      const h1 = `${net.p}-h1`;
      const routes = ipJson(h1, ["-4", "route", "show", "dev", "flannel.1"]) as unknown[];
      assert.deepEqual(routes, [], "no route left on flannel.1");
      assert.deepEqual(ipJson(h1, ["neigh", "show", "dev", "flannel.1"]), [], "no neighbour left");
      const fdb = run("bridge", ["-n", h1, "-j", "fdb", "show", "dev", "flannel.1"]);
      assert.deepEqual(JSON.parse(fdb.stdout || "[]"), [], "no fdb entry left");
      assert.ok(!JSON.stringify(ipJson(h1, ["-4", "route"])).includes(h3Subnet.split("/")[0]));

      must(hgIn(h1, ["teardown"]));
      const links = (ipJson(h1, ["link"]) as { ifname: string }[]).map((l) => l.ifname);
      assert.ok(!links.includes("flannel.1"), `teardown removes flannel.1: ${links.join(" ")}`);
    });
  });
});
