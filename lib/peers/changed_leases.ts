/**
 * Plans the leases that changed, not the whole registry: what a watch event costs the agent
 * then follows the change (one lease put or deleted), not the number of leases. The plan is
 * {@link planPeerSync}'s own, made from the changed leases and the part of the host they touch
 * (every route overlapping one of their subnets, old or new; the links and addresses whole): a
 * sync of a registry holding only them against a host holding only those routes plans exactly
 * the steps a whole sync would plan for them, as long as no other lease shares their address
 * space (an overlap refuses both leases: {@link changedLeasesBlocker} then says to plan all).
 * Pure.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import type { Route } from "../ip/route.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { parseRoutes } from "../ip/route.ts";
import {
  formatPrefix,
  parsePrefix,
  type Prefix,
  prefixCovers,
  prefixEquals,
  prefixesOverlap,
} from "../net/prefix.ts";
import type { Plan } from "../plan/step.ts";
import type { NetworkConfig } from "../store/config.ts";
import { leaseSubnets } from "../store/lease.ts";
import type { RegistryEntry } from "../store/store.ts";
import { PrefixIndex } from "./prefix_index.ts";
import { type PeerSync, planPeerSync, type SelfIdentity } from "./sync.ts";

/** One registry key that changed: its entry before (undefined: none) and now (undefined: gone). */
export interface LeaseChangeOf {
  readonly key: string;
  readonly before: RegistryEntry | undefined;
  readonly after: RegistryEntry | undefined;
}

/**
 * More changed keys than this are planned whole: the routes of each changed subnet are read
 * under the lock by two `ip route show` filters, each a dump of the whole table inside `ip`
 * (the kernel does not filter a dump by destination), and a dozen of them cost what one whole
 * observation and plan cost.
 */
export const MAX_CHANGED_LEASES = 8;

/** The subnets of an entry (none for an entry that is not a lease). */
function subnetsOf(entry: RegistryEntry | undefined): Prefix[] {
  return entry && "lease" in entry ? leaseSubnets(entry.lease) : [];
}

/**
 * Every subnet the changes touch, before and after (both families).
 *
 * @example
 * ```ts
 * import type { RegistryEntry } from "../store/store.ts";
 * declare const moved: RegistryEntry; // 1.1.2.0/24, now via another holder
 * touchedSubnets([{ key: "1.1.2.0-24", before: moved, after: moved }]); // [1.1.2.0/24, 1.1.2.0/24]
 * ```
 */
export function touchedSubnets(changes: readonly LeaseChangeOf[]): Prefix[] {
  return changes.flatMap((c) => [...subnetsOf(c.before), ...subnetsOf(c.after)]);
}

/**
 * The routes of `state` that overlap one of `subnets` (each once): what a plan of those subnets
 * reads of a host's routes (an hg route to them, or any route it must not overlap). With
 * `index` (of `state`'s routes), found without a pass over all of them.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState;
 * routesTouching(state, [parsePrefix("1.1.2.0/24")]); // hg's route to it, 1.1.0.0/16 routes, ...
 * ```
 */
export function routesTouching(
  state: HostState,
  subnets: readonly Prefix[],
  index?: PrefixIndex<Route>,
): Route[] {
  if (index) return [...new Set(subnets.flatMap((s) => index.overlapping(s)))];
  return state.routes.filter((r) => subnets.some((s) => prefixesOverlap(r.dst, s)));
}

/**
 * The part of `state` a plan of the leases of `subnets` reads: its routes overlapping them;
 * links, addresses and the forwarding switches whole.
 */
export function narrowHost(
  state: HostState,
  subnets: readonly Prefix[],
  index?: PrefixIndex<Route>,
): HostState {
  return { ...state, routes: routesTouching(state, subnets, index) };
}

/** A kept observation of the host with its routes indexed by prefix. */
export interface IndexedHost {
  readonly state: HostState;
  readonly routes: PrefixIndex<Route>;
}

/** `state` with its routes indexed (a pass over them: once per whole observation). */
export function indexHost(state: HostState): IndexedHost {
  return { state, routes: new PrefixIndex((r: Route) => r.dst, state.routes) };
}

