/**
 * Lapsed leases kept for a grace period, pure: a lease that lapsed in a registry outage (etcd
 * revoked it when a paused registry ran again) stays in the agent's table until its holder
 * writes it again or the grace ends; one that lapsed while the registry answered (a host gone
 * without a word), a released lease, this host's own lease, a key that was never a lease, and
 * every deletion of a store that does not tell lapses from releases go at once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaseGrace } from "../../../lib/agent/lease_grace.ts";
import { LeaseTable } from "../../../lib/agent/lease_table.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { lease } from "./agent_fixture.ts";

const entry = (n: number): RegistryEntry => ({
  key: `1.1.${n}.0-24`,
  lease: { subnet: parsePrefix(`1.1.${n}.0/24`), attrs: lease(`10.0.12.${10 + n}`, `h${n}`) },
});
const OWN_KEY = "1.1.1.0-24";
const T0 = 1_000_000;

/** A table at revision 5 holding this host's lease, h2's, h3's and a key that is no lease. */
function table(): LeaseTable {
  const t = new LeaseTable();
  t.replace({
    entries: [entry(1), entry(2), entry(3), { key: "junk", problem: "value is not JSON" }],
    revision: "5",
  });
  return t;
}

const keys = (t: LeaseTable) => t.entries().map((e) => e.key).sort();

/** A grace whose agent just saw the registry come back after it could not reach it. */
function afterOutage(graceMs = 10_000): LeaseGrace {
  const grace = new LeaseGrace(graceMs, 30_000);
  grace.unreachable();
  grace.reached(T0);
  return grace;
}

