import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HgError, InputError } from "../../../lib/errors.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { planPeerAdd, planPeerRemove } from "../../../lib/peers/plan.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { capturedHost } from "./fixture_state.ts";

const add = (subnet: string, via: string, dev?: string) =>
  renderPlan(
    planPeerAdd(capturedHost(), { subnet: parsePrefix(subnet), via: parseAddress(via), dev }).plan,
  );

describe("planPeerAdd", () => {
  it("routes a new peer subnet via the peer on the interface that reaches it, tagged proto 104", () => {
    assert.deepEqual(add("1.1.4.0/24", "10.0.12.9"), [
      "ip route replace 1.1.4.0/24 via 10.0.12.9 dev eth0 proto 104",
    ]);
    assert.deepEqual(add("1.1.4.0/24", "10.0.12.9", "eth0"), [
      "ip route replace 1.1.4.0/24 via 10.0.12.9 dev eth0 proto 104",
    ]);
  });

  it("routes an IPv6 peer subnet via the peer's IPv6 address on the segment", () => {
    assert.deepEqual(add("fd00:4::/64", "fd00:12::7"), [
      "ip route replace fd00:4::/64 via fd00:12::7 dev eth0 proto 104",
    ]);
    // A link-local gateway means nothing without its interface: refused as such.
    assert.throws(() => add("fd00:4::/64", "fe80::7"), /fe80::7 is a link-local address/);
  });

  it("plans nothing when hg's route is already there", () => {
    assert.deepEqual(add("1.1.2.0/24", "10.0.12.7"), []);
  });

  it("replaces hg's route when the peer moved", () => {
    assert.deepEqual(add("1.1.2.0/24", "10.0.12.8"), [
      "ip route replace 1.1.2.0/24 via 10.0.12.8 dev eth0 proto 104",
    ]);
  });

  it("refuses an off-link gateway with the L2 explanation", () => {
    assert.throws(
      () => add("1.1.4.0/24", "10.0.16.7"),
      (e) =>
        e instanceof InputError &&
        /not on a directly connected network: host-gw needs the hosts to share an L2 segment/.test(
          e.message,
        ),
    );
  });

  it("refuses this host's own address, another device, the wrong family and the whole space", () => {
    assert.throws(() => add("1.1.4.0/24", "10.0.12.11"), /this host's own address/);
    assert.throws(() => add("1.1.4.0/24", "10.0.12.9", "cni0"), /is on eth0 .*not on cni0/);
    assert.throws(() => add("1.1.4.0/24", "fd00:12::7"), /IPv6 but subnet 1\.1\.4\.0\/24 is IPv4/);
    assert.throws(() => add("fd00:4::/64", "10.0.12.9"), /IPv4 but subnet fd00:4::\/64 is IPv6/);
    assert.throws(() => add("0.0.0.0/0", "10.0.12.9"), /whole address space/);
  });

  it("refuses subnets that collide with local networks, and will not replace an admin's route", () => {
    assert.throws(
      () => add("1.1.1.0/24", "10.0.12.9"),
      /overlaps 1\.1\.1\.0\/24 \(address on cni0\)/,
    );
    assert.throws(() => add("1.1.0.0/16", "10.0.12.9"), InputError);
    assert.throws(
      () => add("1.1.3.0/24", "10.0.12.9"),
      (e) =>
        e instanceof HgError && !(e instanceof InputError) && /hg did not make/.test(e.message),
    );
  });
});

describe("planPeerRemove", () => {
  it("removes exactly hg's route", () => {
    assert.deepEqual(renderPlan(planPeerRemove(capturedHost(), parsePrefix("1.1.2.0/24"))), [
      "ip route del 1.1.2.0/24 proto 104",
    ]);
  });

  it("refuses a subnet hg has no route for, even when an admin route exists", () => {
    assert.throws(
      () => planPeerRemove(capturedHost(), parsePrefix("1.1.3.0/24")),
      /no hg route to 1\.1\.3\.0\/24/,
    );
  });
});
