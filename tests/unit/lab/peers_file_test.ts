/**
 * The peers file of a lab without a registry, and how a lab's hosts get their routes: one
 * `hg peer add` per peer up to 3 hosts, one `hg peer sync` from the peers file per host beyond.
 * The file is written through the file store to a temporary directory and read back as
 * `hg peer sync` reads it; what a host plans from it is planned over the captured lab host.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, describe, it } from "node:test";
import {
  labPeers,
  PEER_ADD_MAX_HOSTS,
  peersFileHolds,
  writePeersFile,
} from "../../../lib/lab/peers_file.ts";
import { type LabStage, planLabUp, staticHostStages } from "../../../lib/lab/plan.ts";
import type { LabObservation } from "../../../lib/lab/observe.ts";
import { labTopology, withHosts } from "../../../lib/lab/topology.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { describeBackend } from "../../../lib/store/config.ts";
import { openStore } from "../../../lib/store/open.ts";
import { capturedHost } from "../plan/fixture_state.ts";

const DIR = `${process.env.HG_RUN_DIR ?? "/run/hg"}/lab-x`;
const tmp = mkdtempSync(`${tmpdir()}/hg-peers-file-`);
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The hg command lines of stages, as `HOST: ARGS`. */
const commands = (stages: readonly LabStage[]) =>
  stages.flatMap((s) =>
    s.kind === "hg" ? s.commands.map((c) => `${c.netns}: ${c.args.join(" ")}`) : []
  );

/** Each lease of the file as "SUBNET[,IPV6SUBNET] ADDRESS[,IPV6ADDRESS] NODE [VTEP]". */
const leaseLines = (peers: ReturnType<typeof labPeers>) =>
  peers.leases.map(({ subnets, attrs }) =>
    [
      [subnets.subnet, subnets.ipv6Subnet].filter((p) => p !== undefined).map((p) =>
        formatPrefix(p!)
      )
        .join(","),
      [attrs.publicIp, attrs.publicIpv6].filter((a) => a !== undefined).map((a) =>
        formatAddress(a!)
      )
        .join(","),
      attrs.node,
      ...(attrs.vtep ? [attrs.vtep.mac] : []),
    ].join(" ")
  );

describe("the peers file's contents", () => {
  it("IPv4 host-gw: the network config of a registry lab, each host's subnet via its address", () => {
    const peers = labPeers(labTopology("x", 5));
    assert.equal(formatPrefix(peers.config.network), "1.1.0.0/16");
    assert.equal(peers.config.subnetLen, 24);
    assert.equal(describeBackend(peers.config.backend), "host-gw");
    assert.deepEqual(
      leaseLines(peers),
      [1, 2, 3, 4, 5].map((i) => `1.1.${i}.0/24 10.0.12.${10 + i} x-h${i}`),
    );
  });

  it("VXLAN on two segments: DirectRouting, each lease with its VTEP's MAC and its segment's address", () => {
    const peers = labPeers(labTopology("x", 4, { segments: 2, backend: "vxlan" }));
    assert.equal(describeBackend(peers.config.backend), "vxlan (VNI 1, port 8472, DirectRouting)");
    assert.deepEqual(leaseLines(peers), [
      "1.1.1.0/24 10.0.12.11 x-h1 0e:56:0a:00:0c:0b",
      "1.1.2.0/24 10.0.20.12 x-h2 0e:56:0a:00:14:0c",
      "1.1.3.0/24 10.0.12.13 x-h3 0e:56:0a:00:0c:0d",
      "1.1.4.0/24 10.0.20.14 x-h4 0e:56:0a:00:14:0e",
    ]);
  });

  it("dual-stack: both subnets and both addresses; IPv6-only: the IPv6 ones alone, /64", () => {
    const dual = labPeers(labTopology("x", 4, { family: "dual-stack" }));
    assert.equal(dual.config.ipv6?.subnetLen, 64);
    assert.equal(leaseLines(dual)[1], "1.1.2.0/24,fd00:1:0:2::/64 10.0.12.12,fd00:12::12 x-h2");
    const v6 = labPeers(labTopology("x", 4, { family: "ipv6" }));
    assert.equal(v6.config.subnetLen, 64);
    assert.equal(v6.config.ipv6, undefined);
    assert.equal(leaseLines(v6)[2], "fd00:1:0:3::/64 fd00:12::13 x-h3");
  });
});

