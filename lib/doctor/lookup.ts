/**
 * The route the kernel picks, worked out from captured rules and tables: what `ip route get`
 * answers, on a snapshot from another machine. The policy rules are followed the way the kernel
 * follows them (by priority; a lookup that finds nothing, or a `throw` route, or a result its
 * rule suppresses, goes on with the next rule; `goto`, `nop`, and the rules that blackhole,
 * refuse or prohibit), each table by longest prefix, then the lowest metric. A rule with a
 * selector doctor does not model, which could match, makes both ways count: when they end
 * differently the answer is "undecided", never a guess.
 *
 * The packet is an IPv4 ICMP echo (a ping) with TOS 0, uid 0 and mark 0, as a container's
 * forwarded ping is (unless the firewall sets marks: then fwmark rules are undecided).
 * Kernel facts this relies on, measured in namespaces: port selectors never match ICMP (port
 * ranges start at 1); `uidrange` rules see uid 0 for forwarded packets; `oif` rules never match
 * a packet that arrives on an interface.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { formatRoute, type Route } from "../ip/route.ts";
import { DEFAULT_RULES, type Rule } from "../ip/rule.ts";
import { TABLE_LOCAL, TABLE_MAIN } from "../ip/table.ts";
import { addressEquals, type IpAddress } from "../net/address.ts";
import { prefixContains } from "../net/prefix.ts";
import { isLocalAddress } from "../peers/onlink.ts";
import type { Observation } from "./observation.ts";
import { networkKey } from "./route_index.ts";

/** Where the kernel sends a packet. */
export type Lookup =
  /** Delivered to this host (a local or broadcast route). */
  | { readonly kind: "local"; readonly rule?: Rule }
  | { readonly kind: "route"; readonly route: Route; readonly rule?: Rule }
  /**
   * Refused: a blackhole, unreachable or prohibit route (`route`), or a rule with that action
   * (`rule` without `route`).
   */
  | { readonly kind: "rejected"; readonly route?: Route; readonly rule?: Rule }
  /** No rule's table has a route: "Network is unreachable". */
  | { readonly kind: "none" }
  /**
   * Rules doctor does not model could match, and the ways the packet then takes end
   * differently (`outcomes`, each one it may take).
   */
  | {
    readonly kind: "undecided";
    readonly rules: readonly Rule[];
    readonly outcomes: readonly Lookup[];
  };

/** The packet whose route is looked up. */
export interface RoutedPacket {
  readonly dst: IpAddress;
  /** Its source; undefined: any (a `from` rule could then match or not). */
  readonly src?: IpAddress;
  /** The interface it arrives on; `lo` for one this host sends itself. */
  readonly iif: string;
}

/** Routes of one table by prefix length, for lookups that do not grow with the table. */
interface TableIndex {
  /** Prefix lengths present, longest first. */
  readonly lengths: readonly number[];
  readonly byLength: ReadonlyMap<number, ReadonlyMap<number | bigint, readonly Route[]>>;
}

/** Everything a lookup reads: the rules, the tables, and what decides some selectors. */
export interface Routing {
  readonly rules: readonly Rule[];
  readonly tables: ReadonlyMap<number, TableIndex>;
  /** No local table was captured: this host's addresses stand for it. */
  readonly host?: HostState;
  /** Interfaces enslaved to a VRF (`l3mdev` rules match their packets). */
  readonly vrfPorts: ReadonlySet<string>;
  /** The firewall may set packet marks: `fwmark` rules cannot be decided. */
  readonly marksSet: boolean;
}

// Keys of both families share a map (route_index.ts: numbers for IPv4, bigints for IPv6).

function indexTable(routes: readonly Route[]): TableIndex {
  const byLength = new Map<number, Map<number | bigint, Route[]>>();
  for (const r of routes) {
    let map = byLength.get(r.dst.length);
    if (!map) byLength.set(r.dst.length, map = new Map());
    const key = networkKey(r.dst.address, r.dst.length);
    const list = map.get(key);
    if (list) list.push(r);
    else map.set(key, [r]);
  }
  return { lengths: [...byLength.keys()].sort((a, b) => b - a), byLength };
}

