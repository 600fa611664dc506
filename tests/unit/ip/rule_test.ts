/**
 * parseRules on `ip -j rule` and `ip -N -j rule` output captured from a namespace holding one
 * rule of each kind iproute2 can add; parseRouteTables on `ip -N -d -j route show table all`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { IpOutputError } from "../../../lib/ip/output_error.ts";
import { formatRoute, parseRouteTables } from "../../../lib/ip/route.ts";
import { DEFAULT_RULES, isDefaultRule, parseRules } from "../../../lib/ip/rule.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), "utf8");

describe("parseRules (captured `ip -j rule`, names and numbers)", () => {
  const named = parseRules(fixture("rule_selectors.json"));
  const numeric = parseRules(fixture("rule_selectors_numeric.json"));
  const byPriority = (p: number) => named.find((r) => r.priority === p)!;

  it("reads the same rules from either form", () => {
    assert.deepEqual(numeric, named);
    assert.equal(named.length, 25);
  });

  it("selectors: prefixes, interfaces, marks, tos, protocol, ports, uids", () => {
    const r = byPriority(100);
    assert.equal(formatPrefix(r.from!), "1.1.0.0/16");
    assert.equal(formatPrefix(r.to!), "1.1.2.0/24");
    assert.equal(r.iif, "d0");
    assert.equal(r.iifDetached, true, "the device did not exist");
    assert.deepEqual(r.action, { kind: "lookup", table: 100 });
    assert.deepEqual(byPriority(101).fwmark, { mark: 0x10, mask: 0xff });
    assert.deepEqual(byPriority(112).fwmark, { mark: 5, mask: 0xffffffff });
    assert.equal(byPriority(102).not, true);
    assert.equal(byPriority(102).tos, 0x10);
    assert.deepEqual(byPriority(102).action, { kind: "lookup", table: 254 });
    const ports = byPriority(103);
    assert.equal(ports.ipproto, 6);
    assert.deepEqual(ports.sport, { start: 1000, end: 1000 });
    assert.deepEqual(ports.dport, { start: 80, end: 90 });
    assert.deepEqual(byPriority(104).uidrange, { start: 100, end: 200 });
    assert.equal(byPriority(105).oif, "d0");
    assert.equal(byPriority(115).ipproto, 1);
    assert.equal(byPriority(120).from?.length, 32);
  });

  it("actions: lookup, blackhole, unreachable, prohibit, goto, nop, l3mdev", () => {
    assert.deepEqual(byPriority(104).action, { kind: "blackhole" });
    assert.deepEqual(byPriority(105).action, { kind: "unreachable" });
    assert.deepEqual(byPriority(106).action, { kind: "prohibit" });
    assert.deepEqual(byPriority(107).action, { kind: "goto", target: 32766, unresolved: false });
    assert.deepEqual(byPriority(108).action, { kind: "nop" });
    assert.equal(byPriority(109).suppressPrefixLength, 0);
    assert.equal(byPriority(111).l3mdev, true);
  });

  it("keeps what it does not model as unmodeled selectors", () => {
    assert.deepEqual(byPriority(114).unmodeled, ["suppress_ifgroup 3"]);
    assert.deepEqual(byPriority(117).unmodeled, ["tun_id 5"]);
    assert.deepEqual(byPriority(118).unmodeled, ["flow_to 3"]);
    assert.deepEqual(byPriority(122).unmodeled, ["masquerade"]);
    assert.deepEqual(byPriority(121).unmodeled, [], "a rule's protocol is no selector");
    assert.deepEqual(byPriority(100).unmodeled, []);
  });

  it("prints each rule as ip rule does", () => {
    assert.equal(
      byPriority(100).text,
      "100: from 1.1.0.0/16 to 1.1.2.0/24 iif d0 [detached] lookup 100",
    );
    assert.equal(byPriority(101).text, "101: from all fwmark 0x10/0xff lookup 101");
    assert.equal(byPriority(102).text, "102: not from 1.2.3.4 tos 0x10 lookup main");
    assert.equal(byPriority(107).text, "107: from all goto 32766");
    assert.equal(byPriority(109).text, "109: from all lookup main suppress_prefixlength 0");
  });

  it("knows the three default rules, by name or number", () => {
    assert.deepEqual(named.filter(isDefaultRule).map((r) => r.priority), [0, 32766, 32767]);
    assert.deepEqual(numeric.filter(isDefaultRule).map((r) => r.priority), [0, 32766, 32767]);
    assert.equal(DEFAULT_RULES.length, 3);
    assert.equal(isDefaultRule(byPriority(113)), false, "a second local lookup is not a default");
  });

  it("refuses what it cannot read", () => {
    assert.throws(() => parseRules('[{"priority":5,"src":"all","table":"custom"}]'), IpOutputError);
    assert.throws(() => parseRules('[{"priority":5,"src":"all"}]'), /action/);
    assert.throws(
      () => parseRules('[{"priority":5,"src":"all","fwmark":"x","table":"1"}]'),
      /fwmark/,
    );
  });
});

describe("parseRouteTables (captured `ip -N -d -j route show table all`)", () => {
  const doc = JSON.parse(readFileSync(
    new URL("../../fixtures/policy/lookup.json", import.meta.url),
    "utf8",
  ));
  const routes = parseRouteTables(doc.routeTables);

  it("keeps the IPv4 routes of every table, each with its table", () => {
    assert.ok(routes.every((r) => r.dst.address.family === 4));
    assert.ok(doc.routeTables.some((r: { dst: string }) => r.dst.includes(":")), "IPv6 was there");
    const tables = new Set(routes.map((r) => r.table));
    assert.deepEqual([...tables].sort((a, b) => a! - b!), [100, 102, 254, 255]);
    assert.ok(routes.some((r) => formatRoute(r) === "throw 1.1.3.0/24 table 100"));
    assert.ok(
      routes.some((r) => formatRoute(r) === "1.1.7.0/24 via 10.0.12.17 dev eth0 table 102"),
    );
  });
});
