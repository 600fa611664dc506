/**
 * The lab's planning of IPv6 (no namespaces made): the IPv6-only and dual-stack topologies
 * (addresses, subnets paired with the IPv4 ones, what each host publishes), the plumbing (DAD
 * off in every new namespace between its creation and its first link; uplinks and the
 * underlay bridge with an IPv6 address), the hg commands of labs without and with a registry
 * (a peer route per family; the registry's config with its IPv6 network), hosts.json's
 * families, the refusals (VXLAN, several segments, a lab of other families), the agents'
 * convergence over both families, and the reachability check's split by family.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HgError, InputError } from "../../../lib/errors.ts";
import { missingRoutes } from "../../../lib/lab/convergence.ts";
import { hostNumbers, parseHostNumbers } from "../../../lib/lab/host_numbers.ts";
import { type LabObservation, labShape } from "../../../lib/lab/observe.ts";
import { type LabPlan, planAddNode, planLabUp } from "../../../lib/lab/plan.ts";
import { byFamily } from "../../../lib/lab/reach.ts";
import { renderLabPlan } from "../../../lib/lab/render.ts";
import { labHost, labTopology } from "../../../lib/lab/topology.ts";
import { planUndo } from "../../../lib/lab/undo.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";

const DIR = `${process.env.HG_RUN_DIR ?? "/run/hg"}/lab-x`;
const NO_DAD = "sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0";

/** A lab as observed: nothing there unless said otherwise. */
function observed(over: Partial<LabObservation> = {}): LabObservation {
  return { name: "x", namespaces: [], etcdAnswers: false, agents: new Map(), ...over };
}

/** A lab of `n` hosts of `family` that is up, its records saying so. */
function upLab(n: number, family: "ipv6" | "dual-stack", over: Partial<LabObservation> = {}) {
  const hosts = Array.from({ length: n }, (_, i) => `x-h${i + 1}`);
  const numbers = hostNumbers(n, [], "host-gw", family);
  return observed({
    namespaces: [...hosts.map((h) => `${h}-c1`), ...hosts, "x-ul"],
    dirEntries: ["hosts.json", "registry.json"],
    hostsJson: JSON.stringify(numbers),
    numbers,
    ...over,
  });
}

const kinds = (plan: LabPlan) => plan.map((s) => s.kind);
const fileRegistry = { kind: "file" as const, url: `${DIR}/subnets.json`, agents: false };

