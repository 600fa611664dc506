/**
 * The agent's loop, without root: a registry in memory and a host in memory that takes the
 * agent's route changes. The watch alone (re-list and repair ticks slowed to a minute) brings a
 * new host's route and takes a departed one's; a broken watch is listed again at once (a failover,
 * not an outage); an unreachable registry keeps every route; a poisoned lease is never routed; a
 * lease taken by another host stops the agent and removes the bridge's address; SIGTERM leaves
 * the routes, --release-on-exit removes them. What it costs: ticks with nothing changed look at
 * no host and no registry; a registry change that routes nothing is planned from the kept
 * observation; a new lease is observed under the lock and once after, and its own echo costs
 * nothing more; a store that says what changed is never listed again for it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { join } from "node:path";
import { FileStore } from "../../../lib/store/file/store.ts";
import {
  CONFIG,
  lease,
  OWN,
  registry,
  runningAgentOn,
  scratchDirs,
  until,
} from "./agent_fixture.ts";
import { memoryHost } from "./memory_host.ts";
import { ChangesStore } from "./memory_store.ts";

describe("agent loop (in memory)", () => {
  const dir = scratchDirs();

  /** A registry holding this host's lease and one peer's, a memory host, and a started agent. */
  async function started(releaseOnExit = false) {
    const store = registry();
    const host = memoryHost();
    const { agent, lines, running } = await runningAgentOn(store, host, dir(), { releaseOnExit });
    return { store, host, lines, agent, running };
  }

  it("keeps its lease, routes the peers, and follows the watch both ways", async () => {
    const { store, host, lines, agent, running } = await started();
    assert.ok(
      lines.some((l) => l === "info kept 1.1.1.0/24 for h1 via 10.0.12.11"),
      lines.join("\n"),
    );
    assert.equal(host.routeTo("1.1.2.0/24")?.gateway?.value, parseAddress("10.0.12.12").value);
    store.put(parsePrefix("1.1.3.0/24"), lease("10.0.12.13", "h3"));
    await until(() => host.routeTo("1.1.3.0/24") !== undefined, 1000, "the new host's route");
    assert.ok(lines.includes("info route add 1.1.3.0/24 via 10.0.12.13 (h3)"), lines.join("\n"));
    store.delete(parsePrefix("1.1.2.0/24"));
    await until(
      () => host.routeTo("1.1.2.0/24") === undefined,
      1000,
      "the departed host's route gone",
    );
    agent.shutdown();
    assert.equal(await running, 0);
    assert.ok(host.routeTo("1.1.3.0/24"), "SIGTERM leaves the routes in place");
  });

  it("a broken watch is listed again at once: a failover, not an outage", async () => {
    const { store, host, lines, agent, running } = await started();
    await until(() => store.watching, 1000, "a watch");
    store.interruptWatch();
    await until(() => lines.some((l) => l.startsWith("info watch interrupted")), 1000, "noticed");
    store.put(parsePrefix("1.1.4.0/24"), lease("10.0.12.14", "h4"));
    await until(() => host.routeTo("1.1.4.0/24") !== undefined, 1000, "routed after the re-watch");
    assert.ok(!lines.some((l) => l.includes("registry unreachable")), lines.join("\n"));
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("an unreachable registry keeps every route; the agent says so, and catches up", async () => {
    const { store, host, lines, agent, running } = await started();
    await until(() => store.watching, 1000, "a watch");
    store.down = true;
    store.interruptWatch();
    await until(() => lines.some((l) => l.startsWith("warn registry unreachable")), 2000, "said");
    assert.ok(host.routeTo("1.1.2.0/24"), "routes kept");
    assert.ok(!host.applied.some((l) => l.startsWith("ip route del")), host.applied.join("\n"));
    store.down = false;
    store.put(parsePrefix("1.1.5.0/24"), lease("10.0.12.15", "h5"));
    await until(() => host.routeTo("1.1.5.0/24") !== undefined, 6000, "caught up");
    assert.ok(lines.some((l) => l.startsWith("info registry reachable again")), lines.join("\n"));
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a route deleted on the host comes back on the host's change event, not a poll", async () => {
    const { host, agent, running } = await started();
    host.state.routes = host.state.routes.filter((r) => r.protocol !== 104);
    host.changed();
    await until(() => host.routeTo("1.1.2.0/24") !== undefined, 1000, "the route back");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a peer's lease that runs out on the file store (no event for it): its route goes then", async () => {
    const store = new FileStore(join(dir(), "subnets.json"));
    assert.equal(await store.putConfig(CONFIG, undefined), true);
    assert.equal(await store.claim({ subnet: OWN }, lease("10.0.12.11", "h1"), 60), true);
    assert.equal(
      await store.claim({ subnet: parsePrefix("1.1.2.0/24") }, lease("10.0.12.12", "h2"), 1),
      true,
    );
    const host = memoryHost();
    const { agent, running } = await runningAgentOn(store, host, dir());
    assert.ok(host.routeTo("1.1.2.0/24"), "routed while the lease lasts");
    await until(() => host.routeTo("1.1.2.0/24") === undefined, 2500, "the route gone");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a poisoned lease is refused and never routed", async () => {
    const { store, host, lines, agent, running } = await started();
    store.put(parsePrefix("1.1.6.0/24"), lease("192.168.9.9", "evil"));
    store.putBroken("1.1.7.0-24", "value is not JSON");
    store.put(parsePrefix("1.1.8.0/24"), lease("10.0.12.18", "h8"));
    await until(() => host.routeTo("1.1.8.0/24") !== undefined, 1000, "the good lease routed");
    assert.equal(host.routeTo("1.1.6.0/24"), undefined);
    assert.ok(lines.some((l) => l.startsWith("warn refused lease 1.1.6.0-24")), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("warn refused lease 1.1.7.0-24")), lines.join("\n"));
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("its lease taken by another host: it removes the bridge's address and exits 1", async () => {
    const { store, host, lines, running } = await started();
    store.delete(OWN);
    store.put(OWN, lease("10.0.12.19", "intruder"));
    assert.equal(await running, 1);
    assert.ok(host.applied.includes("ip addr del 1.1.1.1/24 dev cni0"), host.applied.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("error LEASE LOST: 1.1.1.0/24")), lines.join("\n"));
  });

  it("ticks with nothing changed read neither the host nor the registry", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, running } = await runningAgentOn(store, host, dir(), { checkMs: 10 });
    const observed = host.counts.observed;
    const listed = store.calls.get("listLeases") ?? 0;
    const reads = host.counts.forwardingReads;
    await until(() => host.counts.forwardingReads >= reads + 10, 2000, "ten ticks");
    assert.equal(host.counts.observed, observed, "no observation");
    assert.equal(store.calls.get("listLeases") ?? 0, listed, "no listing");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a tick sees forwarding turned off (no ip monitor event for a sysctl) and turns it on", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, running } = await runningAgentOn(store, host, dir(), { checkMs: 10 });
    const observed = host.counts.observed;
    host.state.forwarding = false;
    await until(
      () => host.applied.some((l) => l.includes("net.ipv4.ip_forward")),
      2000,
      "forwarding set again",
    );
    assert.ok(host.counts.observed > observed, "observed again");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a registry change that routes nothing is planned from the kept observation", async () => {
    const { store, host, lines, agent, running } = await started();
    const observed = host.counts.observed;
    store.putBroken("1.1.9.0-24", "value is not JSON");
    await until(
      () => lines.some((l) => l.startsWith("warn refused lease 1.1.9.0-24")),
      1000,
      "seen",
    );
    assert.equal(host.counts.observed, observed, "the host was not read again");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a new lease: observed under the lock and once after; its own echo makes it look no more", async () => {
    const { store, host, agent, running } = await started();
    const { observed, changes } = host.counts;
    const before = performance.timeOrigin + performance.now();
    store.put(parsePrefix("1.1.3.0/24"), lease("10.0.12.13", "h3"));
    await until(() => host.counts.observed === observed + 2, 1000, "looked at after the change");
    assert.ok(host.routeTo("1.1.3.0/24"));
    assert.equal(host.counts.changes, changes + 1);
    host.changed(before); // ip monitor prints the route the agent added: it happened before
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(host.counts.observed, observed + 2, "the echo is in the last observation");
    host.changed(performance.timeOrigin + performance.now() + 1); // someone else, later
    await until(() => host.counts.observed === observed + 3, 1000, "looked again");
    assert.equal(host.counts.changes, changes + 1, "nothing more to change");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a store that says what changed: the change is applied, the registry not listed again", async () => {
    const store = new ChangesStore(CONFIG);
    store.put(OWN, lease("10.0.12.11", "h1"));
    store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
    const host = memoryHost();
    const { agent, running } = await runningAgentOn(store, host, dir());
    await until(() => (store.calls.get("watchLeaseChanges") ?? 0) > 0, 1000, "watching");
    const listed = store.calls.get("listLeases") ?? 0;
    store.put(parsePrefix("1.1.3.0/24"), lease("10.0.12.13", "h3"));
    store.delete(parsePrefix("1.1.2.0/24"));
    await until(
      () => host.routeTo("1.1.3.0/24") !== undefined && host.routeTo("1.1.2.0/24") === undefined,
      1000,
      "both changes applied",
    );
    assert.equal(store.calls.get("listLeases") ?? 0, listed, "no listing for them");
    assert.equal(store.calls.get("watchLeases"), undefined, "the change watch, not the plain one");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("--release-on-exit gives the lease back and removes hg's routes", async () => {
    const { store, host, agent, running } = await started(true);
    agent.shutdown();
    assert.equal(await running, 0);
    assert.ok(!store.keys().includes("1.1.1.0/24"), "released");
    assert.equal(host.peers(), 0);
  });
});
