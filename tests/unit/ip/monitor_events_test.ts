/**
 * readEvents (lib/ip/monitor.ts): which `ip -ts monitor label link address route neigh` reports
 * name only hg's routes, from lines captured on this machine (iproute2 6.1, a scratch namespace:
 * `ip route replace/add/del ... proto 104`, an IPv6 address and its kernel routes, a multipath
 * route). Only such a report can be the echo of the agent's own change; everything else makes it
 * look at the host again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readEvents } from "../../../lib/ip/monitor.ts";

const CAPTURED = [
  "[2026-12-01T16:11:31.069336] [ROUTE]1.1.2.0/24 via 10.9.0.2 dev d0 proto 104 onlink ",
  "[2026-12-01T16:11:31.072527] [ROUTE]1.1.2.0/24 via 10.9.0.3 dev d0 proto 104 onlink ",
  "[2026-12-01T16:11:31.075829] [ROUTE]1.1.3.7 via 10.9.0.2 dev d0 proto 104 onlink ",
  "[2026-12-01T16:11:31.078670] [ROUTE]fd00::/64 dev d0 proto kernel metric 256 pref medium",
  "[2026-12-01T16:11:31.078736] [ADDR]3: d0    inet6 fd00::1/64 scope global nodad ",
  "       valid_lft forever preferred_lft forever",
  "[2026-12-01T16:11:31.078778] [ROUTE]local fd00::1 dev d0 table local proto kernel metric 0 pref medium",
  "[2026-12-01T16:11:31.081408] [ROUTE]fd00:1:2::/64 via fd00::2 dev d0 proto 104 metric 1024 pref medium",
  "[2026-12-01T16:11:31.084346] [ROUTE]Deleted 1.1.2.0/24 via 10.9.0.3 dev d0 proto 104 onlink ",
  "[2026-12-01T16:11:31.087209] [ROUTE]1.1.9.0/24 proto 104 ",
  "\tnexthop via 10.9.0.2 dev d0 weight 1 onlink ",
  "\tnexthop via 10.9.0.3 dev d0 weight 1 onlink ",
];
const line = (n: number) => [CAPTURED[n]];
const stamp = (text: string) => Date.parse(text); // local time, as ip prints it

describe("readEvents", () => {
  it("hg's routes set, replaced or deleted name their destinations (a host route with /32)", () => {
    assert.deepEqual(readEvents(line(0)), {
      at: stamp("2026-12-01T16:11:31.069") + 0.336,
      hgRoutes: ["1.1.2.0/24"],
    });
    assert.deepEqual(readEvents(line(8))?.hgRoutes, ["1.1.2.0/24"]);
    assert.deepEqual(readEvents(line(2))?.hgRoutes, ["1.1.3.7/32"]);
    assert.deepEqual(readEvents(line(7))?.hgRoutes, ["fd00:1:2::/64"]);
    // Several of them in one read: all named, the latest time.
    const several = readEvents([CAPTURED[0], CAPTURED[1], CAPTURED[8]]);
    assert.deepEqual(several?.hgRoutes, ["1.1.2.0/24", "1.1.2.0/24", "1.1.2.0/24"]);
    assert.equal(several?.at, stamp("2026-12-01T16:11:31.084") + 0.346);
  });

  it("anything else is a change that names nothing: the kernel's routes, an address, a multipath route", () => {
    for (const lines of [line(3), [CAPTURED[4], CAPTURED[5]], line(6), CAPTURED.slice(9, 12)]) {
      const change = readEvents(lines);
      assert.ok(change, lines.join("\n"));
      assert.equal(change.hgRoutes, undefined, lines.join("\n"));
    }
    // hg's route among others: the read names nothing.
    assert.equal(readEvents([CAPTURED[0], CAPTURED[3]])?.hgRoutes, undefined);
    // A route of proto 104 in another table is not one of hg's (they are in main).
    assert.equal(
      readEvents([
        "[2026-12-01T16:11:31.1] [ROUTE]1.1.2.0/24 via 10.9.0.2 dev d0 table 100 proto 104 ",
      ])
        ?.hgRoutes,
      undefined,
    );
    // Nor is a blackhole or unreachable route (its first word is its type).
    assert.equal(
      readEvents(["[2026-12-01T16:11:31.1] [ROUTE]blackhole 1.1.2.0/24 proto 104 "])?.hgRoutes,
      undefined,
    );
  });

  it("other devices' ARP news alone is no change; a VXLAN neighbour is one that names nothing", () => {
    const arp =
      "[2026-12-01T11:57:26.969859] [NEIGH]10.0.12.7 dev eth0 lladdr 0e:00:00:00:00:07 REACHABLE";
    const fdb =
      "[2026-12-01T11:57:26.5] [NEIGH]1.1.2.0 dev flannel.1 lladdr 0e:00:00:00:00:02 PERMANENT";
    assert.equal(readEvents([arp]), undefined);
    assert.equal(readEvents([]), undefined);
    assert.deepEqual(readEvents([arp, CAPTURED[0]])?.hgRoutes, ["1.1.2.0/24"]);
    assert.equal(readEvents([fdb])?.hgRoutes, undefined);
    assert.ok(readEvents([fdb]));
  });
});
