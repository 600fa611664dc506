/**
 * `hg status` reads a namespace through one `ip -batch` process (lib/ip/one_read.ts) where the
 * other commands read it through three (lib/ip/read.ts): both must give the same state, on a
 * namespace with what status shows and what it must leave out (other tables' routes, IPv6
 * local routes, routes without an address to tell their family). Needs root, as the e2e tiers do.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { readNetStateInOneProcess } from "../../lib/ip/one_read.ts";
import { readNetStateOnce } from "../../lib/ip/read.ts";

const NS = `hgtest-oneread-${process.pid}`;

function ip(...args: string[]): void {
  const r = spawnSync("ip", ["-n", NS, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

before(() => {
  const r = spawnSync("ip", ["netns", "add", NS], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${NS}: ${r.stderr}`);
  ip("link", "set", "lo", "up");
  ip("link", "add", "cni0", "type", "bridge");
  ip("link", "set", "cni0", "alias", "hg-test-bridge");
  ip("addr", "add", "1.1.1.1/24", "dev", "cni0");
  ip("addr", "add", "fd00:1:1::1/64", "dev", "cni0", "nodad");
  ip("link", "set", "cni0", "up");
  ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
  ip("addr", "add", "10.0.12.11/24", "dev", "eth0");
  ip("addr", "add", "fd12::11/64", "dev", "eth0", "nodad");
  ip("link", "set", "eth0", "up");
  ip("link", "set", "eth1", "up");
  // A second uplink with no carrier: its routes are linkdown.
  ip("link", "add", "eth2", "type", "veth", "peer", "name", "eth3");
  ip("addr", "add", "10.0.13.11/24", "dev", "eth2");
  ip("link", "set", "eth2", "up");
  ip("route", "add", "default", "via", "10.0.12.1");
  ip("-6", "route", "add", "default", "via", "fd12::1");
  ip("-6", "route", "add", "unreachable", "fd99::/64");
  ip("route", "add", "1.1.2.0/24", "via", "10.0.12.12", "proto", "104");
  ip("route", "add", "1.1.4.0/24", "via", "10.0.13.14", "proto", "104");
  ip("route", "add", "1.1.5.0/24", "via", "10.0.99.5", "dev", "eth0", "onlink", "proto", "104");
  ip("-6", "route", "add", "fd00:1:2::/64", "via", "fd12::12", "proto", "104");
  ip(
    "route",
    "add",
    "1.1.6.0/24",
    "proto",
    "104",
    "nexthop",
    "via",
    "10.0.12.16",
    "nexthop",
    "via",
    "10.0.12.17",
  );
  ip("route", "add", "blackhole", "1.1.7.0/24");
  // Other tables' routes are not table main's, in either family.
  ip("route", "add", "1.1.8.0/24", "via", "10.0.12.18", "table", "100");
  ip("-6", "route", "add", "fd00:1:8::/64", "via", "fd12::18", "table", "100");
  ip("-6", "route", "add", "unreachable", "default", "table", "100");
  ip("link", "add", "flannel.1", "type", "vxlan", "id", "1", "dstport", "8472", "nolearning");
  ip("link", "set", "flannel.1", "up");
  ip(
    "neigh",
    "add",
    "1.1.3.0",
    "lladdr",
    "02:00:00:00:00:03",
    "dev",
    "flannel.1",
    "nud",
    "permanent",
  );
});

after(() => {
  spawnSync("ip", ["netns", "del", NS]);
});

describe("reading a namespace through one ip process", () => {
  it("gives the state that the session and two route reads give", async () => {
    const [one, three] = await Promise.all([readNetStateInOneProcess(NS), readNetStateOnce(NS)]);
    assert.deepEqual(one, three);
    // What the namespace holds is there, and nothing of table 100's or table local's.
    const dsts = one.routes.map((r) => `${r.dst.address.family}:${r.dst.length}:${r.type}`);
    assert.ok(dsts.includes("6:0:unicast"), "the IPv6 default route");
    assert.ok(dsts.includes("6:64:unreachable"), "an IPv6 route with no address");
    assert.ok(!one.routes.some((r) => r.table !== undefined), "no route carries a table");
    assert.ok(!one.routes.some((r) => r.type === "local" || r.type === "multicast"));
    assert.equal(one.routes.filter((r) => r.protocol === 104).length, 5);
    assert.ok(one.routes.some((r) => r.flags.includes("linkdown")));
    assert.equal(one.neighbours.length, 1);
  });

  it("refuses a namespace that does not exist, as ip does", async () => {
    await assert.rejects(readNetStateInOneProcess(`${NS}-none`), /hgtest-oneread-\d+-none/);
  });
});
