/** The route lookup doctor does on a captured table, checked against what the kernel does. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lookupRoute } from "../../../lib/doctor/lookup.ts";
import { formatRoute, parseRoutes } from "../../../lib/ip/route.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseAddress } from "../../../lib/net/address.ts";

const host = {
  links: [],
  forwarding: true,
  addresses: parseAddresses(JSON.stringify([{
    ifindex: 2,
    ifname: "eth0",
    mtu: 1500,
    flags: ["UP"],
    addr_info: [{ family: "inet", local: "10.0.12.11", prefixlen: 22, scope: "global" }],
  }])),
  routes: parseRoutes(
    JSON.stringify([
      { dst: "default", gateway: "10.0.12.1", dev: "eth0", flags: [] },
      { dst: "1.1.0.0/16", gateway: "10.0.12.1", dev: "eth0", flags: [] },
      {
        dst: "1.1.2.0/24",
        gateway: "10.0.12.12",
        dev: "eth0",
        protocol: "104",
        metric: 100,
        flags: [],
      },
      { dst: "1.1.2.0/24", gateway: "10.0.12.13", dev: "eth0", metric: 20, flags: [] },
      { type: "blackhole", dst: "1.1.3.0/24", flags: [] },
      { dst: "10.0.12.0/22", dev: "eth0", protocol: "kernel", scope: "link", flags: [] },
    ]),
    4,
  ),
};

const pick = (to: string) => {
  const found = lookupRoute(host, parseAddress(to));
  return found.kind === "route" || found.kind === "rejected"
    ? `${found.kind} ${formatRoute(found.route)}`
    : found.kind;
};

describe("route lookup", () => {
  it("longest prefix, then the lowest metric; rejecting types; local addresses", () => {
    assert.equal(pick("1.1.2.2"), "route 1.1.2.0/24 via 10.0.12.13 dev eth0 metric 20");
    assert.equal(pick("1.1.9.9"), "route 1.1.0.0/16 via 10.0.12.1 dev eth0");
    assert.equal(pick("8.8.8.8"), "route default via 10.0.12.1 dev eth0");
    assert.equal(pick("1.1.3.1"), "rejected blackhole 1.1.3.0/24");
    assert.equal(pick("10.0.12.11"), "local");
    assert.equal(lookupRoute({ ...host, routes: [] }, parseAddress("1.1.2.2")).kind, "none");
  });
});
