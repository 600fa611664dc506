/**
 * A watched registry change planned alone (in memory): with the host observation kept, a new
 * lease, a lease moved to another holder, a departed lease and a renewal are planned from the
 * changed leases only and applied through the host's part-observing change, with no whole look
 * at the host; the kept observation then is the host as changed (a route someone deletes later
 * is put back); a lease that overlaps another is planned with the whole registry. The pieces:
 * the kept observation's own-change windows (HostView.beginOwn/amended), and the lease table's
 * before-entries and overlap index.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentHost } from "../../../lib/agent/agent.ts";
import { HostView } from "../../../lib/agent/host_view.ts";
import { LeaseTable } from "../../../lib/agent/lease_table.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, parsePrefix } from "../../../lib/net/prefix.ts";
import { narrowHost } from "../../../lib/peers/changed_leases.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { CONFIG, lease, OWN, runningAgentOn, scratchDirs, until } from "./agent_fixture.ts";
import { memoryHost } from "./memory_host.ts";
import { ChangesStore } from "./memory_store.ts";

/**
 * A memory host that also changes the part of itself a few subnets' plan reads (as this host's
 * `ip route show root/match` does), counting those changes and the whole looks apart.
 */
function partHost() {
  const h = memoryHost();
  const looks = { whole: 0, parts: 0, partSubnets: [] as string[][] };
  const host: AgentHost = {
    ...h.host,
    observe: () => {
      looks.whole++;
      return h.host.observe();
    },
    change: (planner) => {
      looks.whole++;
      return h.host.change(planner);
    },
    changeNow: (planner, after) => {
      looks.whole++;
      return h.host.changeNow(planner, after);
    },
    changeSubnets: async (subnets, planner) => {
      looks.parts++;
      looks.partSubnets.push(subnets.map(formatPrefix));
      const result = await h.host.change((state) => planner(narrowHost(state, subnets)));
      return { ...result, appliedAt: performance.timeOrigin + performance.now() };
    },
  };
  return { ...h, host, looks };
}

/** An agent on a store that says what changed, with its host observation kept. */
async function keptAgent(dir: string) {
  const store = new ChangesStore(CONFIG);
  store.put(OWN, lease("10.0.12.11", "h1"));
  store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
  const host = partHost();
  const { agent, lines, running } = await runningAgentOn(store, host, dir);
  await until(() => (store.calls.get("watchLeaseChanges") ?? 0) > 0, 1000, "watching");
  // The start changed the host; its `ip monitor` echo makes the agent look once more, and keep it.
  const before = host.looks.whole;
  host.changed(performance.timeOrigin + performance.now());
  await until(() => host.looks.whole > before, 1000, "looked after the echo");
  await new Promise((r) => setTimeout(r, 50));
  return { store, host, agent, lines, running };
}

