/**
 * Labs of several underlay segments (`lab up --segments N --backend B`, `lab move-node`), pure:
 * the segments' prefixes, bridges and router addresses, which host goes where, the plumbing
 * (bridges, uplinks, routes between segments), what each kind of lab runs in its hosts, the
 * shape a lab keeps, the move of a host to another segment, which routes a host must have and
 * which pings may fail. Observations are built by hand, the underlay's links are captured from
 * a real lab (3 hosts, 2 segments, h3 moved to segment 1).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { HgError, InputError } from "../../../lib/errors.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import { type HostRouting, missingRoutes } from "../../../lib/lab/convergence.ts";
import { hostNumbers, parseHostNumbers } from "../../../lib/lab/host_numbers.ts";
import {
  type LabObservation,
  labShape,
  recordedBackend,
  underlaySegments,
} from "../../../lib/lab/observe.ts";
import {
  type LabPlan,
  type LabStage,
  planAddNode,
  planLabUp,
  planMoveNode,
  planStartAgent,
} from "../../../lib/lab/plan.ts";
import {
  planPlumbing,
  planUplinkMove,
  segmentBridgeMac,
  UNDERLAY_BRIDGE_MAC,
} from "../../../lib/lab/plumbing.ts";
import { offLink } from "../../../lib/lab/reach.ts";
import { renderLabPlan } from "../../../lib/lab/render.ts";
import {
  defaultSegment,
  labHost,
  labSegment,
  labTopology,
  routable,
  validateSegments,
  withHosts,
} from "../../../lib/lab/topology.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { vtepMac } from "../../../lib/vxlan/vtep.ts";

const DIR = `${process.env.HG_RUN_DIR ?? "/run/hg"}/lab-x`;

/**
 * A lab of hosts 1..`n` that is up, on `segments` segments (hosts where `placement` says, else
 * on their default segment), hosts.json recording `backend`.
 */
function upLab(
  n: number,
  segments: number,
  backend: "host-gw" | "vxlan",
  over: Partial<LabObservation> = {},
  moved: ReadonlyMap<number, number> = new Map(),
): LabObservation {
  const hosts = Array.from({ length: n }, (_, i) => `x-h${i + 1}`);
  const numbers = hostNumbers(n, [], backend);
  return {
    name: "x",
    namespaces: [...hosts.map((h) => `${h}-c1`), ...hosts, "x-ul"],
    dirEntries: ["hosts.json"],
    hostsJson: JSON.stringify(numbers),
    numbers,
    etcdAnswers: false,
    agents: new Map(),
    segments,
    placement: new Map(
      hosts.map((_, i) => [i + 1, moved.get(i + 1) ?? defaultSegment(i + 1, segments)]),
    ),
    ...over,
  };
}

/** Nothing there. */
const nothing: LabObservation = {
  name: "x",
  namespaces: [],
  etcdAnswers: false,
  agents: new Map(),
};

const kinds = (plan: LabPlan) => plan.map((s) => s.kind);
const hgLines = (plan: LabPlan) =>
  plan.filter((s) => s.kind === "hg").flatMap((s) => renderLabPlan([s]));
const address = (host: { address: Parameters<typeof formatAddress>[0] }) =>
  formatAddress(host.address);

