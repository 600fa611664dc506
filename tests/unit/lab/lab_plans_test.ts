/**
 * The lab's planners over observed labs (no namespaces made): what `lab up`, `add-node`,
 * `rm-node`, `start-agent` and `down` would do, as `--dry-run` prints it, and what a failed
 * `lab up` takes back (only what it made).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HgError, InputError } from "../../../lib/errors.ts";
import type { LabObservation } from "../../../lib/lab/observe.ts";
import {
  type LabPlan,
  planAddNode,
  planLabDown,
  planLabUp,
  planRemoveNode,
  planStartAgent,
} from "../../../lib/lab/plan.ts";
import { renderLabPlan } from "../../../lib/lab/render.ts";
import { labTopology } from "../../../lib/lab/topology.ts";
import { planUndo } from "../../../lib/lab/undo.ts";

const DIR = `${process.env.HG_RUN_DIR ?? "/run/hg"}/lab-x`;

/** A lab as observed: nothing there unless said otherwise. */
function observed(over: Partial<LabObservation> = {}): LabObservation {
  return { name: "x", namespaces: [], etcdAnswers: false, agents: new Map(), ...over };
}

/** A lab of `n` hosts that is up (each with its container), hosts.json matching. */
function upLab(n: number, over: Partial<LabObservation> = {}): LabObservation {
  const hosts = Array.from({ length: n }, (_, i) => `x-h${i + 1}`);
  const numbers = { highest: n, removed: [] };
  return observed({
    namespaces: [...hosts.map((h) => `${h}-c1`), ...hosts, "x-ul"],
    dirEntries: ["hosts.json"],
    hostsJson: JSON.stringify(numbers),
    numbers,
    ...over,
  });
}

const fileRegistry = { kind: "file" as const, url: `${DIR}/subnets.json`, agents: false };
const kinds = (plan: LabPlan) => plan.map((s) => s.kind);

