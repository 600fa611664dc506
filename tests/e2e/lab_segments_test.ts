/**
 * A lab on two underlay segments (`hg lab up --segments 2`), with agents on the lab's etcd: the
 * underlay namespace routes between the segments (hosts reach each other's underlay addresses
 * and the registry across it), host-gw routes only within a segment and refuses peers on the
 * other one as off-link (the lab reports those pairs as off-link, not as failures), and
 * `lab move-node` moves a host's uplink to the other segment: new address, port and routes, its
 * agent restarted with the new public address, which its lease then carries (same subnet), and
 * the hosts of both segments route accordingly. Bad input to move-node is one line, exit 2,
 * nothing changed; `--dry-run` changes nothing. Kernel state is read with `ip -j` and pings.
 *
 * The same lab with the VXLAN backend is tests/e2e/vxlan_agent_test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  answers,
  assertOneLine,
  bridgeSubnetOf,
  hg,
  hgIn,
  ipJson,
  netState,
  pings,
  run,
  within,
  withLab,
} from "./harness.ts";

type Link = { ifname: string; address: string; master?: string; linkinfo?: { info_kind: string } };
type Addr = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] };
type Route = { dst: string; gateway?: string; dev: string; protocol?: string; flags: string[] };

/** A host's IPv4 addresses on eth0, as ADDRESS/LEN. */
const eth0 = (netns: string) =>
  (ipJson(netns, ["-4", "addr", "show", "dev", "eth0"]) as Addr[])
    .flatMap((a) => a.addr_info.map((i) => `${i.local}/${i.prefixlen}`));

/** hg's routes in a host (protocol 104), as "DST via GATEWAY dev DEV", sorted. */
const hgRoutes = (netns: string) =>
  (ipJson(netns, ["route", "show", "proto", "104"]) as Route[])
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();