/**
 * `kept` with its routes overlapping `subnets` replaced by those of `fresh` (a read of that
 * part alone, after a change of it), and `fresh`'s links, addresses and forwarding switches.
 * The index moves to the result: `kept`'s must not be used after.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const kept: IndexedHost, fresh: HostState; // fresh: a read of 1.1.2.0/24's routes
 * const now = amendHost(kept, [parsePrefix("1.1.2.0/24")], fresh);
 * ```
 */
export function amendHost(
  kept: IndexedHost,
  subnets: readonly Prefix[],
  fresh: HostState,
): IndexedHost {
  const gone = new Set(subnets.flatMap((s) => kept.routes.overlapping(s)));
  const added = routesTouching(fresh, subnets);
  for (const route of gone) kept.routes.delete(route);
  for (const route of added) kept.routes.add(route);
  const routes = gone.size === 0
    ? [...kept.state.routes, ...added]
    : [...kept.state.routes.filter((r) => !gone.has(r)), ...added];
  return {
    state: {
      ...kept.state,
      links: fresh.links,
      addresses: fresh.addresses,
      forwarding: fresh.forwarding,
      forwarding6: fresh.forwarding6,
      routes,
    },
    routes: kept.routes,
  };
}

/** hg's route protocol as plan lines write it. */
const PROTO = String(HG_ROUTE_PROTOCOL);

/** What `ip route replace` without a metric gives a route of `family`. */
const DEFAULT_METRIC = { 4: 0, 6: 1024 } as const;

/**
 * The destinations of the routes `plan` sets or deletes, as its steps write them: what the
 * echo of applying it names (`ip monitor` prints each route it changes).
 *
 * @example
 * ```ts
 * import { ipStep } from "../plan/step.ts";
 * planRouteDestinations([
 *   ipStep(["route", "replace", "1.1.9.0/24", "via", "10.0.12.19", "dev", "eth0", "proto", "104"]),
 *   ipStep(["route", "del", "1.1.4.0/24", "proto", "104"]),
 * ]); // Set { "1.1.9.0/24", "1.1.4.0/24" }
 * ```
 */
export function planRouteDestinations(plan: Plan): Set<string> {
  const routes = new Set<string>();
  for (const step of plan) {
    if (step.kind === "ip" && step.args[0] === "route") routes.add(step.args[2]);
  }
  return routes;
}

/**
 * The host as `plan` leaves it: `kept` with its routes overlapping `subnets` as `part` (a read
 * of them under the host lock, before applying) shows them, changed by the plan's route
 * replacements and deletions of hg's peer routes to those subnets; links, addresses and the
 * forwarding switches as `part` has them. Undefined when the plan holds any other step (a
 * setup step, a VXLAN device's): then the host is to be observed whole. The index moves to the
 * result: `kept`'s must not be used after.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { ipStep } from "../plan/step.ts";
 * declare const kept: IndexedHost, part: HostState; // part: read under the lock
 * amendByPlan(kept, [parsePrefix("1.1.9.0/24")], part, [
 *   ipStep(["route", "replace", "1.1.9.0/24", "via", "10.0.12.19", "dev", "eth0", "proto", "104"]),
 * ])?.state.routes; // ..., 1.1.9.0/24 via 10.0.12.19 dev eth0 proto 104
 * ```
 */
export function amendByPlan(
  kept: IndexedHost,
  subnets: readonly Prefix[],
  part: HostState,
  plan: Plan,
): IndexedHost | undefined {
  let routes = routesTouching(part, subnets);
  const within = (p: Prefix) => subnets.some((s) => prefixCovers(s, p));
  for (const step of plan) {
    if (step.kind !== "ip" || step.netns !== undefined) return undefined;
    const a = step.args;
    if (
      a.length === 9 && a[0] === "route" && a[1] === "replace" && a[3] === "via" &&
      a[5] === "dev" && a[7] === "proto" && a[8] === PROTO
    ) {
      const dst = parsePrefix(a[2]);
      if (!within(dst)) return undefined;
      const family = dst.address.family;
      const metric = DEFAULT_METRIC[family];
      // Replaced: the route to the same destination, TOS and metric, whoever made it.
      routes = routes.filter((r) =>
        !(prefixEquals(r.dst, dst) && r.metric === metric && (r.tos ?? 0) === 0)
      );
      // As `ip -N -j route show` prints it, parsed as an observation parses it.
      const shown = {
        dst: a[2],
        gateway: a[4],
        dev: a[6],
        protocol: PROTO,
        ...(family === 6 ? { metric, pref: "medium" } : {}),
        flags: [],
      };
      routes.push(...parseRoutes([shown], family));
    } else if (
      a.length === 5 && a[0] === "route" && a[1] === "del" && a[3] === "proto" && a[4] === PROTO
    ) {
      const dst = parsePrefix(a[2]);
      if (!within(dst)) return undefined;
      // The kernel deletes the first route of hg to it (a sync has one per destination).
      const i = routes.findIndex((r) =>
        prefixEquals(r.dst, dst) && r.protocol === HG_ROUTE_PROTOCOL
      );
      if (i >= 0) routes = [...routes.slice(0, i), ...routes.slice(i + 1)];
    } else return undefined;
  }
  return amendHost(kept, subnets, { ...part, routes });
}