describe("IPv6 lab topology", () => {
  it("IPv6-only: host N at fd00:12::1N with fd00:1:0:N::/64, published as its address", () => {
    const h = labHost("x", 3, 0, "ipv6");
    assert.equal(formatAddress(h.ipv6Address!), "fd00:12::13");
    assert.equal(formatAddress(h.publicIp), "fd00:12::13");
    assert.equal(formatPrefix(h.subnet), "fd00:1:0:3::/64");
    assert.equal(h.ipv6Subnet, undefined, "one family: the IPv6 subnet is the primary one");
    // The underlay keeps its IPv4 address (the lab's etcd listens on one).
    assert.equal(formatAddress(h.address), "10.0.12.13");
    // Host 12's IPv6 address has the same digits as its IPv4 one; its subnet number is hex.
    assert.equal(formatAddress(labHost("x", 12, 0, "ipv6").ipv6Address!), "fd00:12::22");
    assert.equal(formatPrefix(labHost("x", 12, 0, "ipv6").subnet), "fd00:1:0:c::/64");
  });

  it("dual-stack: 1.1.N.0/24 paired with fd00:1:0:N::/64, published by its IPv4 address", () => {
    const h = labHost("x", 2, 0, "dual-stack");
    assert.equal(formatPrefix(h.subnet), "1.1.2.0/24");
    assert.equal(formatPrefix(h.ipv6Subnet!), "fd00:1:0:2::/64");
    assert.equal(formatAddress(h.publicIp), "10.0.12.12");
    assert.equal(formatAddress(h.ipv6Address!), "fd00:12::12");
    const lab = labTopology("x", 2, { family: "dual-stack" });
    assert.equal(formatPrefix(lab.network), "1.1.0.0/16");
    assert.equal(formatPrefix(lab.ipv6Network!), "fd00:1::/56");
    assert.equal(formatPrefix(labTopology("x", 2, { family: "ipv6" }).network), "fd00:1::/56");
  });

  it("an IPv4 lab is as it was: no IPv6 address anywhere", () => {
    const lab = labTopology("x", 2);
    assert.equal(lab.family, "ipv4");
    assert.equal(lab.ipv6Network, undefined);
    assert.ok(lab.hosts.every((h) => h.ipv6Address === undefined && h.ipv6Subnet === undefined));
    assert.ok(!renderLabPlan(planLabUp(observed(), lab)).some((l) => /fd00|accept_dad/.test(l)));
  });

  it("refuses VXLAN and several segments, one reason each (exit 2)", () => {
    assert.throws(
      () => labTopology("x", 2, { family: "ipv6", segments: 2 }),
      (e) =>
        e instanceof InputError &&
        e.message.startsWith("--ipv6 needs one segment, not --segments 2"),
    );
    assert.throws(
      () => labTopology("x", 2, { family: "dual-stack", backend: "vxlan" }),
      (e) =>
        e instanceof InputError &&
        /^--dual-stack needs the host-gw backend, not --backend vxlan: .*IPv4 only$/.test(
          e.message,
        ),
    );
    // Two segments default to VXLAN: the segments are named, as they are what was asked.
    assert.throws(
      () => labTopology("x", 2, { family: "dual-stack", segments: 3 }),
      /--dual-stack needs one segment, not --segments 3/,
    );
  });
});