/** The lab's own routes in a host: neither the kernel's nor hg's. */
const labRoutes = (netns: string) =>
  (ipJson(netns, ["route", "show"]) as Route[]).filter((r) => r.protocol === undefined)
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`);

/** The bridge each underlay port `ul-hN` is on, by port. */
const ports = (lab: string) =>
  Object.fromEntries(
    (ipJson(`${lab}-ul`, ["link", "show"]) as Link[]).filter((l) => l.ifname.startsWith("ul-h"))
      .map((l) => [l.ifname, l.master]),
  );

/** A container's address. */
const addressOf = (container: string) =>
  (ipJson(container, ["-4", "addr", "show", "eth0"]) as Addr[])[0].addr_info[0].local;

/** The leases in the lab's etcd, read from one of its hosts: node → [subnet, public address]. */
function leases(host: string): Record<string, [string, string]> {
  const r = hgIn(host, ["--json", "subnet", "ls", "--store", "etcd://10.0.12.2:2379"]);
  assert.equal(r.code, 0, r.stderr);
  const { leases } = JSON.parse(r.stdout) as {
    leases: { node: string; subnet: string; publicIp: string }[];
  };
  return Object.fromEntries(leases.map((l) => [l.node, [l.subnet, l.publicIp]]));
}

const agentPid = (lab: string, host: string) =>
  Number(readFileSync(`/run/hg/lab-${lab}/${host}.agent.pid`, "utf8"));
const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");

describe("lab on two segments (e2e, root)", () => {
  it("host-gw: the router joins the underlays, routes stay within a segment; move-node moves a host", async () => {
    await withLab(
      4,
      async (lab) => {
        const [h1, h2, h3, h4] = [1, 2, 3, 4].map((i) => `${lab}-h${i}`);
        const ul = `${lab}-ul`;

        // The underlay namespace: a bridge per segment with its own MAC and the router's address,
        // forwarding on inside it.
        const links = ipJson(ul, ["-d", "link", "show", "type", "bridge"]) as Link[];
        assert.deepEqual(links.map((l) => [l.ifname, l.address]).sort(), [
          ["ul0", "02:68:67:00:0c:02"],
          ["ul1", "02:68:67:00:14:02"],
        ]);
        const v4 = (dev: string) =>
          (ipJson(ul, ["-4", "addr", "show", "dev", dev]) as Addr[])
            .flatMap((a) => a.addr_info.map((i) => `${i.local}/${i.prefixlen}`));
        assert.deepEqual([v4("ul0"), v4("ul1")], [["10.0.12.2/22"], ["10.0.20.2/22"]]);
        const forwarding = run("nsenter", [
          `--net=/run/netns/${ul}`,
          "cat",
          "/proc/sys/net/ipv4/ip_forward",
        ]);
        assert.equal(forwarding.stdout.trim(), "1", "the underlay namespace routes");

        // Host N on segment (N-1) mod 2, at host 10+N of it, routing the other segment via .2.
        assert.deepEqual(ports(lab), {
          "ul-h1": "ul0",
          "ul-h2": "ul1",
          "ul-h3": "ul0",
          "ul-h4": "ul1",
        });
        assert.deepEqual([h1, h2, h3, h4].map(eth0), [
          ["10.0.12.11/22"],
          ["10.0.20.12/22"],
          ["10.0.12.13/22"],
          ["10.0.20.14/22"],
        ]);
        assert.deepEqual(labRoutes(h1), ["10.0.20.0/22 via 10.0.12.2 dev eth0"]);
        assert.deepEqual(labRoutes(h2), ["10.0.12.0/22 via 10.0.20.2 dev eth0"]);

        // Public address to public address across the router, and the registry from both sides.
        assert.ok(answers(h1, "10.0.20.12"), "h1 reaches h2 across the router");
        assert.ok(answers(h4, "10.0.12.13"), "h4 reaches h3 across the router");
        assert.ok(answers(h2, "10.0.12.2"), "h2 reaches the registry's address on segment 0");

        // host-gw: every host routes to the hosts of its own segment only...
        const subnet = Object.fromEntries([h1, h2, h3, h4].map((h) => [h, bridgeSubnetOf(h)]));
        assert.deepEqual(hgRoutes(h1), [`${subnet[h3]} via 10.0.12.13 dev eth0`]);
        assert.deepEqual(hgRoutes(h2), [`${subnet[h4]} via 10.0.20.14 dev eth0`]);
        assert.deepEqual(hgRoutes(h3), [`${subnet[h1]} via 10.0.12.11 dev eth0`]);
        assert.deepEqual(hgRoutes(h4), [`${subnet[h2]} via 10.0.20.12 dev eth0`]);
        // ...and refuses the others' leases as off-link, in words.
        const log = readFileSync(`/run/hg/lab-${lab}/${h1}.agent.log`, "utf8");
        assert.match(
          log,
          new RegExp(
            `refused lease ${subnet[h2].replace("/", "-").replaceAll(".", "\\.")}: ` +
              "gateway 10\\.0\\.20\\.12 is not on a directly connected network",
          ),
        );
        const c = (h: string) => addressOf(`${h}-c1`);
        assert.ok(answers(`${h1}-c1`, c(h3)), "containers on segment 0 reach each other");
        assert.ok(answers(`${h4}-c1`, c(h2)), "containers on segment 1 reach each other");
        assert.ok(!pings(`${h1}-c1`, c(h2)), "host-gw does not cross segments");

        // lab status: each host's segment; pairs across segments off-link, not failures.
        const status = hg(["lab", "status", "--name", lab, "--json"]);
        assert.equal(status.code, 0, status.stderr);
        const s = JSON.parse(status.stdout);
        assert.equal(s.segments, 2);
        assert.equal(s.backend, "host-gw");
        assert.deepEqual(s.hosts.map((h: { segment: number }) => h.segment), [0, 1, 0, 1]);
        assert.equal(s.reachability.length, 12);
        const segmentOf = Object.fromEntries(
          s.hosts.map((h: { netns: string; segment: number }) => [`${h.netns}-c1`, h.segment]),
        );
        for (const r of s.reachability) {
          const across = segmentOf[r.from] !== segmentOf[r.to];
          assert.equal(r.ok, !across, `${r.from} -> ${r.to}`);
          assert.equal(r.offLink === true, across, `${r.from} -> ${r.to}`);
        }
        const table = hg(["lab", "status", "--name", lab]);
        assert.equal(table.code, 0, table.stderr);
        assert.match(table.stdout, /^HOST +SEGMENT +SUBNET/);
        assert.match(table.stdout, /no route \(off-link: host-gw\)/);

        // A dry run of a move, bad hosts and segments: nothing changes.
        const before = [h1, h3, ul].map(netState);
        const leasesBefore = leases(h3);
        const dry = hg(["--dry-run", "lab", "move-node", "3", "--segment", "1", "--name", lab]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(dry.stdout, new RegExp(`^ip -n ${ul} link set ul-h3 master ul1$`, "m"));
        assert.match(
          dry.stdout,
          new RegExp(`^ip -n ${h3} addr add 10\\.0\\.20\\.13/22 dev eth0$`, "m"),
        );
        assertOneLine(
          hg(["lab", "move-node", "9", "--segment", "1", "--name", lab]),
          2,
          new RegExp(`lab ${lab} has no host "${lab}-h9"`),
        );
        assertOneLine(
          hg(["lab", "move-node", h1, "--segment", "2", "--name", lab]),
          2,
          new RegExp(`--segment 2 is not a segment of lab ${lab}: expected 0-1`),
        );
        assertOneLine(
          hg(["lab", "up", "--nodes", "4", "--name", lab, "--segments", "3"]),
          1,
          new RegExp(`lab ${lab} has 2 segments, not 3`),
        );
        assert.deepEqual([h1, h3, ul].map(netState), before);
        assert.deepEqual(leases(h3), leasesBefore);

        // h1 moves to segment 1: port, address, routes to segment 0 through 10.0.20.2.
        const pidBefore = agentPid(lab, h1);
        const move = hg(["lab", "move-node", "1", "--segment", "1", "--name", lab]);
        assert.equal(move.code, 0, move.stderr);
        assert.equal(move.stdout, `moved ${h1} to segment 1 (10.0.20.11)\n`);
        assert.equal(ports(lab)["ul-h1"], "ul1");
        assert.deepEqual(eth0(h1), ["10.0.20.11/22"]);
        assert.deepEqual(labRoutes(h1), ["10.0.12.0/22 via 10.0.20.2 dev eth0"]);
        assert.ok(answers(h1, "10.0.12.13"), "h1 reaches h3 across the router now");

        // Its agent was started again with its new address; its lease kept its subnet and now
        // carries that address.
        const pid = agentPid(lab, h1);
        assert.notEqual(pid, pidBefore);
        const argv = argvOf(pid);
        assert.equal(argv[argv.indexOf("--public-ip") + 1], "10.0.20.11");
        assert.deepEqual(leases(h3)[h1], [subnet[h1], "10.0.20.11"]);

        // The hosts route the way host-gw can: h1 with segment 1, h3 alone on segment 0.
        assert.deepEqual(
          hgRoutes(h1),
          [
            `${subnet[h2]} via 10.0.20.12 dev eth0`,
            `${subnet[h4]} via 10.0.20.14 dev eth0`,
          ].sort(),
        );
        assert.ok(hgRoutes(h2).includes(`${subnet[h1]} via 10.0.20.11 dev eth0`));
        assert.ok(hgRoutes(h4).includes(`${subnet[h1]} via 10.0.20.11 dev eth0`));
        await within(10_000, () => hgRoutes(h3).length === 0, "h3's agent drops its route to h1");
        assert.ok(answers(`${h1}-c1`, c(h2)), "h1's container reaches h2's");
        assert.ok(answers(`${h4}-c1`, c(h1)), "h4's container reaches h1's");
        assert.ok(!pings(`${h3}-c1`, c(h1)), "h3 has no route to h1 any more");

        // Moving it there again changes nothing.
        const again = hg(["lab", "move-node", h1, "--segment", "1", "--name", lab]);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout, `nothing to do: ${h1} is on segment 1 already\n`);
        assert.equal(agentPid(lab, h1), pid);
      },
      "etcd",
      true,
      ["--segments", "2", "--backend", "host-gw"],
    );
  });
});
