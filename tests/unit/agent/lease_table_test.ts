/**
 * The agent's kept listing and kept observation, pure: a listing compared key by key, a watch's
 * change applied, what counts as a routed change (not an expiry moved by a renewal), replays and
 * a revision that went back; an observation trusted until a change event or the safety age, and
 * never kept when a change came while it was taken.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostView } from "../../../lib/agent/host_view.ts";
import { LeaseTable, offersLeaseChanges, routedContent } from "../../../lib/agent/lease_table.ts";
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
  it("keeps an observation until a change event", () => {
    const view = new HostView<string>(60_000);
    assert.equal(view.current(0), undefined, "nothing observed yet");
    view.observed(view.begin(), "s1", 0);
    assert.equal(view.current(59_999), "s1");
    view.changed();
    assert.equal(view.current(1), undefined);
  });

  it("trusts an observation for the safety age only", () => {
    const view = new HostView<string>(60_000);
    view.observed(view.begin(), "s1", 1000);
    assert.equal(view.current(60_999), "s1");
    assert.equal(view.current(61_000), undefined);
  });

  it("an observation during which a change came is not kept", () => {
    const view = new HostView<string>(60_000);
    const token = view.begin();
    view.changed(); // ip monitor reported something while the host was being read
    view.observed(token, "maybe before it", 0);
    assert.equal(view.current(0), undefined);
    view.observed(view.begin(), "after it", 0);
    assert.equal(view.current(0), "after it");
  });
});