describe("IPv6 lab plans", () => {
  it("DAD goes off in each new namespace after it is made and before its first link", () => {
    const plan = planLabUp(observed(), labTopology("x", 2, { family: "ipv6" }));
    assert.deepEqual(kinds(plan), ["numbers", "ip", "no-dad", "ip", "hg"]);
    const lines = renderLabPlan(plan);
    const at = (line: string) => {
      const i = lines.indexOf(line);
      assert.ok(i >= 0, `${line} in\n${lines.join("\n")}`);
      return i;
    };
    for (const ns of ["x-ul", "x-h1", "x-h2"]) {
      const off = at(`nsenter --net=/run/netns/${ns} ${NO_DAD}`);
      assert.ok(at(`ip netns add ${ns}`) < off);
      // Every link made in (or into) the namespace comes after.
      lines.forEach((line, i) => {
        if (line.startsWith(`ip -n ${ns} link add`) || line.endsWith(`netns ${ns}`)) {
          assert.ok(i > off, `${line} after DAD went off in ${ns}`);
        }
      });
    }
    assert.ok(at("ip -n x-ul addr add fd00:12::2/64 dev ul0") > 0);
    assert.ok(at("ip -n x-h1 addr add fd00:12::11/64 dev eth0") > 0);
    assert.ok(at("ip -n x-h1 addr add 10.0.12.11/22 dev eth0") > 0, "IPv4 underlay kept");
  });

  it("IPv6-only without a registry: setup, container and peer routes of IPv6 alone", () => {
    const lines = renderLabPlan(planLabUp(observed(), labTopology("x", 2, { family: "ipv6" })));
    for (
      const line of [
        `write ${DIR}/hosts.json {"highest":2,"removed":[],"family":"ipv6"}`,
        "x-h1: hg setup --subnet fd00:1:0:1::/64",
        "x-h1: hg netns add x-h1-c1 --ip fd00:1:0:1::2",
        "x-h1: hg peer add fd00:1:0:2::/64 --via fd00:12::12",
        "x-h2: hg peer add fd00:1:0:1::/64 --via fd00:12::11",
      ]
    ) assert.ok(lines.includes(line), `${line} in\n${lines.join("\n")}`);
    assert.equal(lines.filter((l) => l.includes("peer add")).length, 2);
  });

  it("dual-stack without a registry: both subnets, a peer route per family", () => {
    const lines = renderLabPlan(
      planLabUp(observed(), labTopology("x", 2, { family: "dual-stack" })),
    );
    for (
      const line of [
        "x-h1: hg setup --subnet 1.1.1.0/24 --ipv6-subnet fd00:1:0:1::/64",
        "x-h1: hg netns add x-h1-c1 --ip 1.1.1.2",
        "x-h1: hg peer add 1.1.2.0/24 --via 10.0.12.12",
        "x-h1: hg peer add fd00:1:0:2::/64 --via fd00:12::12",
        "x-h2: hg peer add fd00:1:0:1::/64 --via fd00:12::11",
      ]
    ) assert.ok(lines.includes(line), `${line} in\n${lines.join("\n")}`);
    assert.equal(lines.filter((l) => l.includes("peer add")).length, 4);
  });

  it("a registry gets the IPv6 network; hosts publish their primary address", () => {
    const v6 = renderLabPlan(
      planLabUp(observed(), labTopology("x", 2, { family: "ipv6" }), { kind: "file" }),
    );
    assert.ok(v6.includes(
      `x-h1: hg subnet config --store ${DIR}/subnets.json --network fd00:1::/56 --subnet-len 64`,
    ));
    assert.ok(
      v6.some((l) => l.startsWith("x-h2: hg setup --store") && /--public-ip fd00:12::12 /.test(l)),
    );
    const dual = renderLabPlan(
      planLabUp(observed(), labTopology("x", 2, { family: "dual-stack" }), {
        kind: "etcd",
        agents: true,
      }),
    );
    assert.ok(dual.includes(
      "x-h1: hg subnet config --store etcd://10.0.12.2:2379 --network 1.1.0.0/16 " +
        "--subnet-len 24 --ipv6-network fd00:1::/56 --ipv6-subnet-len 64",
    ));
    // The IPv6 address is found beside the IPv4 one on the uplink, as on a real host.
    const agent = dual.find((l) => l.startsWith("x-h1: hg agent"))!;
    assert.match(agent, /--public-ip 10\.0\.12\.11 /);
    assert.doesNotMatch(agent, /--public-ipv6/);
  });

  it("a lab that is up: no plumbing, no DAD stage; hosts.json holds its families", () => {
    const lab = upLab(2, "dual-stack", { registry: fileRegistry });
    const plan = planLabUp(lab, labTopology("x", 2, labShape(lab, {})), { kind: "file" });
    assert.ok(!kinds(plan).includes("ip") && !kinds(plan).includes("no-dad"), kinds(plan).join());
    assert.ok(!kinds(plan).includes("numbers"), "the records hold the families already");
    assert.equal(labShape(lab).family, "dual-stack", "lab up without a flag keeps them");
    assert.deepEqual(parseHostNumbers('{"highest":2,"removed":[],"family":"dual-stack"}'), {
      highest: 2,
      removed: [],
      family: "dual-stack",
    });
    assert.equal(parseHostNumbers('{"highest":2,"removed":[],"family":"ipv5"}'), undefined);
    assert.equal(
      JSON.stringify(hostNumbers(2, [], "host-gw", "ipv4")),
      '{"highest":2,"removed":[]}',
    );
  });

  it("a lab of other families is refused, naming both and the way out", () => {
    assert.throws(
      () => planLabUp(upLab(2, "dual-stack"), labTopology("x", 2, { family: "ipv6" })),
      (e) =>
        e instanceof HgError && !(e instanceof InputError) &&
        e.message ===
          'lab x is dual-stack, not IPv6-only: "hg lab down --name x" first to change it',
    );
    const v4 = observed({ ...upLab(2, "ipv6"), numbers: { highest: 2, removed: [] } });
    assert.throws(
      () => planLabUp(v4, labTopology("x", 2, { family: "dual-stack" })),
      /lab x is IPv4, not dual-stack/,
    );
  });

  it("add-node: the new host's namespace, DAD off in it, then its links; undo knows it", () => {
    const lab = upLab(2, "ipv6", { registry: fileRegistry });
    const { host, plan } = planAddNode(lab);
    assert.equal(host, "x-h3");
    assert.deepEqual(kinds(plan), ["numbers", "ip", "no-dad", "ip", "hg", "hg"]);
    const lines = renderLabPlan(plan);
    assert.ok(lines.includes(`nsenter --net=/run/netns/x-h3 ${NO_DAD}`));
    assert.ok(lines.includes("ip -n x-h3 addr add fd00:12::13/64 dev eth0"));
    assert.ok(lines.some((l) => /^x-h3: hg setup .*--public-ip fd00:12::13 /.test(l)));
    // A failed lab up takes back the namespaces of its split plumbing too.
    const fresh = planLabUp(observed(), labTopology("x", 2, { family: "ipv6" }));
    assert.deepEqual(planUndo(observed(), fresh).namespaces, [
      "x-h1-c1",
      "x-h2-c1",
      "x-h1",
      "x-h2",
      "x-ul",
    ]);
  });
});