describe("LeaseGrace", () => {
  it("a lapsed peer lease stays in the table until its grace ends, then goes", () => {
    const t = table();
    const grace = afterOutage();
    const lapse = { revision: "6", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] };
    const { apply, held } = grace.hold(lapse, t, OWN_KEY, T0);
    assert.deepEqual(held.map((e) => e.key), ["1.1.2.0-24"]);
    assert.deepEqual(apply.deleted, []);
    assert.deepEqual(t.apply(apply).changed, [], "nothing routed changed: no sync, no route del");
    assert.equal(t.revision, "6");
    assert.ok(keys(t).includes("1.1.2.0-24"));

    assert.deepEqual([...grace.ended(t, T0 + 9_999)], [], "not before the grace ends");
    assert.deepEqual([...grace.ended(t, T0 + 10_000)], ["1.1.2.0-24"]);
    assert.equal(grace.size, 0, "an ended hold is forgotten");
    assert.deepEqual([...grace.ended(t, T0 + 20_000)], []);
  });

  it("the holder claims its lease again within the grace: the hold ends, the route never went", () => {
    const t = table();
    const grace = afterOutage();
    const lapse = { revision: "6", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] };
    t.apply(grace.hold(lapse, t, OWN_KEY, T0).apply);
    const claimed = { revision: "8", put: [entry(2)], deleted: [] };
    const { apply, held } = grace.hold(claimed, t, OWN_KEY, T0 + 60);
    assert.deepEqual(held, []);
    assert.equal(apply, claimed, "a batch with nothing held is applied as it came");
    assert.deepEqual(t.apply(apply).changed, [], "the same holder, the same route");
    assert.equal(grace.size, 0);
    assert.deepEqual([...grace.ended(t, T0 + 10_000)], []);
    assert.ok(keys(t).includes("1.1.2.0-24"));
  });

  it("a released lease goes at once, and a release ends the hold of a lapsed one", () => {
    const t = table();
    const grace = afterOutage();
    const release = { revision: "6", put: [], deleted: ["1.1.3.0-24"], lapsed: [] };
    const { apply, held } = grace.hold(release, t, OWN_KEY, T0);
    assert.deepEqual(held, []);
    assert.deepEqual(t.apply(apply).changed, ["1.1.3.0-24"]);

    t.apply(
      grace.hold(
        { revision: "7", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] },
        t,
        OWN_KEY,
        T0,
      ).apply,
    );
    assert.equal(grace.size, 1);
    // Released by hand while held: the store reports the delete of the key marked released.
    const released = grace.hold(
      { revision: "8", put: [], deleted: ["1.1.2.0-24"], lapsed: [] },
      t,
      OWN_KEY,
      T0 + 100,
    );
    assert.deepEqual(t.apply(released.apply).changed, ["1.1.2.0-24"]);
    assert.equal(grace.size, 0);
  });

  it("this host's own lease, a key that is no lease, and a store that does not tell: no hold", () => {
    const t = table();
    const grace = afterOutage();
    const own = grace.hold(
      { revision: "6", put: [], deleted: [OWN_KEY], lapsed: [OWN_KEY] },
      t,
      OWN_KEY,
      T0,
    );
    assert.deepEqual(own.held, [], "its keeper must see it gone to claim it again");
    assert.deepEqual(own.apply.deleted, [OWN_KEY]);
    const junk = grace.hold(
      { revision: "7", put: [], deleted: ["junk"], lapsed: ["junk"] },
      t,
      OWN_KEY,
      T0,
    );
    assert.deepEqual(junk.apply.deleted, ["junk"]);
    const untold = grace.hold({ revision: "8", put: [], deleted: ["1.1.2.0-24"] }, t, OWN_KEY, T0);
    assert.deepEqual(untold.apply.deleted, ["1.1.2.0-24"]);
    const absent = grace.hold(
      { revision: "9", put: [], deleted: ["1.1.9.0-24"], lapsed: ["1.1.9.0-24"] },
      t,
      OWN_KEY,
      T0,
    );
    assert.deepEqual(absent.apply.deleted, ["1.1.9.0-24"], "a key the table lacks is not held");
    assert.equal(grace.size, 0);
  });

  it("a key listed again during its grace (a fresh entry) is not deleted when the grace ends", () => {
    const t = table();
    const grace = afterOutage();
    t.apply(
      grace.hold(
        { revision: "6", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] },
        t,
        OWN_KEY,
        T0,
      ).apply,
    );
    // The watch broke; the listing that follows has the key again (its holder claimed it).
    t.replace({ entries: [entry(1), entry(2), entry(3)], revision: "9" });
    assert.deepEqual([...grace.ended(t, T0 + 10_000)], []);
    assert.equal(grace.size, 0);
  });

  it("a lapse while the registry answered all along is a host gone: it goes at once", () => {
    const t = table();
    const grace = new LeaseGrace(10_000, 30_000);
    const lapse = { revision: "6", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] };
    const { apply, held } = grace.hold(lapse, t, OWN_KEY, T0);
    assert.deepEqual(held, []);
    assert.deepEqual(t.apply(apply).changed, ["1.1.2.0-24"]);
  });

  it("lapses are held while the registry is out of reach and until 30 s after it came back", () => {
    const grace = new LeaseGrace(10_000, 30_000);
    const lapse = (n: number, revision: string) => ({
      revision,
      put: [],
      deleted: [`1.1.${n}.0-24`],
      lapsed: [`1.1.${n}.0-24`],
    });
    const t = table();
    grace.unreachable();
    assert.equal(grace.hold(lapse(2, "6"), t, OWN_KEY, T0).held.length, 1, "still out of reach");
    grace.reached(T0 + 5_000);
    grace.reached(T0 + 20_000); // answered again: the aftermath counts from the first answer
    assert.equal(grace.hold(lapse(3, "7"), t, OWN_KEY, T0 + 35_000).held.length, 1, "30 s after");
    const t2 = table();
    const fresh = new LeaseGrace(10_000, 30_000);
    fresh.unreachable();
    fresh.reached(T0);
    assert.deepEqual(fresh.hold(lapse(2, "6"), t2, OWN_KEY, T0 + 30_001).held, [], "too late");
  });

  it("a lapse and a release in one batch: only the lapse is held", () => {
    const t = table();
    const grace = afterOutage();
    const { apply, held } = grace.hold(
      {
        revision: "6",
        put: [],
        deleted: ["1.1.2.0-24", "1.1.3.0-24"],
        lapsed: ["1.1.2.0-24"],
      },
      t,
      OWN_KEY,
      T0,
    );
    assert.deepEqual(held.map((e) => e.key), ["1.1.2.0-24"]);
    assert.deepEqual(t.apply(apply).changed, ["1.1.3.0-24"]);
    assert.deepEqual(keys(t), ["1.1.1.0-24", "1.1.2.0-24", "junk"]);
  });
});
