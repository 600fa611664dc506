/**
 * The agent's kept listing and kept observation, pure: a listing compared key by key, a watch's
 * change applied, what counts as a routed change (not an expiry moved by a renewal), replays and
 * a revision that went back; an observation trusted until a change that happened after it began
 * or the safety age, and never kept when such a change came while it was taken; `ip -ts
 * monitor`'s lines and stamps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostView } from "../../../lib/agent/host_view.ts";
import { LeaseTable, offersLeaseChanges, routedContent } from "../../../lib/agent/lease_table.ts";
import { eventTime, lostEvents, relevant } from "../../../lib/ip/monitor.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { lease, registry } from "./agent_fixture.ts";

const entry = (n: number, ip = `10.0.12.${10 + n}`, expiresAt?: number): RegistryEntry => ({
  key: `1.1.${n}.0-24`,
  lease: {
    subnet: parsePrefix(`1.1.${n}.0/24`),
    attrs: lease(ip, `h${n}`),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  },
});
const broken = (key: string, problem: string): RegistryEntry => ({ key, problem });

describe("LeaseTable", () => {
  it("a first listing changes every key; the same listing again changes none", () => {
    const table = new LeaseTable();
    const listing = { entries: [entry(2), entry(3), broken("x", "bad")], revision: "5" };
    assert.deepEqual([...table.replace(listing).changed].sort(), ["1.1.2.0-24", "1.1.3.0-24", "x"]);
    assert.deepEqual(table.replace({ ...listing, revision: "6" }).changed, []);
    assert.equal(table.revision, "6");
    assert.equal(table.size, 3);
  });

  it("a listing names exactly the keys that came, went, or route differently", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2), entry(3), entry(4)], revision: "5" });
    const delta = table.replace({
      entries: [entry(2), entry(3, "10.0.12.99"), entry(5)],
      revision: "9",
    });
    assert.deepEqual([...delta.changed].sort(), ["1.1.3.0-24", "1.1.4.0-24", "1.1.5.0-24"]);
    assert.equal(delta.wentBack, false);
    assert.equal(table.get("1.1.4.0-24"), undefined);
    const three = table.get("1.1.3.0-24");
    assert.ok(three && "lease" in three);
    assert.equal(three.lease.attrs.publicIp.value, parseAddress("10.0.12.99").value);
  });

  it("a renewal that only moves the expiry changes nothing routed, but the expiry is kept", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2, undefined, 1000)], revision: "5" });
    assert.deepEqual(
      table.replace({ entries: [entry(2, undefined, 5000)], revision: "6" }).changed,
      [],
    );
    assert.equal(table.nextExpiry(0, "none"), 5000);
  });

  it("a watch's change is applied key by key; a replayed one is ignored", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2), entry(3)], revision: "5" });
    const delta = table.apply({ revision: "7", put: [entry(4)], deleted: ["1.1.2.0-24"] });
    assert.deepEqual([...delta.changed].sort(), ["1.1.2.0-24", "1.1.4.0-24"]);
    assert.deepEqual(table.entries().map((e) => e.key).sort(), ["1.1.3.0-24", "1.1.4.0-24"]);
    assert.equal(table.revision, "7");
    // A batch at or before the table's revision: what the table holds already.
    assert.deepEqual(
      table.apply({ revision: "7", put: [entry(9)], deleted: ["1.1.3.0-24"] }).changed,
      [],
    );
    assert.equal(table.get("1.1.9.0-24"), undefined);
  });

  it("odd but fine: deleting an unknown key and writing the same value again change nothing", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2)], revision: "5" });
    assert.deepEqual(
      table.apply({ revision: "6", put: [entry(2)], deleted: ["1.1.77.0-24"] }).changed,
      [],
    );
    assert.equal(table.revision, "6");
  });

  it("a lease that becomes unreadable, and one that is fixed, are changes", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2)], revision: "5" });
    assert.deepEqual(
      table.apply({ revision: "6", put: [broken("1.1.2.0-24", "not JSON")], deleted: [] })
        .changed,
      ["1.1.2.0-24"],
    );
    assert.deepEqual(
      table.apply({ revision: "7", put: [entry(2)], deleted: [] }).changed,
      ["1.1.2.0-24"],
    );
  });

  it("a listing at an older revision says the registry went back", () => {
    const table = new LeaseTable();
    table.replace({ entries: [entry(2)], revision: "50" });
    assert.equal(table.replace({ entries: [entry(2)], revision: "3" }).wentBack, true);
    assert.equal(table.revision, "3");
  });

  it("the next expiry leaves out this host's own lease and the ones already past", () => {
    const table = new LeaseTable();
    table.replace({
      entries: [entry(1, undefined, 100), entry(2, undefined, 300), entry(3, undefined, 200)],
      revision: "5",
    });
    assert.equal(table.nextExpiry(150, "1.1.1.0-24"), 200);
    assert.equal(table.nextExpiry(0, "1.1.1.0-24"), 200);
    assert.equal(table.nextExpiry(300, "none"), Infinity);
  });

  it("routed content: the holder's VTEP and IPv6 address count", () => {
    const plain = entry(2);
    assert.ok("lease" in plain);
    const vxlan = {
      ...plain,
      lease: {
        ...plain.lease,
        attrs: { ...plain.lease.attrs, backendType: "vxlan", vtep: { mac: "0e:00:00:00:00:01" } },
      },
    };
    const v6 = {
      ...plain,
      lease: {
        ...plain.lease,
        attrs: { ...plain.lease.attrs, publicIpv6: parseAddress("fd00::2") },
      },
    };
    const contents = new Set([plain, vxlan, v6].map(routedContent));
    assert.equal(contents.size, 3);
  });

  it("a store offers changes only with watchLeaseChanges", () => {
    assert.equal(offersLeaseChanges(registry()), false);
    assert.equal(offersLeaseChanges({ watchLeaseChanges: () => [] }), true);
  });
});

describe("HostView", () => {
  it("keeps an observation until a change that happened after it began", () => {
    const view = new HostView<string>(60_000);
    assert.equal(view.current(0), undefined, "nothing observed yet");
    view.observed(view.begin(1000), "s1");
    assert.equal(view.current(59_999), "s1");
    assert.equal(view.changed(999), false, "an event from before it, arriving late");
    assert.equal(view.current(2000), "s1");
    assert.equal(view.changed(1000), true);
    assert.equal(view.current(2000), undefined);
  });

  it("an event of unknown time (lost events, the agent's own change) always counts", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    assert.equal(view.changed(), true);
    assert.equal(view.current(1001), undefined);
  });

  it("trusts an observation for the safety age only", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(1000), "s1");
    assert.equal(view.current(60_999), "s1");
    assert.equal(view.current(61_000), undefined);
  });

  it("an observation during which a later change came is not kept", () => {
    const view = new HostView<string>(60_000);
    const token = view.begin(1000);
    assert.equal(view.changed(1001), true, "ip monitor reported something after it began");
    view.observed(token, "maybe before it");
    assert.equal(view.current(2000), undefined);
    view.observed(view.begin(2000), "after it");
    assert.equal(view.current(2000), "after it");
  });

  it("odd but fine: an event from before the observation under way needs no other look", () => {
    const view = new HostView<string>(60_000);
    const token = view.begin(1000);
    assert.equal(view.changed(500), false, "the observation under way shows it");
    view.observed(token, "s1");
    assert.equal(view.current(1500), "s1");
  });

  it("an abandoned observation keeps nothing, and a later one is kept", () => {
    const view = new HostView<string>(60_000);
    const token = view.begin(1000);
    view.abandoned(token);
    view.observed(token, "failed");
    assert.equal(view.current(1500), undefined);
    view.observed(view.begin(2000), "s2");
    assert.equal(view.current(2500), "s2");
  });
});

describe("ip -ts monitor's output", () => {
  it("events other than other devices' ARP news count; the latest stamp is their time", () => {
    const neigh =
      "[2026-12-01T11:57:26.969859] [NEIGH]10.0.12.7 dev eth0 lladdr 0e:00:00:00:00:07 REACHABLE\n";
    const route =
      "[2026-12-01T11:57:27.000250] [ROUTE]Deleted 1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104\n";
    const fdb =
      "[2026-12-01T11:57:26.5] [NEIGH]1.1.2.0 dev flannel.1 lladdr 0e:00:00:00:00:02 PERMANENT\n";
    assert.equal(relevant(neigh), false);
    assert.equal(relevant(route), true);
    assert.equal(relevant(fdb), true);
    assert.equal(relevant(neigh + route), true);
    assert.equal(eventTime(neigh + route), Date.parse("2026-12-01T11:57:27.000") + 0.25);
    // Continuation lines carry no stamp; a chunk of them alone has no known time.
    assert.equal(eventTime("    link/ether 0e:00:00:00:00:07 brd ff:ff:ff:ff:ff:ff\n"), Infinity);
  });

  it("a netlink overflow on stderr is lost events", () => {
    assert.equal(lostEvents("netlink receive error No buffer space available (105)\n"), true);
    assert.equal(lostEvents("Dump terminated\n"), false);
  });
});
