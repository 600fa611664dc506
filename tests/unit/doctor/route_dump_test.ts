/**
 * Doctor's one route dump (`ip -N -j route show table all`, without `-d` since it is read beside
 * the session): sorted into IPv4 main, IPv6 main and IPv4's other tables as the listing split and
 * the IPv6 filter before it sorted them, and diagnosed the same with or without ip's `-d`
 * (which only adds what is the default). The container sysctls' grep lines, by full path.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { diagnose } from "../../../lib/doctor/diagnose.ts";
import { splitRouteDump } from "../../../lib/ip/route_dump.ts";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { parseSysctlLines } from "../../../lib/doctor/sysctls.ts";
import { IpOutputError } from "../../../lib/ip/output_error.ts";
import { type Doc, fixtureDocument } from "./fixture.ts";

const names = readdirSync(new URL("../../fixtures/doctor/", import.meta.url))
  .filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();

const v6 = (value: unknown) => typeof value === "string" && value.includes(":");
const inMain = (r: Doc) =>
  r.table === undefined || r.table === "main" || r.table === "254" || r.table === 254;

/** IPv4 table main and IPv4's other tables, as the listing split sorted them before (the reference). */
function ipv4TablesBefore(entries: readonly Doc[]): { main: Doc[]; others: Doc[] } {
  const ipv4 = entries.filter((r) =>
    !("pref" in r || v6(r.dst) || v6(r.gateway) || v6(r.prefsrc) ||
      (r.nexthops ?? []).some((n: Doc) => v6(n.gateway)))
  );
  return { main: ipv4.filter(inMain), others: ipv4.filter((r) => !inMain(r)) };
}

/** The IPv6 routes of table main as doctor's collector picked them before (the reference). */
function ipv6MainBefore(entries: readonly Doc[]): Doc[] {
  return entries.filter((r) => {
    const main = r.table === undefined || r.table === "main" || r.table === "254";
    return main && ("pref" in r || v6(r.dst) || v6(r.gateway));
  });
}

/** A route entry as `ip -N -j` prints it without `-d`: the defaults left out. */
function withoutDetails(entry: unknown): Doc {
  const r = entry as Doc;
  const out: Doc = { ...r };
  if (out.type === "1") delete out.type;
  if (out.table === "254") delete out.table;
  if (out.protocol === "3") delete out.protocol;
  if (out.scope === "0") delete out.scope;
  return out;
}

describe("splitRouteDump", () => {
  // Older snapshots hold the whole `ip -N -d -j route show table all` in routeTables.
  const dumps = names.map((name) => ({ name, doc: fixtureDocument(name) as Doc }))
    .filter(({ doc }) => doc.host.routeTables?.some((r: Doc) => "pref" in r));

  it("sorts captured dumps as the listing split and the IPv6 filter did", () => {
    assert.ok(dumps.length >= 10, `${dumps.length} captured dumps of every table`);
    for (const { name, doc } of dumps) {
      const entries = doc.host.routeTables as Doc[];
      const { main, main6, others } = splitRouteDump(entries);
      const before = ipv4TablesBefore(entries);
      assert.deepEqual(main, before.main, name);
      assert.deepEqual(others, before.others, name);
      assert.deepEqual(main6, ipv6MainBefore(entries), name);
      assert.ok(main.length > 0 && main6.length > 0 && others.length > 0, name);
    }
  });

  it("sorts the same entries printed without -d the same way", () => {
    for (const { name, doc } of dumps) {
      const entries = doc.host.routeTables as Doc[];
      const plain = splitRouteDump(entries.map(withoutDetails));
      const detailed = splitRouteDump(entries);
      assert.deepEqual(plain.main, detailed.main.map(withoutDetails), name);
      assert.deepEqual(plain.main6, detailed.main6.map(withoutDetails), name);
      assert.deepEqual(plain.others, detailed.others.map(withoutDetails), name);
    }
  });

  it("takes odd but valid entries: table main by name or number, an IPv6 multipath route", () => {
    const hops = { dst: "fd00:2::/64", nexthops: [{ gateway: "fd00:12::12", dev: "eth0" }] };
    const { main, main6, others } = splitRouteDump([
      { dst: "1.1.2.0/24", gateway: "10.0.12.12", table: "main", flags: [] },
      { dst: "1.1.3.0/24", gateway: "10.0.12.13", table: 254, flags: [] },
      { dst: "default", nexthops: [{ gateway: "10.0.12.1", dev: "eth0" }], flags: [] },
      hops,
      { dst: "fd00:3::/64", table: "100", pref: "medium", flags: [] },
      { dst: "1.1.4.0/24", gateway: "10.0.12.14", table: "100", flags: [] },
    ]);
    assert.deepEqual(main.map((r) => (r as Doc).dst), ["1.1.2.0/24", "1.1.3.0/24", "default"]);
    assert.deepEqual(main6, [hops]);
    assert.deepEqual(others.map((r) => (r as Doc).dst), ["1.1.4.0/24"]);
  });

  it("refuses an entry that is not an object", () => {
    assert.throws(() => splitRouteDump([{ dst: "1.1.2.0/24" }, "1.1.3.0/24"]), IpOutputError);
    assert.throws(() => splitRouteDump([null]), IpOutputError);
  });
});

describe("routes printed without -d", () => {
  it("give every captured host the same diagnosis", () => {
    for (const name of names) {
      const doc = fixtureDocument(name) as Doc;
      const plain = structuredClone(doc);
      const strip = (list?: Doc[]) => list?.map(withoutDetails);
      plain.host.route = strip(plain.host.route);
      plain.host.route6 = strip(plain.host.route6);
      plain.host.routeTables = strip(plain.host.routeTables);
      for (const c of plain.containers as Doc[]) {
        if (!c.capture) continue;
        c.capture.route = strip(c.capture.route);
        c.capture.route6 = strip(c.capture.route6);
      }
      assert.notDeepEqual(plain, doc, `${name}: some entry printed a default`);
      assert.deepEqual(diagnose(parseSnapshot(plain)), diagnose(parseSnapshot(doc)), name);
    }
  });
});

describe("parseSysctlLines", () => {
  it("reads grep's lines by full path as by path under /proc/sys/net", () => {
    const full = parseSysctlLines(
      "/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/ipv4/conf/eth0.100/rp_filter:2\n" +
        "/proc/sys/net/ipv6/conf/all/disable_ipv6:0\n",
    );
    const relative = parseSysctlLines(
      "ipv4/ip_forward:1\nipv4/conf/eth0.100/rp_filter:2\nipv6/conf/all/disable_ipv6:0\n",
    );
    assert.deepEqual(full, relative);
    assert.deepEqual([...full], [
      ["net.ipv4.ip_forward", "1"],
      ["net.ipv4.conf.eth0.100.rp_filter", "2"],
      ["net.ipv6.conf.all.disable_ipv6", "0"],
    ]);
  });
});