describe("segments and hosts", () => {
  it("segment k is ul{k} with 10.0.(12+8k).0/22, the underlay namespace at host 2 of it", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((k) => {
        const s = labSegment(k);
        return [s.bridge, formatPrefix(s.prefix), formatAddress(s.router)];
      }),
      [
        ["ul0", "10.0.12.0/22", "10.0.12.2"],
        ["ul1", "10.0.20.0/22", "10.0.20.2"],
        ["ul2", "10.0.28.0/22", "10.0.28.2"],
        ["ul3", "10.0.36.0/22", "10.0.36.2"],
      ],
    );
    assert.throws(() => labSegment(4), InputError);
    assert.equal(segmentBridgeMac(0), UNDERLAY_BRIDGE_MAC);
    assert.deepEqual([1, 2, 3].map(segmentBridgeMac), [
      "02:68:67:00:14:02",
      "02:68:67:00:1c:02",
      "02:68:67:00:24:02",
    ]);
  });

  it("host N goes on segment (N-1) mod S at host 10+N of its prefix; the registry stays on 10.0.12.2", () => {
    const lab = labTopology("x", 5, { segments: 2 });
    assert.deepEqual(lab.hosts.map((h) => [h.segment, address(h)]), [
      [0, "10.0.12.11"],
      [1, "10.0.20.12"],
      [0, "10.0.12.13"],
      [1, "10.0.20.14"],
      [0, "10.0.12.15"],
    ]);
    assert.equal(formatAddress(lab.registryAddress), "10.0.12.2");
    assert.deepEqual(
      labTopology("x", 4, { segments: 3 }).hosts.map((h) => address(h)),
      ["10.0.12.11", "10.0.20.12", "10.0.28.13", "10.0.12.14"],
    );
    // Subnets and names do not depend on the segment.
    assert.deepEqual(labHost("x", 2, 1).subnet, labHost("x", 2).subnet);
    assert.equal(address(labHost("x", 2, 1)), "10.0.20.12");
  });

  it("one segment is the lab as it always was: host-gw, every host on 10.0.12.0/22", () => {
    const lab = labTopology("x", 3);
    assert.equal(lab.segments.length, 1);
    assert.equal(lab.backend, "host-gw");
    assert.deepEqual(lab.hosts.map((h) => address(h)), ["10.0.12.11", "10.0.12.12", "10.0.12.13"]);
  });

  it("the backend defaults to vxlan across segments; host-gw may be asked for", () => {
    assert.equal(labTopology("x", 2, { segments: 2 }).backend, "vxlan");
    assert.equal(labTopology("x", 2, { segments: 2, backend: "host-gw" }).backend, "host-gw");
    assert.equal(labTopology("x", 2, { backend: "vxlan" }).backend, "vxlan");
  });

  it("1-4 segments; more or fewer is bad input", () => {
    assert.equal(validateSegments(4), 4);
    for (const bad of [0, 5, 1.5, -1]) {
      assert.throws(
        () => labTopology("x", 2, { segments: bad }),
        (e) => e instanceof InputError && e.message.includes(`--segments ${bad} is not valid`),
      );
    }
    // More segments than hosts is fine: the others are there for add-node and move-node.
    assert.deepEqual(labTopology("x", 1, { segments: 2 }).segments.map((s) => s.bridge), [
      "ul0",
      "ul1",
    ]);
  });

  it("hosts go where the placement says, else on their default segment", () => {
    const lab = withHosts(labTopology("x", 1, { segments: 2 }), [1, 2, 3], new Map([[1, 1]]));
    assert.deepEqual(lab.hosts.map((h) => [h.netns, h.segment]), [
      ["x-h1", 1],
      ["x-h2", 1],
      ["x-h3", 0],
    ]);
    assert.ok(routable(lab, lab.hosts[0], lab.hosts[1]));
    assert.ok(!routable({ ...lab, backend: "host-gw" }, lab.hosts[0], lab.hosts[2]));
    assert.ok(routable({ ...lab, backend: "vxlan" }, lab.hosts[0], lab.hosts[2]));
  });
});