describe("the peers file on disk", () => {
  it("reads back as a registry, and the captured host h1 plans its routes to the others from it", async () => {
    const path = `${tmp}/peers.json`;
    await writePeersFile(path, labPeers(labTopology("x", 4)));
    // Written again (a second lab up): replaced whole, the same leases.
    await writePeersFile(path, labPeers(labTopology("x", 4)));
    const { config, listing } = await openStore(path).readRegistry();
    assert.ok(config);
    assert.equal(listing.entries.length, 4);
    assert.ok(listing.entries.every((e) => "lease" in e && e.lease.expiresAt! > Date.now() + 1e11));
    // The captured host is h1 (cni0 1.1.1.1/24, eth0 10.0.12.11/22) with an hg route to
    // 1.1.2.0/24 via 10.0.12.7; its admin route to 1.1.3.0/24 is left out (hg would refuse).
    const host = capturedHost();
    const state = { ...host, routes: host.routes.filter((r) => r.gateway?.value !== 0x0a000c09n) };
    const sync = planPeerSync(state, config, listing.entries, { node: "x-h1", bridge: "cni0" });
    assert.deepEqual(sync.refused, []);
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104",
      "ip route replace 1.1.3.0/24 via 10.0.12.13 dev eth0 proto 104",
      "ip route replace 1.1.4.0/24 via 10.0.12.14 dev eth0 proto 104",
    ]);
  });

  it("a file that holds the lab's hosts is left alone; any other is written again", async () => {
    const path = `${tmp}/held.json`;
    const lab = labTopology("x", 4);
    await writePeersFile(path, labPeers(lab));
    const text = readFileSync(path, "utf8");
    const now = Date.now();
    assert.ok(peersFileHolds(text, labPeers(lab), now));
    assert.ok(!peersFileHolds(undefined, labPeers(lab), now), "no file");
    assert.ok(!peersFileHolds(text, labPeers(labTopology("x", 5)), now), "a host more");
    assert.ok(!peersFileHolds(text, labPeers(labTopology("x", 3)), now), "a host less");
    const moved = withHosts(lab, [1, 2, 3, 4], new Map([[2, 1]]));
    assert.ok(!peersFileHolds(text, labPeers(moved), now), "a host on another segment");
    const vxlan = labTopology("x", 4, { backend: "vxlan" });
    assert.ok(!peersFileHolds(text, labPeers(vxlan), now), "another backend");
    assert.ok(!peersFileHolds(text, labPeers(lab), now + 10 * 365 * 24 * 3600e3), "running out");
    assert.ok(!peersFileHolds("{}", labPeers(lab), now), "not hg's");
    assert.ok(!peersFileHolds("{", labPeers(lab), now), "not JSON");

    // lab up on a lab whose file holds its hosts: no peers stage, every host still syncs.
    const hosts = [1, 2, 3, 4].map((i) => `x-h${i}`);
    const numbers = { highest: 4, removed: [] };
    const obs: LabObservation = {
      name: "x",
      namespaces: [...hosts.map((h) => `${h}-c1`), ...hosts, "x-ul"],
      dirEntries: ["hosts.json", "peers.json"],
      hostsJson: JSON.stringify(numbers),
      numbers,
      peersJson: text,
      etcdAnswers: false,
      agents: new Map(),
    };
    const again = planLabUp(obs, lab);
    assert.deepEqual(again.map((s) => s.kind), ["hg"]);
    assert.equal(commands(again).filter((c) => c.includes(": peer sync ")).length, 4);
    assert.ok(planLabUp(obs, labTopology("x", 5)).some((s) => s.kind === "peers"));
  });
});

describe("how a lab without a registry routes its hosts", () => {
  it(`up to ${PEER_ADD_MAX_HOSTS} hosts: one hg peer add per peer, as an operator types them`, () => {
    const lab = labTopology("x", PEER_ADD_MAX_HOSTS);
    const stages = staticHostStages(lab, lab);
    assert.deepEqual(stages.map((s) => s.kind), ["hg"]);
    const peerAdds = commands(stages).filter((c) => c.includes(": peer add "));
    assert.equal(peerAdds.length, PEER_ADD_MAX_HOSTS * (PEER_ADD_MAX_HOSTS - 1));
    assert.ok(peerAdds.includes("x-h3: peer add 1.1.1.0/24 --via 10.0.12.11"));
  });

  it("beyond: the peers file, then per host setup, netns add and one peer sync (3 hg runs a host)", () => {
    for (const n of [PEER_ADD_MAX_HOSTS + 1, 25, 50]) {
      const lab = labTopology("x", n);
      const stages = staticHostStages(lab, lab);
      assert.deepEqual(stages.map((s) => s.kind), ["peers", "hg"]);
      const lines = commands(stages);
      assert.equal(lines.length, 3 * n, `${n} hosts`);
      assert.ok(!lines.some((c) => c.includes("peer add")));
      assert.deepEqual(lines.slice(0, 3), [
        "x-h1: setup --subnet 1.1.1.0/24",
        "x-h1: netns add x-h1-c1 --ip 1.1.1.2",
        `x-h1: peer sync --store ${DIR}/peers.json --node x-h1`,
      ]);
    }
  });

  it("a lab that grows syncs every host (the old ones learn the new); only the new ones are set up", () => {
    const lab = labTopology("x", 6);
    const stages = staticHostStages(lab, withHosts(lab, [6]));
    const peers = stages[0];
    assert.ok(peers.kind === "peers");
    assert.equal(peers.peers.leases.length, 6);
    const lines = commands(stages);
    assert.deepEqual(lines.filter((c) => c.includes(": setup ")), [
      "x-h6: setup --subnet 1.1.6.0/24",
    ]);
    assert.equal(lines.filter((c) => c.includes(": peer sync ")).length, 6);
  });

  it("lab up --nodes 2 on a lab of 5: the file still lists all 5 (a sync would drop the others' routes)", () => {
    const hosts = [1, 2, 3, 4, 5].map((i) => `x-h${i}`);
    const numbers = { highest: 5, removed: [] };
    const obs: LabObservation = {
      name: "x",
      namespaces: [...hosts.map((h) => `${h}-c1`), ...hosts, "x-ul"],
      dirEntries: ["hosts.json", "peers.json"],
      hostsJson: JSON.stringify(numbers),
      numbers,
      etcdAnswers: false,
      agents: new Map(),
    };
    const plan = planLabUp(obs, labTopology("x", 2));
    const peers = plan.find((s) => s.kind === "peers");
    assert.ok(peers?.kind === "peers");
    assert.equal(peers.peers.leases.length, 5);
    const lines = commands(plan);
    assert.equal(lines.filter((c) => c.includes(": setup ")).length, 2);
    assert.equal(lines.filter((c) => c.includes(": peer sync ")).length, 5);
    assert.ok(!plan.some((s) => s.kind === "ip"), "every namespace is there");
  });
});
