/**
 * How the etcd store tells a released lease from one that lapsed, pure: a release marks the
 * value first; a watched delete is a lapse unless the key was marked or had no lease.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseLeaseValue } from "../../../lib/store/lease.ts";
import { isReleased, lapsedDelete, releasedValue } from "../../../lib/store/etcd/store.ts";

const VALUE =
  '{"PublicIP":"10.0.12.12","PublicIPv6":null,"BackendType":"host-gw","BackendData":null,"HgNode":"h2"}';
const del = (prevValue: string | undefined, prevLease?: string) => ({
  type: "delete" as const,
  key: "/coreos.com/network/subnets/1.1.2.0-24",
  modRevision: "9",
  ...(prevValue === undefined ? {} : { prevValue, prevLease: prevLease ?? "0" }),
});

describe("release mark", () => {
  it("a marked value is released and still parses as the same lease (flanneld reads it too)", () => {
    const marked = releasedValue(VALUE)!;
    assert.ok(isReleased(marked));
    assert.ok(!isReleased(VALUE));
    assert.deepEqual(parseLeaseValue(marked), parseLeaseValue(VALUE));
  });

  it("only a true HgReleased counts; a value that is no JSON object gets no mark", () => {
    assert.ok(!isReleased('{"PublicIP":"10.0.12.12","HgReleased":false}'));
    assert.ok(!isReleased('{"HgReleased":true'), "not JSON");
    assert.ok(!isReleased('"HgReleased"'));
    assert.equal(releasedValue("not json"), undefined);
    assert.equal(releasedValue("[1]"), undefined);
    assert.equal(releasedValue("null"), undefined);
  });

  it("a delete lapsed unless the key was marked released or had no lease", () => {
    assert.ok(lapsedDelete(del(VALUE, "7587")), "revoked with its lease: lapsed");
    assert.ok(!lapsedDelete(del(releasedValue(VALUE), "7587")), "marked: released");
    assert.ok(!lapsedDelete(del(VALUE, "0")), "no lease: deleted by hand, it cannot run out");
    assert.ok(lapsedDelete(del(undefined)), "previous value unknown: kept a while, to be safe");
  });
});
