/**
 * One `ip -j route show table all` dump, sorted into the lists a snapshot holds: IPv4 table
 * main, IPv6 table main, and IPv4's other tables. One pass over the entries as ip printed them,
 * with no per-entry wrapper: a host with 10,000 peer routes has 10,000 entries, and the checks
 * type each list once (snapshot.ts).
 *
 * @module
 */
import { IpOutputError } from "./output_error.ts";

/** The entries of one dump, by list. */
export interface RouteDump {
  /** IPv4 routes of table main (ip prints no table for main without `-d`). */
  readonly main: unknown[];
  /** IPv6 routes of table main. */
  readonly main6: unknown[];
  /** IPv4 routes of every other table (local, default, policy routing's), as printed. */
  readonly others: unknown[];
}

const v6 = (value: unknown) => typeof value === "string" && value.includes(":");

/**
 * Whether an entry is an IPv6 route: ip prints `pref` for every IPv6 route, and an IPv6
 * destination, gateway, source or next hop otherwise says it.
 */
function isIpv6(r: Record<string, unknown>): boolean {
  if ("pref" in r || v6(r.dst) || v6(r.gateway) || v6(r.prefsrc)) return true;
  const hops = r.nexthops;
  // A malformed list is the route parser's to refuse, with its message.
  return Array.isArray(hops) &&
    hops.some((n) => typeof n === "object" && n !== null && v6(n.gateway));
}

/**
 * Whether ip's `table` field (absent without `-d`) names table main.
 *
 * @example
 * ```ts
 * [inMain(undefined), inMain("main"), inMain("254"), inMain("local")]; // [true, true, true, false]
 * ```
 */
export const inMain = (table: unknown): boolean =>
  table === undefined || table === "main" || table === "254" || table === 254;

/**
 * Sorts the entries of `ip -N -j route show table all` (with or without `-d`) into IPv4 main,
 * IPv6 main and IPv4's other tables; IPv6 routes of other tables are not kept (doctor follows
 * IPv6 by table main alone). An entry that is not an object is refused.
 *
 * @example
 * ```ts
 * const dump = splitRouteDump([
 *   { dst: "1.1.2.0/24", gateway: "10.0.12.12", dev: "eth0", flags: [] },
 *   { dst: "fe80::/64", dev: "eth0", metric: 256, flags: [], pref: "medium" },
 *   { type: "local", dst: "10.0.12.11", table: "local", dev: "eth0", flags: [] },
 * ]);
 * [dump.main.length, dump.main6.length, dump.others.length]; // [1, 1, 1]
 * ```
 */
export function splitRouteDump(entries: readonly unknown[]): RouteDump {
  const main: unknown[] = [];
  const main6: unknown[] = [];
  const others: unknown[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new IpOutputError("ip printed a route entry that is not an object");
    }
    const r = entry as Record<string, unknown>;
    const { dst, gateway } = r;
    // The common shape first, in place: an IPv4 destination, at most an IPv4 gateway, nothing
    // that could say IPv6 (the same answer as isIpv6, without its calls per route).
    if (
      typeof dst === "string" && dst.indexOf(":") < 0 &&
      (gateway === undefined || (typeof gateway === "string" && gateway.indexOf(":") < 0)) &&
      r.prefsrc === undefined && r.nexthops === undefined && !("pref" in r)
    ) {
      // Without -d ip prints no table for main: the test of inMain, in place.
      const table = r.table;
      (table === undefined || inMain(table) ? main : others).push(r);
    } else if (isIpv6(r)) {
      if (inMain(r.table)) main6.push(r);
    } else (inMain(r.table) ? main : others).push(r);
  }
  return { main, main6, others };
}