describe("lab up plan", () => {
  it("a new lab: its numbers, every namespace, and hg's commands in each host", () => {
    const plan = planLabUp(observed(), labTopology("x", 2));
    assert.deepEqual(kinds(plan), ["numbers", "ip", "hg"]);
    const lines = renderLabPlan(plan);
    assert.equal(lines[0], `write ${DIR}/hosts.json {"highest":2,"removed":[]}`);
    for (
      const line of [
        "ip netns add x-ul",
        "ip -n x-ul link add ul0 address 02:68:67:00:0c:02 type bridge",
        "ip netns add x-h2",
        "ip -n x-ul link add ul-h2 type veth peer name eth0 netns x-h2",
        "x-h1: hg setup --subnet 1.1.1.0/24",
        "x-h1: hg netns add x-h1-c1 --ip 1.1.1.2",
        "x-h1: hg peer add 1.1.2.0/24 --via 10.0.12.12",
        "x-h2: hg peer add 1.1.1.0/24 --via 10.0.12.11",
      ]
    ) assert.ok(lines.includes(line), `${line} in ${lines.join("\n")}`);
  });

  it("a lab that is up: no namespace again, only the missing host, hg's commands again", () => {
    const again = planLabUp(upLab(2), labTopology("x", 2));
    assert.deepEqual(kinds(again), ["hg"], "nothing to record, nothing to plumb");
    const more = planLabUp(upLab(2), labTopology("x", 3));
    assert.deepEqual(
      renderLabPlan(more).filter((l) => l.startsWith("ip netns add")),
      ["ip netns add x-h3"],
    );
  });

  it("etcd of three members: started, recorded, waited for; a running one is kept", () => {
    const request = { kind: "etcd" as const, etcdMembers: 3 as const };
    const lines = renderLabPlan(planLabUp(observed(), labTopology("x", 2), request));
    const url = "etcd://10.0.12.2:2379,10.0.12.2:22379,10.0.12.2:32379";
    assert.equal(lines.filter((l) => l.startsWith("x-ul: start etcd member")).length, 3);
    assert.ok(lines.includes(`wait until etcd answers at ${url} (10 s at most)`));
    assert.ok(lines.includes(
      `x-h1: hg subnet config --store ${url} --network 1.1.0.0/16 --subnet-len 24`,
    ));
    assert.ok(lines.some((l) => l.startsWith(`x-h2: hg setup --store ${url} --node x-h2`)));
    assert.ok(lines.includes(`x-h1: hg peer sync --store ${url} --node x-h1`));

    const registry = { kind: "etcd" as const, url: "etcd://10.0.12.2:2379", etcdPids: [7] };
    const running = upLab(2, { registry, etcdAnswers: true });
    const kept = planLabUp(running, labTopology("x", 2), { kind: "etcd" });
    assert.ok(!kinds(kept).includes("registry"), "a running etcd is not started again");
    const dead = planLabUp({ ...running, etcdAnswers: false }, labTopology("x", 2), {
      kind: "etcd",
    });
    assert.ok(kinds(dead).includes("registry"), "one that does not answer is");
  });

  it("agents: started where none runs, then waited for", () => {
    const obs = upLab(2, {
      registry: { kind: "etcd", url: "etcd://10.0.12.2:2379", etcdPids: [7], agents: true },
      etcdAnswers: true,
      agents: new Map([["x-h1", 42]]),
    });
    const plan = planLabUp(obs, labTopology("x", 2), { kind: "etcd", agents: true });
    assert.deepEqual(kinds(plan), ["hg", "agents", "wait-sync", "hg", "wait-routes"]);
    const lines = renderLabPlan(plan);
    assert.deepEqual(lines.filter((l) => l.includes("hg agent")), [
      "x-h2: hg agent --store etcd://10.0.12.2:2379 --node x-h2 --public-ip 10.0.12.12 " +
      `--subnet-file ${DIR}/x-h2.env --ttl 60 --release-on-exit (log: ${DIR}/x-h2.agent.log)`,
    ]);
    assert.ok(
      lines.includes("wait until the agents of x-h1, x-h2 have set their hosts up (32 s at most)"),
    );
  });

  it("refuses what lab up refuses, before anything is done", () => {
    const agents = upLab(1, {
      registry: { kind: "etcd", url: "etcd://10.0.12.2:2379", agents: true, agentTtl: 30 },
    });
    assert.throws(
      () => planLabUp(agents, labTopology("x", 1), { kind: "etcd", agents: true, agentTtl: 90 }),
      (e) => e instanceof HgError && /agents run with --ttl 30/.test(e.message),
    );
    assert.throws(
      () => planLabUp(upLab(1, { registry: fileRegistry }), labTopology("x", 1), { kind: "etcd" }),
      /already uses the file registry/,
    );
    const gone = observed({
      dirEntries: ["hosts.json"],
      numbers: { highest: 1, removed: [1] },
      hostsJson: "{}",
    });
    assert.throws(() => planLabUp(gone, labTopology("x", 1)), /has no hosts left/);
  });
});

describe("undo of a failed lab up", () => {
  it("a new lab: every namespace it makes, and its directory", () => {
    const obs = observed();
    const undo = planUndo(obs, planLabUp(obs, labTopology("x", 2), { kind: "etcd", agents: true }));
    assert.deepEqual(undo.namespaces, ["x-h1-c1", "x-h2-c1", "x-h1", "x-h2", "x-ul"]);
    assert.deepEqual(undo.agents, ["x-h1", "x-h2"]);
    assert.deepEqual(undo.dir, { remove: true });
    assert.deepEqual(undo.releases, []);
  });

  it("a lab that was up: only the new host, its lease, and the records as they were", () => {
    const obs = upLab(2, { registry: fileRegistry, registryJson: JSON.stringify(fileRegistry) });
    const undo = planUndo(obs, planLabUp(obs, labTopology("x", 3), { kind: "file" }));
    assert.deepEqual(undo.namespaces, ["x-h3-c1", "x-h3"]);
    assert.deepEqual(undo.agents, []);
    assert.deepEqual(undo.releases, [{
      netns: "x-h3",
      args: ["subnet", "release", "--store", `${DIR}/subnets.json`, "--node", "x-h3"],
    }]);
    assert.deepEqual(undo.dir, {
      remove: false,
      entries: ["hosts.json"],
      files: [
        { path: `${DIR}/hosts.json`, text: obs.hostsJson },
        { path: `${DIR}/registry.json`, text: obs.registryJson },
        { path: `${DIR}/peers.json`, text: undefined },
      ],
      etcdPids: [],
    });
  });
});