describe("a watched change planned alone (in memory)", () => {
  const dir = scratchDirs();

  it("a new, a moved and a departed lease: planned alone, no whole look at the host", async () => {
    const { store, host, agent, lines, running } = await keptAgent(dir());
    const whole = host.looks.whole;
    const h3 = parsePrefix("1.1.3.0/24");
    store.put(h3, lease("10.0.12.13", "h3"));
    await until(() => host.routeTo("1.1.3.0/24") !== undefined, 1000, "the new host's route");
    assert.ok(lines.includes("info route add 1.1.3.0/24 via 10.0.12.13 (h3)"), lines.join("\n"));
    assert.deepEqual(host.looks.partSubnets, [["1.1.3.0/24"]], "the change's subnet read alone");
    store.put(h3, lease("10.0.12.33", "h3"));
    await until(
      () => host.routeTo("1.1.3.0/24")?.gateway?.value === parseAddress("10.0.12.33").value,
      1000,
      "the route via the new holder",
    );
    store.delete(parsePrefix("1.1.2.0/24"));
    await until(() => host.routeTo("1.1.2.0/24") === undefined, 1000, "the departed route gone");
    assert.equal(host.looks.parts, 3);
    // A renewal (the same value written again) routes nothing: no look, no change.
    const changes = host.counts.changes;
    store.put(h3, lease("10.0.12.33", "h3"));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(host.looks.parts, 3);
    assert.equal(host.counts.changes, changes);
    assert.equal(host.looks.whole, whole, "the host was never looked at whole");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("the kept observation is the host as changed: a route deleted by someone later is put back", async () => {
    const { store, host, agent, running } = await keptAgent(dir());
    store.put(parsePrefix("1.1.3.0/24"), lease("10.0.12.13", "h3"));
    await until(() => host.routeTo("1.1.3.0/24") !== undefined, 1000, "the new host's route");
    const whole = host.looks.whole;
    // With nothing reported since, another change is planned from the amended observation.
    store.put(parsePrefix("1.1.4.0/24"), lease("10.0.12.14", "h4"));
    await until(() => host.routeTo("1.1.4.0/24") !== undefined, 1000, "the next host's route");
    assert.equal(host.looks.whole, whole);
    host.state.routes = host.state.routes.filter((r) => formatPrefix(r.dst) !== "1.1.3.0/24");
    host.changed(performance.timeOrigin + performance.now() + 1);
    await until(() => host.routeTo("1.1.3.0/24") !== undefined, 1000, "repaired");
    assert.ok(host.looks.whole > whole, "looked at whole for an event not its own");
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a lease overlapping another's subnet is planned with the whole registry", async () => {
    const { store, host, agent, lines, running } = await keptAgent(dir());
    const parts = host.looks.parts;
    store.put(parsePrefix("1.1.2.0/23"), lease("10.0.12.40", "h40"));
    await until(
      () => lines.some((l) => l.startsWith("warn refused lease 1.1.2.0-23: ")),
      1000,
      "refused",
    );
    assert.equal(host.looks.parts, parts, "not planned alone");
    assert.ok(host.routeTo("1.1.2.0/24"), "h2's route stays");
    assert.equal(host.routeTo("1.1.2.0/23"), undefined);
    // A broken value next to it is planned alone, and reported.
    store.putBroken("1.1.9.0-24", "value is not JSON");
    await until(
      () => lines.includes("warn refused lease 1.1.9.0-24: value is not JSON"),
      1000,
      "the broken value reported",
    );
    agent.shutdown();
    assert.equal(await running, 0);
  });
});

describe("HostView: the agent's own change", () => {
  // The change sets the route to 1.1.9.0/24 and deletes the one to 1.1.4.0/24; ip monitor's
  // echo names them (lib/ip/monitor.ts readEvents).
  const routes = new Set(["1.1.9.0/24", "1.1.4.0/24"]);

  it("its echoes keep the observation, amended; an event before it or after it does not", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    const own = view.beginOwn(2000, routes);
    assert.equal(
      view.changed(2005, ["1.1.9.0/24"]),
      false,
      "its own echo, arriving while it applies",
    );
    assert.equal(view.amended(own, 2010, (s) => `${s}+change`), true);
    assert.equal(view.current(3000), "s1+change");
    assert.equal(view.changed(2008, ["1.1.4.0/24"]), false, "a late echo of it");
    assert.equal(view.changed(1500, ["1.1.9.0/24"]), true, "someone else's, before it began");
    assert.equal(view.current(3000), undefined);
  });

  it("an event of its time that is not its echo is someone else's: the host is looked at whole", () => {
    for (
      const other of [
        ["1.1.7.0/24"], // hg's route, but to a destination this change did not touch
        ["1.1.9.0/24", "1.1.7.0/24"], // its echo, and another route with it
        undefined, // a link, an address, a route not hg's, lost events
      ]
    ) {
      const view = new HostView<string>(60_000);
      view.observed(view.begin(1000), "s1");
      const own = view.beginOwn(2000, routes);
      view.changed(2003, other);
      assert.equal(view.amended(own, 2010, (s) => `${s}+change`), false, String(other));
      assert.equal(view.current(3000), undefined);
      // And once it was done, an event of its time arriving late is judged the same way.
      const later = new HostView<string>(60_000);
      later.observed(later.begin(1000), "s1");
      assert.equal(later.amended(later.beginOwn(2000, routes), 2010, (s) => `${s}+c`), true);
      assert.equal(later.changed(2005, other), true, String(other));
    }
  });

  it("says when its echo has come", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    const own = view.beginOwn(2000, routes);
    assert.equal(view.echoed(own), false);
    view.changed(1999, ["1.1.9.0/24"]); // from before it: not its echo
    assert.equal(view.echoed(own), false);
    view.observed(view.begin(2001), "s2");
    const again = view.beginOwn(3000, routes);
    view.changed(3001, ["1.1.9.0/24"]);
    assert.equal(view.echoed(again), true);
  });

  it("an event after the change was done is not its echo", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    const own = view.beginOwn(2000, routes);
    view.changed(2020, ["1.1.9.0/24"]);
    assert.equal(view.amended(own, 2010, (s) => `${s}+change`), false);
    assert.equal(view.current(3000), undefined);
  });

  it("an event after it was done, arriving later, still counts", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    assert.equal(view.amended(view.beginOwn(2000, routes), 2010, (s) => `${s}+change`), true);
    assert.equal(view.changed(2011, ["1.1.9.0/24"]), true);
    assert.equal(view.current(3000), undefined);
  });

  it("a change it cannot follow, or a failed one, keeps nothing", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    assert.equal(view.amended(view.beginOwn(2000), 2010, () => undefined), false);
    assert.equal(view.current(3000), undefined);
    view.observed(view.begin(4000), "s2");
    const own = view.beginOwn(5000);
    view.abandonedOwn(own);
    assert.equal(view.current(6000), undefined);
  });
});

