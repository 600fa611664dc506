/**
 * The agent's loop, without root: a registry in memory and a host in memory that takes the
 * agent's route changes. The watch alone (re-list and repair ticks slowed to a minute) brings a
 * new host's route and takes a departed one's; a broken watch is listed again at once (a failover,
 * not an outage); an unreachable registry keeps every route; a poisoned lease is never routed; a
 * lease taken by another host stops the agent and removes the bridge's address; SIGTERM leaves
 * the routes, --release-on-exit removes them.
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

  it("--release-on-exit gives the lease back and removes hg's routes", async () => {
    const { store, host, agent, running } = await started(true);
    agent.shutdown();
    assert.equal(await running, 0);
    assert.ok(!store.keys().includes("1.1.1.0/24"), "released");
    assert.equal(host.peers(), 0);
  });
});