describe("plumbing of segments", () => {
  it("one bridge per segment with its router address, each host on its own, routes to the others", () => {
    const lines = renderPlan(planPlumbing(labTopology("x", 2, { segments: 2 }), new Set()));
    assert.deepEqual(lines, [
      "ip netns add x-ul",
      "ip -n x-ul link add ul0 address 02:68:67:00:0c:02 type bridge",
      "ip -n x-ul addr add 10.0.12.2/22 dev ul0",
      "ip -n x-ul link set ul0 up",
      "ip -n x-ul link add ul1 address 02:68:67:00:14:02 type bridge",
      "ip -n x-ul addr add 10.0.20.2/22 dev ul1",
      "ip -n x-ul link set ul1 up",
      "ip -n x-ul link set lo up",
      "ip netns add x-h1",
      "ip -n x-ul link add ul-h1 type veth peer name eth0 netns x-h1",
      "ip -n x-ul link set ul-h1 master ul0 up",
      "ip -n x-h1 addr add 10.0.12.11/22 dev eth0",
      "ip -n x-h1 link set lo up",
      "ip -n x-h1 link set eth0 up",
      "ip -n x-h1 route add 10.0.20.0/22 via 10.0.12.2 dev eth0",
      "ip netns add x-h2",
      "ip -n x-ul link add ul-h2 type veth peer name eth0 netns x-h2",
      "ip -n x-ul link set ul-h2 master ul1 up",
      "ip -n x-h2 addr add 10.0.20.12/22 dev eth0",
      "ip -n x-h2 link set lo up",
      "ip -n x-h2 link set eth0 up",
      "ip -n x-h2 route add 10.0.12.0/22 via 10.0.20.2 dev eth0",
    ]);
    const three = renderPlan(planPlumbing(labTopology("x", 1, { segments: 3 }), new Set()));
    assert.deepEqual(three.filter((l) => l.includes("route")), [
      "ip -n x-h1 route add 10.0.20.0/22 via 10.0.12.2 dev eth0",
      "ip -n x-h1 route add 10.0.28.0/22 via 10.0.12.2 dev eth0",
    ]);
  });

  it("one segment: the plumbing of old, no route of the lab's own in the hosts", () => {
    const lines = renderPlan(planPlumbing(labTopology("x", 2), new Set()));
    assert.equal(lines.length, 5 + 2 * 6);
    assert.ok(!lines.some((l) => l.includes("route") || l.includes("ul1")), lines.join("\n"));
  });

  it("a move: the port onto the other bridge, the address swapped, routes through the new router", () => {
    const lab = labTopology("x", 2, { segments: 3 });
    const moved = withHosts(lab, [1], new Map([[1, 2]])).hosts[0];
    assert.deepEqual(renderPlan(planUplinkMove(lab, lab.hosts[0], moved)), [
      "ip -n x-ul link set ul-h1 master ul2",
      "ip -n x-h1 addr del 10.0.12.11/22 dev eth0",
      "ip -n x-h1 addr add 10.0.28.11/22 dev eth0",
      "ip -n x-h1 route replace 10.0.12.0/22 via 10.0.28.2 dev eth0",
      "ip -n x-h1 route replace 10.0.20.0/22 via 10.0.28.2 dev eth0",
    ]);
  });
});

describe("what a lab of several segments is, observed", () => {
  const links = parseLinks(
    readFileSync(new URL("./fixtures/underlay_links.json", import.meta.url), "utf8"),
  );

  it("its bridges count its segments; a host is where its port is", () => {
    const { segments, placement } = underlaySegments(links);
    assert.equal(segments, 2);
    assert.deepEqual([...placement].sort(), [[1, 0], [2, 1], [3, 1]]);
  });

  it("the shape lab up builds: asked, else the lab's, else one segment of host-gw", () => {
    const v4 = { family: "ipv4" };
    assert.deepEqual(labShape(nothing), { segments: 1, backend: "host-gw", ...v4 });
    assert.deepEqual(labShape(nothing, { segments: 3 }), { segments: 3, backend: "vxlan", ...v4 });
    const lab = upLab(2, 2, "host-gw");
    assert.deepEqual(labShape(lab), { segments: 2, backend: "host-gw", ...v4 });
    assert.deepEqual(labShape(upLab(2, 2, "vxlan")), { segments: 2, backend: "vxlan", ...v4 });
    assert.deepEqual(labShape(lab, { backend: "vxlan" }), {
      segments: 2,
      backend: "vxlan",
      ...v4,
    });
    // A lab whose hosts.json holds no backend (made by an older hg) is host-gw.
    assert.equal(recordedBackend({ ...lab, numbers: { highest: 2, removed: [] } }), "host-gw");
    assert.equal(recordedBackend(nothing), undefined);
  });

  it("hosts.json holds the backend only when it is vxlan", () => {
    assert.equal(JSON.stringify(hostNumbers(2, [], "host-gw")), '{"highest":2,"removed":[]}');
    assert.equal(
      JSON.stringify(parseHostNumbers('{"highest":2,"removed":[1],"backend":"vxlan"}')),
      '{"highest":2,"removed":[1],"backend":"vxlan"}',
    );
    assert.equal(parseHostNumbers('{"highest":2,"removed":[],"backend":"udp"}'), undefined);
  });
});