/** Whether the kernel can use the route for a TOS-0 unicast packet. */
function usable(r: Route): boolean {
  return r.type !== "multicast" && r.type !== "nat" && !r.flags.includes("dead") && !r.tos;
}

/** The route a table gives `dst`: longest prefix, then the lowest metric. */
function lookupIn(index: TableIndex, dst: IpAddress): Route | undefined {
  for (const length of index.lengths) {
    const candidates = index.byLength.get(length)!.get(networkKey(dst, length));
    if (!candidates) continue;
    let best: Route | undefined;
    for (const r of candidates) {
      if (r.dst.address.family !== dst.family) continue;
      if (usable(r) && (!best || r.metric < best.metric)) best = r;
    }
    if (best) return best;
  }
  return undefined;
}

const tableCache = new WeakMap<readonly Route[], TableIndex>();

function cachedIndex(routes: readonly Route[]): TableIndex {
  let index = tableCache.get(routes);
  if (!index) tableCache.set(routes, index = indexTable(routes));
  return index;
}

const routingCache = new WeakMap<Observation, Routing>();

/** Whether the firewall has rules that set a packet's mark (then fwmark rules may match). */
function firewallSetsMarks(obs: Observation): boolean {
  const nft =
    obs.firewall.nft?.chains.some((c) =>
      c.rules.some((r) => /"mangle"/.test(r.text) && /"mark"/.test(r.text))
    ) ?? false;
  const iptables = [...obs.firewall.iptables?.chains.values() ?? []].some((c) =>
    c.rules.some((r) => r.target === "MARK" || r.target === "CONNMARK")
  );
  return nft || iptables;
}

/** Every captured table, indexed. */
function indexTables(obs: Observation): ReadonlyMap<number, TableIndex> {
  const byTable = new Map<number, Route[]>();
  // routeTables holds the other tables (older snapshots: main too, then taken from there).
  const all = obs.routeTables === undefined
    ? obs.host.routes
    : obs.routeTables.some((r) => r.table === TABLE_MAIN)
    ? obs.routeTables
    : [...obs.host.routes, ...obs.routeTables];
  for (const r of all) {
    const table = r.table ?? TABLE_MAIN;
    const list = byTable.get(table);
    if (list) list.push(r);
    else byTable.set(table, [r]);
  }
  return new Map([...byTable].map(([t, routes]) => [t, indexTable(routes)]));
}

/**
 * The rules and tables of an observed host, indexed once (and kept for the observation).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { Observation } from "./observation.ts";
 * declare const observation: Observation;
 * const [src, dst] = [parseAddress("1.1.1.2"), parseAddress("1.1.2.2")];
 * const found = followRules(routingOf(observation), { dst, src, iif: "cni0" });
 * ```
 */
export function routingOf(obs: Observation): Routing {
  const cached = routingCache.get(obs);
  if (cached) return cached;
  const vrfs = new Set(obs.host.links.filter((l) => l.kind === "vrf").map((l) => l.ifname));
  let tables: ReadonlyMap<number, TableIndex> | undefined;
  const routing: Routing = {
    rules: [...(obs.rules ?? DEFAULT_RULES)].sort((a, b) => a.priority - b.priority),
    // Indexed when a lookup first needs them: a whole-host diagnosis without policy rules
    // (or arp_filter) never follows a packet.
    get tables() {
      return tables ??= indexTables(obs);
    },
    ...(obs.routeTables === undefined ? { host: obs.host } : {}),
    vrfPorts: new Set(
      obs.host.links.filter((l) => l.master && vrfs.has(l.master)).map((l) => l.ifname),
    ),
    marksSet: firewallSetsMarks(obs),
  };
  routingCache.set(obs, routing);
  return routing;
}

