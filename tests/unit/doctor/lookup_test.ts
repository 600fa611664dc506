/**
 * The route lookup doctor does on captured rules and tables, checked against what the kernel
 * answered for the same packets (`ip route get DST from SRC iif IIF` in the namespace that
 * tests/fixtures/policy/make_lookup.sh builds): every kind of rule, selector and route type.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  followRules,
  type Lookup,
  lookupRoute,
  routingOf,
  withoutPolicy,
} from "../../../lib/doctor/lookup.ts";
import type { Observation } from "../../../lib/doctor/observation.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { formatRoute, parseRoutes, parseRouteTables } from "../../../lib/ip/route.ts";
import { parseRules } from "../../../lib/ip/rule.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";

const doc = JSON.parse(
  readFileSync(new URL("../../fixtures/policy/lookup.json", import.meta.url), "utf8"),
);

/** The namespace as an observation (only what lookups read). */
function observed(rules: unknown[] = doc.rules, extra: Partial<Observation> = {}): Observation {
  const routeTables = parseRouteTables(doc.routeTables);
  return {
    takenAt: "2026-01-01T00:00:00Z",
    bridge: "cni0",
    host: {
      links: [],
      addresses: parseAddresses(doc.addr),
      routes: routeTables.filter((r) => r.table === 254),
      neighbours: [],
      fdb: [],
      forwarding: true,
      forwarding6: false,
    },
    neighbours: [],
    rules: parseRules(rules),
    routeTables,
    sysctl: new Map(),
    firewall: { notes: [] },
    containers: [],
    ...extra,
  };
}

/** The kernel's answer in the words of a lookup. */
function kernelSays(c: { kernel?: Record<string, string>[]; error?: string }): string {
  if (c.error) {
    // blackhole: EINVAL; unreachable route: EHOSTUNREACH; unreachable rule or no route:
    // ENETUNREACH; prohibit: EACCES.
    if (/Invalid argument/.test(c.error)) return "rejected blackhole";
    if (/No route to host/.test(c.error)) return "rejected unreachable";
    if (/Network is unreachable/.test(c.error)) return "rejected unreachable";
    if (/Permission denied/.test(c.error)) return "rejected prohibit";
    return c.error;
  }
  const k = c.kernel![0];
  if (k.type === "local") return "local";
  return `route ${k.gateway ? `via ${k.gateway} ` : ""}dev ${k.dev}`;
}

function doctorSays(l: Lookup): string {
  switch (l.kind) {
    case "local":
      return "local";
    case "route":
      return `route ${
        l.route.gateway ? `via ${formatAddress(l.route.gateway)} ` : ""
      }dev ${l.route.dev}`;
    case "rejected":
      return `rejected ${l.route ? l.route.type : l.rule!.action.kind}`;
    case "none":
      return "rejected unreachable";
    case "undecided":
      return "undecided";
  }
}

describe("followRules, against the kernel's answers", () => {
  const routing = routingOf(observed());
  for (const c of doc.cases) {
    it(`${c.dst} from ${c.src} iif ${c.iif}: ${kernelSays(c)}`, () => {
      const found = followRules(routing, {
        dst: parseAddress(c.dst),
        src: parseAddress(c.src),
        iif: c.iif,
      });
      assert.equal(doctorSays(found), kernelSays(c));
    });
  }

  it("without the policy rules, table main decides", () => {
    const main = withoutPolicy(routing);
    const to = (dst: string) =>
      doctorSays(
        followRules(main, { dst: parseAddress(dst), src: parseAddress("1.1.1.2"), iif: "cni0" }),
      );
    assert.equal(to("1.1.4.2"), "route via 10.0.12.1 dev eth0");
    assert.equal(to("1.1.8.2"), "route via 10.0.12.1 dev eth0");
    assert.equal(to("1.1.2.2"), "route via 10.0.12.12 dev eth0");
  });
});

describe("followRules, what doctor cannot know", () => {
  const packet = { dst: parseAddress("1.1.2.2"), src: parseAddress("1.1.1.2"), iif: "cni0" };
  const with_ = (rule: Record<string, unknown>) =>
    followRules(routingOf(observed([...doc.rules, rule])), packet);

  it("a selector it does not model that could match: undecided when the ways differ", () => {
    const found = with_({ priority: 5, src: "all", tun_id: 5, action: "blackhole" });
    assert.equal(found.kind, "undecided");
    assert.deepEqual(
      found.kind === "undecided" ? found.outcomes.map(doctorSays) : [],
      ["rejected blackhole", "route via 10.0.12.12 dev eth0"],
    );
  });

  it("and decided when both ways end alike", () => {
    const found = with_({ priority: 5, src: "all", tun_id: 5, table: "254" });
    assert.equal(doctorSays(found), "route via 10.0.12.12 dev eth0");
  });

  it("fwmark rules are undecided when the firewall sets marks", () => {
    const marking = observed([...doc.rules, {
      priority: 5,
      src: "all",
      fwmark: "0x1",
      action: "blackhole",
    }], {
      firewall: {
        notes: [],
        iptables: {
          chains: new Map([["FORWARD", {
            rules: [{ text: "-A FORWARD -j MARK --set-mark 1", target: "MARK", goto: false }],
          }]]),
        },
      },
    });
    assert.equal(followRules(routingOf(marking), packet).kind, "undecided");
    const plain = observed([...doc.rules, {
      priority: 5,
      src: "all",
      fwmark: "0x1",
      action: "blackhole",
    }]);
    assert.equal(
      doctorSays(followRules(routingOf(plain), packet)),
      "route via 10.0.12.12 dev eth0",
    );
  });

  it("a packet of unknown source meets from-rules both ways", () => {
    const found = followRules(routingOf(observed()), { dst: parseAddress("1.1.8.2"), iif: "cni0" });
    assert.equal(found.kind, "undecided");
  });
});

describe("lookupRoute (table main alone)", () => {
  const host = {
    links: [],
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: false,
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
        { dst: "1.1.4.0/24", gateway: "10.0.12.14", dev: "eth0", tos: "0x10", flags: [] },
        { type: "blackhole", dst: "1.1.3.0/24", flags: [] },
        { dst: "10.0.12.0/22", dev: "eth0", protocol: "kernel", scope: "link", flags: [] },
      ]),
      4,
    ),
  };
  const pick = (to: string) => {
    const found = lookupRoute(host, parseAddress(to));
    return found.kind === "route" || found.kind === "rejected"
      ? `${found.kind} ${formatRoute(found.route!)}`
      : found.kind;
  };

  it("longest prefix, then the lowest metric; rejecting types; TOS routes; local addresses", () => {
    assert.equal(pick("1.1.2.2"), "route 1.1.2.0/24 via 10.0.12.13 dev eth0 metric 20");
    assert.equal(pick("1.1.9.9"), "route 1.1.0.0/16 via 10.0.12.1 dev eth0");
    assert.equal(
      pick("1.1.4.2"),
      "route 1.1.0.0/16 via 10.0.12.1 dev eth0",
      "a TOS route carries only its TOS",
    );
    assert.equal(pick("8.8.8.8"), "route default via 10.0.12.1 dev eth0");
    assert.equal(pick("1.1.3.1"), "rejected blackhole 1.1.3.0/24");
    assert.equal(pick("10.0.12.11"), "local");
    assert.equal(lookupRoute({ ...host, routes: [] }, parseAddress("1.1.2.2")).kind, "none");
  });
});