/**
 * Why the changes cannot be planned alone (undefined: they can): a VXLAN network (its
 * neighbour and fdb entries and the containers' MTU follow every peer), too many changes,
 * this host's own lease among them, or a changed subnet that overlaps another lease's (those
 * leases are refused or routed together).
 *
 * @example
 * ```ts
 * import { parsePrefix, type Prefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "../store/config.ts";
 * declare const changes: LeaseChangeOf[];
 * declare const overlapping: (subnet: Prefix) => string[]; // the keys of the leases there
 * const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
 * changedLeasesBlocker(config, overlapping, changes, {
 *   node: "h1",
 *   ownKey: "1.1.1.0-24",
 *   ownSubnets: [parsePrefix("1.1.1.0/24")],
 * });
 * // undefined, or "1.1.2.0/24 overlaps the lease 1.1.0.0-16"
 * ```
 */
export function changedLeasesBlocker(
  config: NetworkConfig,
  leasesOverlapping: (subnet: Prefix) => readonly string[],
  changes: readonly LeaseChangeOf[],
  self: { readonly node?: string; readonly ownKey: string; readonly ownSubnets: readonly Prefix[] },
): string | undefined {
  if (config.backend.type !== "host-gw") return `a ${config.backend.type} network`;
  if (changes.length > MAX_CHANGED_LEASES) return `${changes.length} leases changed`;
  const changedKeys = new Set(changes.map((c) => c.key));
  if (changedKeys.has(self.ownKey)) return "this host's own lease changed";
  for (const c of changes) {
    for (const entry of [c.before, c.after]) {
      if (
        entry && "lease" in entry && self.node !== undefined && entry.lease.attrs.node === self.node
      ) {
        return "a lease of this host's node changed";
      }
    }
  }
  const subnets = touchedSubnets(changes);
  if (subnets.some((s) => self.ownSubnets.some((o) => prefixesOverlap(o, s)))) {
    return "a changed subnet overlaps this host's";
  }
  for (const subnet of subnets) {
    const other = leasesOverlapping(subnet).find((key) => !changedKeys.has(key));
    if (other !== undefined) return `${formatPrefix(subnet)} overlaps the lease ${other}`;
  }
  return undefined;
}

/**
 * The plan for the changed leases alone: {@link planPeerSync} of the changed leases (with this
 * host's own, so that it knows itself) against the part of `state` they touch. Its `peers` and
 * `refused` are the changed leases' only. Call it when {@link changedLeasesBlocker} says
 * nothing.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { NetworkConfig } from "../store/config.ts";
 * import type { RegistryEntry } from "../store/store.ts";
 * declare const state: HostState, config: NetworkConfig, own: RegistryEntry;
 * declare const changes: LeaseChangeOf[]; // 1.1.9.0/24 leased by 10.0.12.19
 * const { plan } = planChangedLeases(state, config, changes, own, { node: "h1", bridge: "cni0" });
 * // [ip route replace 1.1.9.0/24 via 10.0.12.19 dev eth0 proto 104]
 * ```
 */
export function planChangedLeases(
  state: HostState,
  config: NetworkConfig,
  changes: readonly LeaseChangeOf[],
  own: RegistryEntry | undefined,
  self: SelfIdentity,
): PeerSync {
  const entries = changes.flatMap((c) => c.after ? [c.after] : []);
  if (own) entries.push(own);
  // Already narrowed by the caller as a rule (then this pass is over a few routes).
  return planPeerSync(narrowHost(state, touchedSubnets(changes)), config, entries, self);
}