/**
 * The same host with only the three default rules: where packets go by table main (and the
 * local table), without any policy rule.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { Observation } from "./observation.ts";
 * declare const obs: Observation;
 * const packet = { dst: parseAddress("1.1.2.2"), iif: "cni0" };
 * followRules(withoutPolicy(routingOf(obs)), packet); // what table main alone says
 * ```
 */
export function withoutPolicy(routing: Routing): Routing {
  return { ...routing, rules: DEFAULT_RULES };
}

type Match = boolean | "maybe";

/** Whether `rule` selects the packet (before `not`), or "maybe" when doctor cannot tell. */
function selects(routing: Routing, rule: Rule, p: RoutedPacket): Match {
  const results: Match[] = [];
  if (rule.from) results.push(p.src === undefined ? "maybe" : prefixContains(rule.from, p.src));
  if (rule.to) results.push(prefixContains(rule.to, p.dst));
  if (rule.iif !== undefined) results.push(!rule.iifDetached && rule.iif === p.iif);
  // A packet that arrives on an interface has no output interface when it is looked up.
  if (rule.oif !== undefined) results.push(false);
  if (rule.fwmark) {
    results.push(routing.marksSet ? "maybe" : (rule.fwmark.mark & rule.fwmark.mask) === 0);
  }
  if (rule.tos !== undefined) results.push(rule.tos === 0);
  if (rule.ipproto !== undefined) results.push(rule.ipproto === 1);
  if (rule.sport || rule.dport) results.push(false);
  if (rule.uidrange) results.push(rule.uidrange.start <= 0 && 0 <= rule.uidrange.end);
  if (rule.l3mdev) results.push(routing.vrfPorts.has(p.iif) ? "maybe" : false);
  if (rule.unmodeled.some((u) => !u.startsWith("suppress_ifgroup"))) results.push("maybe");
  const m: Match = results.includes(false) ? false : results.includes("maybe") ? "maybe" : true;
  if (!rule.not || m === "maybe") return m;
  return !m;
}

/**
 * Whether two lookups send the packet the same way (the same device and gateway, or both
 * deliver it here, or both refuse it).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * declare const routing: Routing;
 * const p = { dst: parseAddress("1.1.2.2"), iif: "cni0" };
 * sameOutcome(followRules(routing, p), followRules(withoutPolicy(routing), p)); // rules change nothing
 * ```
 */
export function sameOutcome(a: Lookup, b: Lookup): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "route" && b.kind === "route") {
    return a.route === b.route ||
      (a.route.dev === b.route.dev && a.route.type === b.route.type &&
        (a.route.gateway === undefined
          ? b.route.gateway === undefined
          : b.route.gateway !== undefined && addressEquals(a.route.gateway, b.route.gateway)));
  }
  return a.kind !== "undecided";
}

function undecided(rules: readonly Rule[], outcomes: readonly Lookup[]): Lookup {
  const allRules: Rule[] = [];
  const leaves: Lookup[] = [];
  const add = (l: Lookup) => {
    if (l.kind === "undecided") {
      for (const r of l.rules) if (!allRules.includes(r)) allRules.push(r);
      l.outcomes.forEach(add);
    } else if (!leaves.some((x) => sameOutcome(x, l))) leaves.push(l);
  };
  for (const r of rules) if (!allRules.includes(r)) allRules.push(r);
  outcomes.forEach(add);
  return { kind: "undecided", rules: allRules, outcomes: leaves };
}

/** At most this many rules that may or may not match are followed both ways. */
const MAX_FORKS = 6;

/**
 * Where the kernel sends `packet`, following the policy rules.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { Observation } from "./observation.ts";
 * declare const obs: Observation;
 * const src = parseAddress("1.1.1.2");
 * const found = followRules(routingOf(obs), { dst: parseAddress("1.1.2.2"), src, iif: "cni0" });
 * if (found.kind === "route") found.route.gateway;
 * ```
 */