describe("lab up on several segments", () => {
  it("without a registry, vxlan: setup with the backend, --vtep-mac for peers on other segments only", () => {
    const plan = planLabUp(nothing, labTopology("x", 3, { segments: 2 }));
    assert.deepEqual(kinds(plan), ["numbers", "ip", "forwarding", "hg"]);
    const lines = renderLabPlan(plan);
    assert.equal(lines[0], `write ${DIR}/hosts.json {"highest":3,"removed":[],"backend":"vxlan"}`);
    assert.ok(lines.includes("nsenter --net=/run/netns/x-ul sysctl -w net.ipv4.ip_forward=1"));
    assert.equal(vtepMac(parseAddress("10.0.20.12")), "0e:56:0a:00:14:0c");
    assert.deepEqual(hgLines(plan).filter((l) => l.startsWith("x-h1:")), [
      "x-h1: hg setup --subnet 1.1.1.0/24 --backend vxlan --public-ip 10.0.12.11",
      "x-h1: hg netns add x-h1-c1 --ip 1.1.1.2",
      "x-h1: hg peer add 1.1.2.0/24 --via 10.0.20.12 --vtep-mac 0e:56:0a:00:14:0c",
      "x-h1: hg peer add 1.1.3.0/24 --via 10.0.12.13",
    ]);
    assert.ok(
      hgLines(plan).includes(
        "x-h2: hg peer add 1.1.3.0/24 --via 10.0.12.13 --vtep-mac 0e:56:0a:00:0c:0d",
      ),
    );
  });

  it("without a registry, host-gw: peers on other segments are tried and expected to be refused", () => {
    const plan = planLabUp(nothing, labTopology("x", 3, { segments: 2, backend: "host-gw" }));
    const stage = plan.find((s) => s.kind === "hg") as Extract<LabStage, { kind: "hg" }>;
    const refused = stage.commands.filter((c) => c.refused !== undefined);
    assert.deepEqual(refused.map((c) => `${c.netns}: ${c.args.join(" ")}`), [
      "x-h1: peer add 1.1.2.0/24 --via 10.0.20.12",
      "x-h2: peer add 1.1.1.0/24 --via 10.0.12.11",
      "x-h2: peer add 1.1.3.0/24 --via 10.0.12.13",
      "x-h3: peer add 1.1.2.0/24 --via 10.0.20.12",
    ]);
    assert.ok(
      hgLines(plan).includes(
        "x-h1: hg peer add 1.1.2.0/24 --via 10.0.20.12  # expected to be refused: x-h2 is on " +
          "segment 1, not on-link: host-gw cannot reach it",
      ),
    );
    assert.ok(hgLines(plan).includes("x-h1: hg setup --subnet 1.1.1.0/24"), "no backend flag");
    assert.ok(!hgLines(plan).some((l) => l.includes("--vtep-mac")));
    assert.equal(renderLabPlan(plan)[0], `write ${DIR}/hosts.json {"highest":3,"removed":[]}`);
  });

  it("with a registry: the network config says vxlan with DirectRouting", () => {
    const url = "etcd://10.0.12.2:2379";
    const config = (segments: number) =>
      renderLabPlan(
        planLabUp(nothing, labTopology("x", 2, { segments }), { kind: "etcd", agents: true }),
      ).find((l) => l.includes("subnet config"));
    assert.equal(
      config(2),
      `x-h1: hg subnet config --store ${url} --network 1.1.0.0/16 --subnet-len 24 ` +
        "--backend vxlan --direct-routing",
    );
    assert.equal(
      config(1),
      `x-h1: hg subnet config --store ${url} --network 1.1.0.0/16 --subnet-len 24`,
    );
    const agents = planLabUp(nothing, labTopology("x", 2, { segments: 2 }), {
      kind: "etcd",
      agents: true,
    });
    const wait = agents.find((s) => s.kind === "wait-routes") as Extract<
      LabStage,
      { kind: "wait-routes" }
    >;
    assert.equal(wait.backend, "vxlan");
    assert.deepEqual(wait.others.map((h) => h.segment), [0, 1]);
    assert.ok(
      renderLabPlan(agents).some((l) => l.includes("hg agent") && l.includes("10.0.20.12")),
      "the agent of h2 publishes its address on segment 1",
    );
  });

  it("a lab that is up keeps its segments, backend and hosts' places", () => {
    const lab = upLab(2, 2, "vxlan", {}, new Map([[1, 1]]));
    const again = planLabUp(lab, labTopology("x", 2, { segments: 2 }));
    assert.deepEqual(kinds(again), ["hg"], "no forwarding again, nothing recorded again");
    assert.ok(
      hgLines(again).includes(
        "x-h1: hg setup --subnet 1.1.1.0/24 --backend vxlan --public-ip 10.0.20.11",
      ),
      "h1 was moved to segment 1: its address there",
    );
    assert.ok(hgLines(again).includes("x-h2: hg peer add 1.1.1.0/24 --via 10.0.20.11"));
    assert.throws(
      () => planLabUp(lab, labTopology("x", 2)),
      (e) =>
        e instanceof HgError && !(e instanceof InputError) &&
        /lab x has 2 segments, not 1: "hg lab down --name x" first/.test(e.message),
    );
    assert.throws(
      () => planLabUp(lab, labTopology("x", 2, { segments: 2, backend: "host-gw" })),
      /lab x uses the vxlan backend, not host-gw/,
    );
  });

  it("add-node and start-agent put the host where it is (a new one on its default segment)", () => {
    const registry = { kind: "etcd" as const, url: "etcd://10.0.12.2:2379", agents: true };
    const lab = upLab(3, 2, "vxlan", { registry }, new Map([[2, 0]]));
    const { host, plan } = planAddNode(lab);
    assert.equal(host, "x-h4");
    const lines = renderLabPlan(plan);
    assert.ok(lines.includes("ip -n x-ul link set ul-h4 master ul1 up"));
    assert.ok(lines.includes("ip -n x-h4 route add 10.0.12.0/22 via 10.0.20.2 dev eth0"));
    assert.ok(lines.some((l) => l.startsWith("x-h4: hg agent") && l.includes("10.0.20.14")));
    assert.ok(!kinds(plan).includes("forwarding"), "the underlay routes already");
    const start = renderLabPlan(planStartAgent(lab, "x-h2"));
    assert.match(start[0], /^x-h2: hg agent .* --public-ip 10\.0\.12\.12 /);
  });
});