describe("IPv6 convergence and reachability", () => {
  const h = (n: number, routes: string[], ipv6Subnet?: string) => ({
    netns: `h${n}`,
    address: `10.0.12.1${n}`,
    subnet: `1.1.${n}.0/24`,
    ipv6Address: `fd00:12::1${n}`,
    ipv6Subnet,
    routes,
  });

  it("a dual-stack host lacks each peer's IPv6 route through its IPv6 address", () => {
    const h1 = h(1, ["1.1.2.0/24 via 10.0.12.12"], "fd00:1:0:1::/64");
    const h2 = h(
      2,
      ["1.1.1.0/24 via 10.0.12.11", "fd00:1:0:1::/64 via fd00:12::11"],
      "fd00:1:0:2::/64",
    );
    assert.deepEqual(missingRoutes(h1, [h1, h2]), [
      "h1 has no route fd00:1:0:2::/64 via fd00:12::12 (to h2)",
    ]);
    assert.deepEqual(missingRoutes(h2, [h1, h2]), []);
    // Before its agent reports its IPv6 subnet, a dual-stack host is not done.
    assert.deepEqual(missingRoutes(h(3, []), [h(3, [])]), ["h3 has no IPv6 subnet yet"]);
  });

  it("an IPv6-only host's primary route is IPv6, through its IPv6 address", () => {
    const v6 = (n: number, routes: string[]) => ({
      netns: `h${n}`,
      address: `fd00:12::1${n}`,
      subnet: `fd00:1:0:${n}::/64`,
      routes,
    });
    assert.deepEqual(missingRoutes(v6(1, []), [v6(1, []), v6(2, [])]), [
      "h1 has no route fd00:1:0:2::/64 via fd00:12::12 (to h2)",
    ]);
    assert.deepEqual(
      missingRoutes(v6(1, ["fd00:1:0:2::/64 via fd00:12::12"]), [v6(1, []), v6(2, [])]),
      [],
    );
  });

  it("the pings go by family: a dual-stack container is pinged in each, never across", () => {
    const e = (container: string, address: string) => ({
      container,
      address: parseAddress(address),
    });
    const groups = byFamily([
      e("c1", "fd00:1:0:1::2"),
      e("c1", "1.1.1.2"),
      e("c2", "1.1.2.2"),
      e("c2", "fd00:1:0:2::2"),
    ]);
    assert.deepEqual(
      groups.map((g) => g.map((x) => `${x.container} ${formatAddress(x.address)}`)),
      [["c1 1.1.1.2", "c2 1.1.2.2"], ["c1 fd00:1:0:1::2", "c2 fd00:1:0:2::2"]],
    );
    assert.equal(byFamily([e("c1", "fd00:1:0:1::2")]).length, 1, "IPv6-only: one group");
  });
});