export function followRules(routing: Routing, packet: RoutedPacket): Lookup {
  const rules = routing.rules;
  const table = (id: number, rule: Rule): Lookup | undefined => {
    if (id === TABLE_LOCAL && routing.host) {
      return isLocalAddress(routing.host, packet.dst) ? { kind: "local", rule } : undefined;
    }
    const index = routing.tables.get(id);
    const route = index && lookupIn(index, packet.dst);
    if (!route || route.type === "throw") return undefined;
    if (route.type === "local" || route.type === "broadcast" || route.type === "anycast") {
      return { kind: "local", rule };
    }
    if (route.type === "unicast") return { kind: "route", route, rule };
    return { kind: "rejected", route, rule };
  };
  const walk = (start: number, forks: number): Lookup => {
    for (let i = start; i < rules.length; i++) {
      const rule = rules[i];
      const m = selects(routing, rule, packet);
      if (m === false) continue;
      if (m === "maybe") {
        if (forks >= MAX_FORKS) return undecided([rule], []);
        const taken = act(i, forks + 1);
        const passed = walk(i + 1, forks + 1);
        return sameOutcome(taken, passed) ? taken : undecided([rule], [taken, passed]);
      }
      return act(i, forks);
    }
    return { kind: "none" };
  };
  const act = (i: number, forks: number): Lookup => {
    const rule = rules[i];
    const a = rule.action;
    switch (a.kind) {
      case "blackhole":
      case "unreachable":
      case "prohibit":
        return { kind: "rejected", rule };
      case "nop":
        return walk(i + 1, forks);
      case "goto": {
        const target = a.unresolved ? -1 : rules.findIndex((r) => r.priority === a.target);
        return walk(target > i ? target : i + 1, forks);
      }
      case "lookup": {
        if (rule.l3mdev) return undecided([rule], []);
        const found = table(a.table, rule);
        if (!found) return walk(i + 1, forks);
        if (
          found.kind === "route" && rule.suppressPrefixLength !== undefined &&
          found.route.dst.length <= rule.suppressPrefixLength
        ) return walk(i + 1, forks);
        if (
          found.kind === "route" && rule.unmodeled.some((u) => u.startsWith("suppress_ifgroup"))
        ) {
          if (forks >= MAX_FORKS) return undecided([rule], []);
          const passed = walk(i + 1, forks + 1);
          return sameOutcome(found, passed) ? found : undecided([rule], [found, passed]);
        }
        return found;
      }
    }
  };
  return walk(0, 0);
}

/**
 * Looks `to` up in the host's table main alone (a local address is delivered locally): the
 * answer without policy rules or other tables.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * declare const host: HostState;
 * const found = lookupRoute(host, parseAddress("1.1.2.2"));
 * if (found.kind === "route") found.route.gateway;
 * ```
 */
export function lookupRoute(host: HostState, to: IpAddress): Lookup {
  // (also the containers' lookup: their namespaces have only table main)
  if (isLocalAddress(host, to)) return { kind: "local" };
  const route = lookupIn(cachedIndex(host.routes), to);
  if (!route || route.type === "throw") return { kind: "none" };
  if (route.type === "local" || route.type === "broadcast" || route.type === "anycast") {
    return { kind: "local" };
  }
  if (route.type === "unicast") return { kind: "route", route };
  return { kind: "rejected", route };
}

/**
 * The lookup as one line of evidence.
 *
 * @example
 * ```ts
 * describeLookup({ kind: "none" }); // "no route"
 * ```
 */
export function describeLookup(l: Lookup): string {
  const by = "rule" in l && l.rule ? ` (rule ${l.rule.priority})` : "";
  switch (l.kind) {
    case "local":
      return `delivered to this host${by}`;
    case "route":
      return `${formatRoute(l.route)}${by}`;
    case "rejected":
      return l.route ? `${formatRoute(l.route)}${by}` : `refused by rule ${l.rule?.text}`;
    case "none":
      return "no route";
    case "undecided":
      return `one of: ${l.outcomes.map(describeLookup).join("; ")}`;
  }
}
