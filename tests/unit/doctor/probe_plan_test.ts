/**
 * Which neighbour entries the probe forgets before its echoes when their resolution is under
 * way or failed: this host's next hop (as before), and the destination's host's entry for the
 * destination when that host is watched (a peer namespace, or this host for a container of its
 * own); none for a destination whose host the probe cannot see.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { doctorContext } from "../../../lib/doctor/context.ts";
import { probePlan } from "../../../lib/doctor/probe_plan.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { readProbeFixture } from "../../support/probe_fixture.ts";

const fixtures = new URL("../../fixtures/doctor/", import.meta.url);
const probeFixture = readProbeFixture(
  readFileSync(new URL("vxlan-probe/healthy.json", fixtures), "utf8"),
);

describe("the probe's plan: neighbour entries to start afresh", () => {
  const here = doctorContext(parseSnapshot(probeFixture.here));
  const peer = doctorContext(parseSnapshot(probeFixture.peer));
  const from = here.containers.find((c) => c.name === probeFixture.from)!;
  const to = parseAddress(probeFixture.to);

  it("a destination on a watched peer host: that host's entry for it, on its bridge", () => {
    const plan = probePlan(here, from, to, { netns: probeFixture.peerNetns, ctx: peer });
    assert.deepEqual(plan.lastHop, {
      netns: probeFixture.peerNetns,
      address: probeFixture.to,
      dev: peer.obs.bridge,
    });
    assert.ok(plan.nextHop, "this host's next hop as before");
  });

  it("a destination whose host is not watched: none", () => {
    const plan = probePlan(here, from, to);
    assert.equal(plan.lastHop, undefined);
  });

  it("a container of this host: this host's own entry for it (no namespace to enter)", () => {
    const doc = JSON.parse(readFileSync(new URL("cni-healthy.json", fixtures), "utf8"));
    const host = doctorContext(parseSnapshot(doc));
    const [a, b] = host.containers.filter((c, i, all) =>
      all.findIndex((d) => d.address.value === c.address.value) === i
    );
    const plan = probePlan(host, a, b.address);
    assert.deepEqual(plan.lastHop, { address: formatAddress(b.address), dev: host.obs.bridge });
  });
});
