/**
 * The agent's lease, without root (a registry and a host in memory), through the faults that
 * took hosts off the network: an outage longer than the TTL (the lease is claimed again once,
 * by one owner, and never "lost" to itself), answers that never came (the write happened: the
 * agent does not undo it), a restart after the lease ran out (the subnet the host already uses
 * is claimed again; with containers on a subnet someone else now holds, the agent says why and
 * stops; without containers it moves the host), and a registry that lost its data (the network
 * config is written back, unless told not to).
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { readReport } from "../../../lib/agent/status_file.ts";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { PreviousSubnetError } from "../../../lib/store/allocate.ts";
import {
  agentOn,
  CONFIG,
  lease,
  OWN,
  registry,
  runningAgentOn,
  scratchDirs,
  until,
} from "./agent_fixture.ts";
import { memoryHost } from "./memory_host.ts";
import { MemoryStore } from "./memory_store.ts";

describe("the agent's lease (in memory)", () => {
  const scratch = scratchDirs();

  it("an outage longer than the TTL: the lease that ran out is claimed again, once", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, lines, running } = await runningAgentOn(store, host, scratch());
    await until(() => store.watching, 1000, "a watch");
    store.down = true;
    store.interruptWatch();
    await until(() => lines.some((l) => l.startsWith("warn registry unreachable")), 2000, "said");
    store.down = false;
    store.delete(OWN); // it ran out while the registry was away
    await until(() => store.keys().includes("1.1.1.0/24"), 3000, "claimed again");
    assert.equal(store.calls.get("claim"), 1, "one owner claims it, once");
    assert.equal(store.leases.get("1.1.1.0-24")?.attrs.node, "h1");
    assert.ok(
      lines.includes("warn lease of 1.1.1.0/24 had run out: claimed it again"),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => l.includes("LEASE LOST")), lines.join("\n"));
    assert.equal(host.bridgeAddress(), "1.1.1.1/24", "the bridge keeps its address");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a renewal whose answer never came: the agent keeps serving and renews again", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, lines, running } = await runningAgentOn(store, host, scratch(), {
      ttlSeconds: 3,
    }); // renews every second
    store.unanswered.add("renew");
    await until(() => (store.calls.get("renew") ?? 0) >= 3, 5000, "two more renewals");
    assert.ok(
      lines.some((l) =>
        l.startsWith("warn could not renew the lease of 1.1.1.0/24, still serving")
      ),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => l.startsWith("warn registry unreachable, keeping every route")),
      "a renewal without an answer is an unreachable registry, for hg status",
    );
    assert.equal(store.calls.get("release"), undefined, "nothing undone");
    assert.equal(store.calls.get("claim"), undefined, "nothing claimed: the lease was there");
    assert.ok(store.keys().includes("1.1.1.0/24"));
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a claim whose answer never came at start: the lease it made is used, not a second one", async () => {
    const store = new MemoryStore(CONFIG);
    store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
    store.unanswered.add("claim");
    const host = memoryHost();
    const { agent, running } = await runningAgentOn(store, host, scratch());
    const mine = [...store.leases.values()].filter((l) => l.attrs.node === "h1");
    assert.deepEqual(mine.map((l) => l.subnet), [OWN], "one lease, the bridge's subnet");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("any one registry request of its start timing out: it comes up all the same, routed, no error", async () => {
    // Each request of a start in turn (the config, the listing, the claim or renewal, the
    // listing after it, the watch), for a host that holds a lease and for one that claims one:
    // etcd under load answers one of them late, and the agent must not exit over it.
    for (const holds of [true, false]) {
      for (let call = 1; call <= 8; call++) {
        const store = holds ? registry() : new MemoryStore(CONFIG);
        if (!holds) store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
        store.failCall = call;
        const host = memoryHost();
        const dir = join(scratch(), `${holds ? "holds" : "claims"}-${call}`);
        mkdirSync(dir);
        const what = `${holds ? "renewing" : "claiming"}, request ${call} timed out`;
        const { agent, lines, running } = await runningAgentOn(store, host, dir);
        await until(() => host.routeTo("1.1.2.0/24") !== undefined, 3000, `routed (${what})`);
        let synced = false;
        for (let i = 0; i < 100 && !synced; i++) {
          synced = Boolean((await readReport())?.lastSync);
          if (!synced) await new Promise((r) => setTimeout(r, 10));
        }
        // Several reports are written at once here (unreachable, reachable again, synced): the
        // last one written must be the newest.
        assert.ok(
          synced,
          `the report says it synced (${what}): ${JSON.stringify(await readReport())}`,
        );
        assert.deepEqual(lines.filter((l) => l.startsWith("error")), [], what);
        assert.equal(store.keys().length, 2, `${what}: ${store.keys()}`);
        agent.shutdown();
        assert.equal(await running, 0, what);
      }
    }
  });

  it("restarted after its lease ran out: it claims the subnet its bridge has again", async () => {
    const store = new MemoryStore(CONFIG);
    store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
    const host = memoryHost("1.1.1.1/24", ["web1@1.1.1.2/24"]);
    const { agent, lines, running } = await runningAgentOn(store, host, scratch());
    assert.ok(lines.includes("info kept 1.1.1.0/24 for h1 via 10.0.12.11"), lines.join("\n"));
    assert.equal(store.leases.get("1.1.1.0-24")?.attrs.node, "h1");
    assert.ok(!host.applied.some((l) => l.startsWith("ip addr")), host.applied.join("\n"));
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("restarted with no bridge address: the subnet subnet.env names is claimed again", async () => {
    const store = new MemoryStore(CONFIG);
    writeFileSync(
      join(scratch(), "subnet.env"),
      "FLANNEL_NETWORK=1.1.0.0/16\nFLANNEL_SUBNET=1.1.7.1/24\n",
    );
    const host = memoryHost(null);
    const { agent, running } = await runningAgentOn(store, host, scratch());
    assert.deepEqual(store.keys(), ["1.1.7.0/24"]);
    assert.equal(host.bridgeAddress(), "1.1.7.1/24");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("its subnet now leased to another host, with containers on it: says why and stops", async () => {
    const store = new MemoryStore(CONFIG);
    store.put(OWN, lease("10.0.12.19", "h9"));
    const host = memoryHost("1.1.1.1/24", ["web1@1.1.1.2/24"]);
    const { agent } = agentOn(store, host, scratch());
    await assert.rejects(agent.start(), (e: unknown) => {
      assert.ok(e instanceof PreviousSubnetError, String(e));
      assert.match(
        e.message,
        /uses 1\.1\.1\.0\/24, which it cannot lease again: it is leased to h9 \(10\.0\.12\.19\)/,
      );
      assert.match(e.message, /its containers \(web1\) are on it/);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
    assert.equal(store.calls.get("claim"), undefined, "no other subnet taken");
    assert.deepEqual(host.applied, [], "the host is left as it was");
  });

  it("its subnet now leased to another host, no containers: it moves the host whole", async () => {
    const store = new MemoryStore(CONFIG);
    store.put(OWN, lease("10.0.12.19", "h9"));
    const host = memoryHost("1.1.1.1/24");
    const { agent, lines, running } = await runningAgentOn(store, host, scratch());
    const mine = [...store.leases.values()].filter((l) => l.attrs.node === "h1");
    assert.equal(mine.length, 1);
    const moved = mine[0].subnet;
    assert.notDeepEqual(moved, OWN);
    assert.equal(
      host.bridgeAddress()?.replace(/\.1\/24$/, ".0/24"),
      store.keys().find((k) => k !== "1.1.1.0/24"),
    );
    assert.ok(host.applied.includes("ip addr del 1.1.1.1/24 dev cni0"), host.applied.join("\n"));
    assert.ok(
      lines.some((l) =>
        l.startsWith("warn moved this host from 1.1.1.0/24 to ") &&
        l.endsWith("1.1.1.0/24 cannot be leased again (it is leased to h9 (10.0.12.19))")
      ),
      lines.join("\n"),
    );
    assert.ok(host.routeTo("1.1.1.0/24"), "and routes to the subnet's new holder");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a registry that lost its data gets the network config and this host's lease back", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, lines, running } = await runningAgentOn(store, host, scratch());
    await until(() => store.watching, 1000, "a watch");
    // Wiped: no config, no leases, and a revision that starts again.
    store.config = undefined;
    store.leases.clear();
    store.revision = 1;
    store.interruptWatch();
    await until(() => store.config !== undefined, 2000, "the config written back");
    await until(() => store.keys().includes("1.1.1.0/24"), 2000, "the lease claimed again");
    assert.ok(
      lines.includes("warn memory://test had lost its network config: wrote back 1.1.0.0/16 /24"),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.includes("revision went back")), lines.join("\n"));
    // The watch follows the new revisions: a host that joins now is routed.
    store.put(parsePrefix("1.1.3.0/24"), lease("10.0.12.13", "h3"));
    await until(() => host.routeTo("1.1.3.0/24") !== undefined, 2000, "the new host routed");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("--no-restore-config: the lost config is reported, not written", async () => {
    const store = registry();
    const host = memoryHost();
    const { agent, lines, running } = await runningAgentOn(store, host, scratch(), {
      restoreConfig: false,
    });
    await until(() => store.watching, 1000, "a watch");
    store.config = undefined;
    store.interruptWatch();
    await until(
      () => lines.some((l) => l.startsWith("error memory://test has lost its network config")),
      2000,
      "said",
    );
    assert.equal(store.config, undefined);
    assert.equal(store.calls.get("putConfig"), undefined);
    assert.ok(host.routeTo("1.1.2.0/24"), "routes kept");
    agent.shutdown();
    assert.equal(await running, 0);
  });
});