describe("lab move-node", () => {
  it("without a registry, host-gw: the hosts it leaves remove its route, those it joins add it", () => {
    const lab = upLab(3, 2, "host-gw");
    const { host, plan } = planMoveNode(lab, "1", 1);
    assert.equal(address(host), "10.0.20.11");
    assert.equal(host.segment, 1);
    assert.deepEqual(renderLabPlan(plan), [
      "ip -n x-ul link set ul-h1 master ul1",
      "ip -n x-h1 addr del 10.0.12.11/22 dev eth0",
      "ip -n x-h1 addr add 10.0.20.11/22 dev eth0",
      "ip -n x-h1 route replace 10.0.12.0/22 via 10.0.20.2 dev eth0",
      "x-h1: hg peer add 1.1.2.0/24 --via 10.0.20.12",
      "x-h2: hg peer add 1.1.1.0/24 --via 10.0.20.11",
      "x-h3: hg peer rm 1.1.1.0/24",
    ]);
    // Its namespace names it as well as its number.
    assert.deepEqual(planMoveNode(lab, "x-h1", 1).plan, plan);
  });

  it("without a registry, more than 3 hosts: the peers file again with its new address, every host syncs", () => {
    const { plan } = planMoveNode(upLab(4, 2, "host-gw"), "1", 1);
    assert.deepEqual(kinds(plan), ["ip", "peers", "hg"]);
    const peers = plan.find((s) => s.kind === "peers")!;
    assert.ok(peers.kind === "peers");
    assert.equal(peers.path, `${DIR}/peers.json`);
    assert.deepEqual(
      peers.peers.leases.map((l) =>
        `${formatPrefix(l.subnets.subnet)} ${formatAddress(l.attrs.publicIp)}`
      ),
      [
        "1.1.1.0/24 10.0.20.11",
        "1.1.2.0/24 10.0.20.12",
        "1.1.3.0/24 10.0.12.13",
        "1.1.4.0/24 10.0.20.14",
      ],
    );
    assert.deepEqual(
      hgLines(plan),
      [1, 2, 3, 4].map((i) => `x-h${i}: hg peer sync --store ${DIR}/peers.json --node x-h${i}`),
    );
    // With VXLAN the host's VTEP sends from its new address first.
    const vxlan = hgLines(planMoveNode(upLab(4, 2, "vxlan"), "1", 1).plan);
    assert.equal(
      vxlan[0],
      "x-h1: hg setup --subnet 1.1.1.0/24 --backend vxlan --public-ip 10.0.20.11",
    );
    assert.equal(vxlan.length, 5);
  });

  it("without a registry, vxlan: setup again (the VTEP's address), every peer command again", () => {
    const lab = upLab(3, 2, "vxlan");
    const lines = hgLines(planMoveNode(lab, "x-h3", 1).plan);
    assert.deepEqual(lines, [
      "x-h3: hg setup --subnet 1.1.3.0/24 --backend vxlan --public-ip 10.0.20.13",
      "x-h3: hg peer add 1.1.1.0/24 --via 10.0.12.11 --vtep-mac 0e:56:0a:00:0c:0b",
      "x-h1: hg peer add 1.1.3.0/24 --via 10.0.20.13 --vtep-mac 0e:56:0a:00:14:0d",
      "x-h3: hg peer add 1.1.2.0/24 --via 10.0.20.12",
      "x-h2: hg peer add 1.1.3.0/24 --via 10.0.20.13",
    ]);
  });

  it("with a registry: setup --store gives its lease the new address, then every host syncs", () => {
    const registry = { kind: "file" as const, url: `${DIR}/subnets.json`, agents: false };
    const lines = hgLines(planMoveNode(upLab(2, 2, "vxlan", { registry }), "2", 0).plan);
    assert.deepEqual(lines, [
      `x-h2: hg setup --store ${DIR}/subnets.json --node x-h2 --public-ip 10.0.12.12 ` +
      `--subnet-file ${DIR}/x-h2.env`,
      `x-h1: hg peer sync --store ${DIR}/subnets.json --node x-h1`,
      `x-h2: hg peer sync --store ${DIR}/subnets.json --node x-h2`,
    ]);
  });

  it("with agents: the running agent is killed (keeping its lease) and started with the new address", () => {
    const registry = {
      kind: "etcd" as const,
      url: "etcd://10.0.12.2:2379",
      agents: true,
      agentTtl: 20,
    };
    const lab = upLab(3, 2, "host-gw", { registry, agents: new Map([["x-h2", 77]]) });
    const { plan, note } = planMoveNode(lab, "2", 0);
    assert.equal(note, undefined);
    assert.deepEqual(kinds(plan), ["ip", "kill-agent", "agents", "wait-sync", "wait-routes"]);
    const lines = renderLabPlan(plan);
    assert.ok(lines.includes(
      "x-h2: kill its agent (pid 77) with SIGKILL: its lease and routes stay",
    ));
    assert.ok(
      lines.some((l) =>
        l.startsWith(
          "x-h2: hg agent --store etcd://10.0.12.2:2379 --node x-h2 " +
            "--public-ip 10.0.12.12 ",
        ) && l.includes("--ttl 20 --release-on-exit")
      ),
      lines.join("\n"),
    );
    const wait = plan.at(-1) as Extract<LabStage, { kind: "wait-routes" }>;
    assert.equal(wait.backend, "host-gw");
    assert.deepEqual(wait.others.map((h) => [h.netns, h.segment]), [
      ["x-h1", 0],
      ["x-h2", 0],
      ["x-h3", 0],
    ]);

    // An agent that does not run: the host only moves, and is told how to register.
    const stopped = planMoveNode({ ...lab, agents: new Map() }, "2", 0);
    assert.deepEqual(kinds(stopped.plan), ["ip"]);
    assert.match(stopped.note ?? "", /"hg lab start-agent x-h2 --name x" registers/);
  });

  it("a host on that segment already: nothing to do", () => {
    const lab = upLab(2, 2, "vxlan", {}, new Map([[1, 1]]));
    const { host, plan } = planMoveNode(lab, "1", 1);
    assert.deepEqual(plan, []);
    assert.equal(address(host), "10.0.20.11");
  });

  it("a host or segment the lab does not have is bad input; so is a lab that is not there", () => {
    const lab = upLab(2, 2, "vxlan");
    const bad = (host: string, segment: number, message: RegExp) =>
      assert.throws(
        () => planMoveNode(lab, host, segment),
        (e) => e instanceof InputError && message.test(e.message),
      );
    bad("3", 0, /lab x has no host "x-h3": expected one of x-h1, x-h2/);
    bad("x-h9", 0, /no host "x-h9"/);
    bad("h1", 0, /no host "h1"/);
    bad("1", 2, /^--segment 2 is not a segment of lab x: expected 0-1$/);
    bad("1", -1, /--segment -1 is not a segment/);
    assert.throws(
      () => planMoveNode(upLab(2, 1, "host-gw"), "1", 1),
      /--segment 1 is not a segment of lab x: expected 0 \(it has one segment\)/,
    );
    assert.throws(
      () => planMoveNode(nothing, "1", 0),
      (e) => e instanceof InputError && /no lab named x/.test(e.message),
    );
  });
});

