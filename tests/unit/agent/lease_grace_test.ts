/**
 * Lapsed leases kept for a grace period, pure: a lease that lapsed (etcd revoked it when a
 * paused registry ran again) stays in the agent's table until its holder writes it again or the
 * grace ends; a released lease, this host's own lease, a key that was never a lease, and every
 * deletion of a store that does not tell lapses from releases go at once.
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

describe("LeaseGrace", () => {
  it("a lapsed peer lease stays in the table until its grace ends, then goes", () => {
    const t = table();
    const grace = new LeaseGrace(10_000);
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
    const grace = new LeaseGrace(10_000);
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
    const grace = new LeaseGrace(10_000);
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
    const grace = new LeaseGrace(10_000);
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
    const grace = new LeaseGrace(10_000);
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

  it("a lapse and a release in one batch: only the lapse is held", () => {
    const t = table();
    const grace = new LeaseGrace(10_000);
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