describe("add-node, rm-node, start-agent and down plans", () => {
  it("add-node: the next number, only the new host's plumbing, brought up like the others", () => {
    const obs = upLab(2, {
      registry: fileRegistry,
      numbers: { highest: 3, removed: [3] },
      hostsJson: "{}",
    });
    const { host, plan } = planAddNode(obs);
    assert.equal(host, "x-h4");
    const lines = renderLabPlan(plan);
    assert.equal(lines[0], `write ${DIR}/hosts.json {"highest":4,"removed":[3]}`);
    assert.deepEqual(lines.filter((l) => l.startsWith("ip netns add")), ["ip netns add x-h4"]);
    assert.ok(lines.includes("x-h4: hg netns add x-h4-c1"));
    assert.ok(lines.includes(`x-h1: hg peer sync --store ${DIR}/subnets.json --node x-h1`));
    assert.throws(
      () => planAddNode(observed()),
      (e) => e instanceof InputError && /no lab named x/.test(e.message),
    );
    assert.throws(
      () => planAddNode(upLab(1)),
      (e) =>
        e instanceof HgError && !(e instanceof InputError) && /has no registry/.test(e.message),
    );
  });

  it("rm-node: recorded, lease released, torn down, removed, the others synced", () => {
    const obs = upLab(3, { registry: fileRegistry });
    assert.deepEqual(renderLabPlan(planRemoveNode(obs, "x-h2")), [
      `write ${DIR}/hosts.json {"highest":3,"removed":[2]}`,
      `x-h2: hg subnet release --store ${DIR}/subnets.json --node x-h2`,
      "x-h2: hg teardown --force",
      "ip netns del x-h2",
      `x-h1: hg peer sync --store ${DIR}/subnets.json --node x-h1`,
      `x-h3: hg peer sync --store ${DIR}/subnets.json --node x-h3`,
    ]);
    const agents = upLab(2, {
      registry: { ...fileRegistry, agents: true },
      agents: new Map([["x-h2", 99]]),
    });
    assert.deepEqual(renderLabPlan(planRemoveNode(agents, "x-h2")).slice(1, 2), [
      "x-h2: stop its agent (pid 99) with SIGTERM: it releases its lease and removes its routes",
    ]);
    assert.throws(
      () => planRemoveNode(obs, "x-h9"),
      (e) =>
        e instanceof InputError &&
        /has no host "x-h9": expected one of x-h1, x-h2, x-h3/.test(e.message),
    );
    assert.throws(() => planRemoveNode(upLab(2), "x-h1"), /no registry: rm-node needs/);
  });

  it("start-agent: the same agent again, then waits", () => {
    const obs = upLab(2, { registry: { ...fileRegistry, agents: true, agentTtl: 30 } });
    const plan = planStartAgent(obs, "x-h2");
    assert.deepEqual(kinds(plan), ["agents", "wait-sync", "wait-routes"]);
    assert.match(renderLabPlan(plan)[0], /^x-h2: hg agent .* --ttl 30 --release-on-exit/);
    assert.throws(
      () => planStartAgent({ ...obs, agents: new Map([["x-h2", 5]]) }, "x-h2"),
      /already runs \(pid 5\)/,
    );
  });

  it("down: agents stopped, teardown, every namespace, etcd and the directory; no lab: exit 2", () => {
    assert.throws(
      () => planLabDown(observed()),
      (e) =>
        e instanceof InputError &&
        /^no lab named x: "hg lab up --name x" builds one$/.test(e.message),
    );
    assert.deepEqual(
      renderLabPlan(planLabDown(observed({ dirEntries: ["hosts.json"] }))),
      [`rm -r ${DIR}`],
      "a lab that is only its directory",
    );
    const obs = upLab(2, {
      registry: { kind: "etcd", url: "etcd://10.0.12.2:2379", etcdPids: [7, 8], agents: true },
      agents: new Map([["x-h1", 42]]),
    });
    assert.deepEqual(renderLabPlan(planLabDown(obs)), [
      "x-h1: stop its agent (pid 42) with SIGTERM: it releases its lease and removes its routes",
      "x-h1: hg teardown --force",
      "x-h2: hg teardown --force",
      "ip netns del x-h1-c1",
      "ip netns del x-h2-c1",
      "ip netns del x-h1",
      "ip netns del x-h2",
      "ip netns del x-ul",
      "stop etcd (pid 7, 8) with SIGTERM",
      `rm -r ${DIR}`,
    ]);
  });
});