describe("routes and pings across segments", () => {
  const view = (n: number, segment: number, routes: string[]): HostRouting => ({
    netns: `h${n}`,
    address: `10.0.${12 + 8 * segment}.${10 + n}`,
    subnet: `1.1.${n}.0/24`,
    routes,
    segment,
  });

  it("host-gw: a host needs routes to the hosts of its own segment only", () => {
    const hosts = [view(1, 0, []), view(2, 1, []), view(3, 0, ["1.1.1.0/24 via 10.0.12.11"])];
    assert.deepEqual(missingRoutes(hosts[0], hosts, "host-gw"), [
      "h1 has no route 1.1.3.0/24 via 10.0.12.13 (to h3)",
    ]);
    assert.deepEqual(missingRoutes(hosts[1], hosts, "host-gw"), []);
    assert.deepEqual(missingRoutes(hosts[2], hosts, "host-gw"), []);
  });

  it("vxlan: directly on its segment, through the peer's VTEP (via the subnet's .0) across", () => {
    const hosts = [
      view(1, 0, ["1.1.2.0/24 via 1.1.2.0", "1.1.3.0/24 via 10.0.12.13"]),
      view(2, 1, ["1.1.1.0/24 via 10.0.12.11", "1.1.3.0/24 via 1.1.3.0"]),
      view(3, 0, ["1.1.1.0/24 via 1.1.1.0", "1.1.2.0/24 via 1.1.2.0"]),
    ];
    assert.deepEqual(missingRoutes(hosts[0], hosts, "vxlan"), []);
    assert.deepEqual(missingRoutes(hosts[1], hosts, "vxlan"), [
      "h2 has no route 1.1.1.0/24 via 1.1.1.0 (to h1)",
    ]);
    assert.deepEqual(missingRoutes(hosts[2], hosts, "vxlan"), [
      "h3 has no route 1.1.1.0/24 via 10.0.12.11 (to h1)",
    ]);
  });

  it("a failed ping is expected only between segments of a host-gw lab", () => {
    const a = { container: "a", address: parseAddress("1.1.1.2"), segment: 0 };
    const b = { container: "b", address: parseAddress("1.1.2.2"), segment: 1 };
    assert.ok(offLink(a, b, "host-gw"));
    assert.ok(!offLink(a, b, "vxlan"));
    assert.ok(!offLink(a, { ...b, segment: 0 }, "host-gw"));
    assert.ok(!offLink({ ...a, segment: undefined }, { ...b, segment: undefined }, "host-gw"));
  });
});
