/**
 * `parseRoutes` builds the common route entry without JsonFields and reads every other one the
 * careful way: both give the same routes, and a bad entry is refused with the same message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatRoute, parseRoutes, parseRouteTables, type Route } from "../../../lib/ip/route.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";

/** Every field of a route, with absent ones as undefined, keys in the parser's order. */
function fields(r: Route): unknown[] {
  return [
    r.type,
    r.dst,
    r.gateway,
    r.dev,
    r.protocol,
    r.scope,
    r.metric,
    r.prefsrc,
    r.flags,
    r.table,
    r.tos,
    r.nexthops,
  ];
}

describe("parseRoutes on entries of every shape", () => {
  const entries = [
    // The common shapes (`ip -N -j` and `ip -N -d -j`).
    { dst: "1.1.2.0/24", gateway: "10.0.12.7", dev: "eth0", protocol: "104", flags: [] },
    {
      type: "1",
      dst: "1.1.2.0/24",
      gateway: "10.0.12.7",
      dev: "eth0",
      protocol: "104",
      scope: "0",
      flags: [],
    },
    {
      dst: "10.0.12.0/22",
      dev: "eth0",
      protocol: "2",
      scope: "253",
      prefsrc: "10.0.12.11",
      flags: [],
    },
    { dst: "1.1.3.0/24", gateway: "10.0.12.9", dev: "eth0", metric: 100, flags: ["onlink"] },
    // Names instead of numbers (`ip -j` without -N), and defaults.
    {
      type: "unicast",
      dst: "1.1.4.0/24",
      gateway: "10.0.12.4",
      protocol: "static",
      scope: "global",
    },
    { dst: "1.1.5.0/24", dev: "eth0", scope: "link", protocol: "kernel", flags: ["linkdown"] },
    // The careful way: default, a host route, numbers as strings, a table, a tos, next hops, nulls.
    { dst: "default", gateway: "10.0.12.1", dev: "eth0", flags: ["onlink"] },
    { dst: "1.1.6.7", dev: "eth0", protocol: "4", flags: [] },
    { dst: "1.1.7.0/24", gateway: "10.0.12.7", metric: "20", flags: [] },
    { dst: "1.1.8.0/24", gateway: "10.0.12.8", table: "100", flags: [] },
    { dst: "1.1.9.0/24", gateway: "10.0.12.9", tos: "0x10", flags: [] },
    {
      dst: "1.1.10.0/24",
      nexthops: [{ gateway: "10.0.12.1", dev: "eth0" }, { gateway: "10.0.12.2" }],
    },
    { dst: "1.1.11.0/24", gateway: null, dev: "eth0", flags: null },
    { type: "6", dst: "10.98.0.0/16", flags: [] },
    { type: "blackhole", dst: "10.99.0.0/16" },
    { dst: "1.1.12.0/024", gateway: "10.0.12.12", flags: [] },
    { dst: "1.1.13.5/24", gateway: "10.0.12.13", flags: [] },
    { dst: "1.1.14.0/24", gateway: "10.0.12.14", protocol: "0104", scope: "0253", flags: [] },
  ];

  it("reads the same routes one by one and all together", () => {
    const together = parseRoutes(JSON.stringify(entries), 4);
    const alone = entries.map((e) => parseRoutes([e], 4)[0]);
    assert.deepEqual(together, alone);
    assert.deepEqual(together.map(formatRoute), [
      "1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104",
      "1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104",
      "10.0.12.0/22 dev eth0 proto kernel scope link src 10.0.12.11",
      "1.1.3.0/24 via 10.0.12.9 dev eth0 metric 100 onlink",
      "1.1.4.0/24 via 10.0.12.4 proto static",
      "1.1.5.0/24 dev eth0 proto kernel scope link linkdown",
      "default via 10.0.12.1 dev eth0 onlink",
      "1.1.6.7/32 dev eth0 proto static",
      "1.1.7.0/24 via 10.0.12.7 metric 20",
      "1.1.8.0/24 via 10.0.12.8 table 100",
      "1.1.9.0/24 via 10.0.12.9 tos 0x10",
      "1.1.10.0/24 nexthop via 10.0.12.1 dev eth0 nexthop via 10.0.12.2",
      "1.1.11.0/24 dev eth0",
      "blackhole 10.98.0.0/16",
      "blackhole 10.99.0.0/16",
      "1.1.12.0/24 via 10.0.12.12",
      "1.1.13.0/24 via 10.0.12.13",
      "1.1.14.0/24 via 10.0.12.14 proto 104 scope link",
    ]);
  });

  it("reads a route of table main as ip -d and show table all print it as the careful way does", () => {
    // parseRouteTables reads every entry the careful way.
    for (const table of ["254", "main", 254]) {
      const entry = {
        type: "1",
        dst: "100.64.3.0/24",
        gateway: "10.9.0.2",
        dev: "d0",
        table,
        protocol: "104",
        scope: "0",
        flags: [],
      };
      const [fast] = parseRoutes([entry], 4);
      assert.deepEqual(fast, parseRouteTables([entry])[0]);
      assert.equal(fast.table, 254);
      assert.equal(formatRoute(fast), "100.64.3.0/24 via 10.9.0.2 dev d0 proto 104");
    }
  });

  it("builds a common route with every field, absent ones undefined", () => {
    const [r] = parseRoutes(
      '[{"dst":"1.1.2.0/24","gateway":"10.0.12.7","dev":"eth0","protocol":"104","flags":[]}]',
      4,
    );
    assert.deepEqual(fields(r), [
      "unicast",
      parsePrefix("1.1.2.0/24"),
      parseAddress("10.0.12.7"),
      "eth0",
      104,
      0,
      0,
      undefined,
      [],
      undefined,
      undefined,
      undefined,
    ]);
    assert.deepEqual(Object.keys(r), [
      "type",
      "dst",
      "gateway",
      "dev",
      "protocol",
      "scope",
      "metric",
      "prefsrc",
      "flags",
      "table", // undefined: not printed, so not table main's; one shape for every common route
    ]);
    assert.equal(r.table, undefined);
    assert.ok(Object.isFrozen(r.dst) && Object.isFrozen(r.dst.address));
  });

  it("refuses a bad entry with the message it always had", () => {
    const bad: [unknown, RegExp][] = [
      [{ dst: "1.1.2.0/24", protocol: "nonsense" }, /unknown protocol "nonsense"/],
      [{ dst: "1.1.2.0/24", scope: "far" }, /unknown scope "far"/],
      [{ dst: "1.1.2.0/24", type: "teleport" }, /unknown type "teleport"/],
      [{ dst: "1.1.2.0/24", gateway: 7 }, /"gateway" is not a string: 7/],
      [{ dst: "1.1.2.0/24", flags: "onlink" }, /"flags" is not a list of strings/],
      [{ dst: "1.1.2.0/24", metric: "x" }, /"metric" is not a number/],
      [{ dst: "1.1.2.0/24", gateway: "10.0.12.07" }, /leading zero/],
      [{ dst: 5 }, /"dst" is not a string/],
      [[{ dst: "1.1.2.0/24", protocol: "nonsense" }, 5], /entry that is not an object/],
    ];
    for (const [entry, message] of bad) {
      const list = Array.isArray(entry) ? entry : [entry];
      assert.throws(() => parseRoutes(JSON.stringify(list), 4), message, JSON.stringify(entry));
    }
  });
});