describe("LeaseTable: what changed, and which leases overlap", () => {
  const entry = (subnet: string, ip: string): RegistryEntry => ({
    key: subnet.replace("/", "-"),
    lease: { subnet: parsePrefix(subnet), attrs: lease(ip, ip) },
  });

  it("gives each changed key's entry as it was before", () => {
    const table = new LeaseTable();
    const two = entry("1.1.2.0/24", "10.0.12.12");
    table.replace({ entries: [two], revision: "1" });
    const delta = table.apply({
      revision: "2",
      put: [entry("1.1.2.0/24", "10.0.12.99"), entry("1.1.3.0/24", "10.0.12.13")],
      deleted: [],
    });
    assert.equal(delta.before.get("1.1.2.0-24"), two);
    assert.ok(delta.before.has("1.1.3.0-24"));
    assert.equal(delta.before.get("1.1.3.0-24"), undefined, "there was none");
    const gone = table.apply({ revision: "3", put: [], deleted: ["1.1.3.0-24"] });
    assert.deepEqual(gone.before.get("1.1.3.0-24"), entry("1.1.3.0/24", "10.0.12.13"));
  });

  it("answers which leases overlap a subnet, and follows changes once asked", () => {
    const table = new LeaseTable();
    table.replace({
      entries: [entry("1.1.2.0/24", "10.0.12.12"), entry("1.1.0.0/20", "10.0.12.20")],
      revision: "1",
    });
    assert.deepEqual(table.overlapping(parsePrefix("1.1.2.0/24")).sort(), [
      "1.1.0.0-20",
      "1.1.2.0-24",
    ]);
    table.apply({
      revision: "2",
      put: [entry("1.1.64.0/24", "10.0.12.64")],
      deleted: ["1.1.0.0-20"],
    });
    assert.deepEqual(table.overlapping(parsePrefix("1.1.2.0/24")), ["1.1.2.0-24"]);
    assert.deepEqual(table.overlapping(parsePrefix("1.1.64.0/18")), ["1.1.64.0-24"]);
    table.replace({ entries: [entry("1.1.64.0/24", "10.0.12.65")], revision: "3" });
    assert.deepEqual(table.overlapping(parsePrefix("1.1.2.0/24")), []);
  });
});
