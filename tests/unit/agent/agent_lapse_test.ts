/**
 * The agent and a peer's lease that lapsed (etcd revoked it when it ran again after a pause:
 * the store's watch says so), without root. After an outage (the agent's renewals failed): the
 * peer's route stays while its holder claims the lease again, and is never deleted; a lapsed
 * lease whose holder does not come back loses its route when the grace ends; a released one (a
 * plain deletion) loses it at once; this host's own lapsed lease is claimed again. With the
 * registry answering all along, a lapse is a host gone: its route goes at once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Agent } from "../../../lib/agent/agent.ts";
import type { LapsingChange } from "../../../lib/agent/lease_grace.ts";
import { parsePrefix, type Prefix } from "../../../lib/net/prefix.ts";
import { CONFIG, lease, OWN, scratchDirs, until } from "./agent_fixture.ts";
import { memoryHost } from "./memory_host.ts";
import { ChangesStore } from "./memory_store.ts";

const H2 = parsePrefix("1.1.2.0/24");
const H3 = parsePrefix("1.1.3.0/24");

/** A {@link ChangesStore} whose leases can lapse, as a paused etcd's do when it runs again. */
class LapsingStore extends ChangesStore {
  /** The lease of `subnet` goes, its deletion reported as lapsed. */
  lapse(subnet: Prefix): void {
    this.delete(subnet);
    // Marked before the watch reads it: delete() only woke the watch.
    const last = this.history.length - 1;
    const change: LapsingChange = { ...this.history[last], lapsed: this.history[last].deleted };
    this.history[last] = change;
  }
}

describe("agent and lapsed leases (in memory)", () => {
  const dir = scratchDirs();

  async function started(lapseGraceMs: number) {
    const store = new LapsingStore(CONFIG);
    store.put(OWN, lease("10.0.12.11", "h1"));
    store.put(H2, lease("10.0.12.12", "h2"));
    store.put(H3, lease("10.0.12.13", "h3"));
    const host = memoryHost();
    const lines: string[] = [];
    const agent = new Agent({
      store,
      attrs: lease("10.0.12.11", "h1"),
      bridge: "cni0",
      ttlSeconds: 3, // renewals every second: an outage is seen soon
      subnetFile: join(dir(), "subnet.env"),
      uplinkMtu: 1500,
      masquerade: false,
      releaseOnExit: false,
      log: (level, message) => lines.push(`${level} ${message}`),
      host: host.host,
      repairMs: 60_000,
      relistMs: 60_000,
      lapseGraceMs,
    });
    await agent.start();
    const running = agent.run();
    await until(() => store.watching, 1000, "watching");
    /** The registry away until the agent notices (a renewal fails), then back. */
    const outage = async () => {
      store.down = true;
      await until(() => lines.some((l) => /registry unreachable/.test(l)), 5000, "outage seen");
      store.down = false;
      await until(() => lines.some((l) => /registry reachable again/.test(l)), 5000, "back");
    };
    return { store, host, lines, agent, running, outage };
  }

  it("a lapsed peer lease claimed again by its holder: its route is never deleted", async () => {
    const { store, host, lines, agent, running, outage } = await started(60_000);
    assert.ok(host.routeTo("1.1.2.0/24"));
    await outage();
    store.lapse(H2);
    await until(
      () => lines.some((l) => /lapsed without a release: 1\.1\.2\.0-24/.test(l)),
      1000,
      "held",
    );
    store.put(H2, lease("10.0.12.12", "h2"));
    // A change after the claim, to know the agent has taken the claim in.
    store.put(parsePrefix("1.1.4.0/24"), lease("10.0.12.14", "h4"));
    await until(() => host.routeTo("1.1.4.0/24") !== undefined, 1000, "h4 routed");
    assert.ok(host.routeTo("1.1.2.0/24"), "h2 still routed");
    assert.deepEqual(host.applied.filter((l) => l.includes("1.1.2.0/24") && / del /.test(l)), []);
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a lapsed lease whose holder does not come back goes when the grace ends; a release at once", async () => {
    const { store, host, agent, running, outage } = await started(1000);
    await outage();
    store.lapse(H2);
    store.delete(H3);
    await until(() => host.routeTo("1.1.2.0/24") === undefined, 5000, "h2's route gone");
    assert.equal(host.routeTo("1.1.3.0/24"), undefined);
    const dels = host.applied.filter((l) => / del /.test(l));
    assert.deepEqual(dels, [
      "ip route del 1.1.3.0/24 proto 104",
      "ip route del 1.1.2.0/24 proto 104",
    ], "the released lease's route first, at once; the lapsed one's when its grace ended");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("this host's own lapsed lease is claimed again, not held", async () => {
    const { store, lines, agent, running, outage } = await started(60_000);
    await outage();
    store.lapse(OWN);
    await until(() => store.keys().includes("1.1.1.0/24"), 2000, "claimed again");
    assert.ok(
      !lines.some((l) => /lapsed without a release: 1\.1\.1\.0-24/.test(l)),
      lines.join("\n"),
    );
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a lapse with the registry answering all along is a host gone: its route goes at once", async () => {
    const { store, host, lines, agent, running } = await started(60_000);
    store.lapse(H2);
    await until(() => host.routeTo("1.1.2.0/24") === undefined, 5000, "h2's route gone");
    assert.ok(!lines.some((l) => /lapsed without a release/.test(l)), lines.join("\n"));
    agent.shutdown();
    assert.equal(await running, 0);
  });
});
