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
import type { Prefix } from "../net/prefix.ts";
import type { NetworkConfig } from "../store/config.ts";
import { leaseSubnets } from "../store/lease.ts";
import type { RegistryEntry } from "../store/store.ts";
import { type PeerSync, planPeerSync, type SelfIdentity } from "./sync.ts";

/** One registry key that changed: its entry before (undefined: none) and now (undefined: gone). */
export interface LeaseChangeOf {
  readonly key: string;
  readonly before: RegistryEntry | undefined;
  readonly after: RegistryEntry | undefined;
}

/** More changed keys than this are planned whole: a big change costs a whole plan anyway. */
export const MAX_CHANGED_LEASES = 64;

/** The subnets of an entry (none for an entry that is not a lease). */
function subnetsOf(entry: RegistryEntry | undefined): Prefix[] {
  return entry && "lease" in entry ? leaseSubnets(entry.lease) : [];
}

/**
 * Every subnet the changes touch, before and after (both families).
 *
 * @example
 * ```ts
 * touchedSubnets([{ key: "1.1.2.0-24", before: undefined, after: entry }]); // [1.1.2.0/24]
 * ```
 */
export function touchedSubnets(changes: readonly LeaseChangeOf[]): Prefix[] {
  return changes.flatMap((c) => [...subnetsOf(c.before), ...subnetsOf(c.after)]);
}

/** The first and last address of a prefix, as numbers for IPv4 (exact) and bigints for IPv6. */
function rangeOf(p: Prefix): readonly [number | bigint, number | bigint] {
  if (p.address.family === 4) {
    const size = 2 ** (32 - p.length);
    const first = Math.floor(Number(p.address.value) / size) * size;
    return [first, first + size - 1];
  }
  const size = 1n << BigInt(128 - p.length);
  const first = (p.address.value / size) * size;
  return [first, first + size - 1n];
}

/**
 * The prefixes `subnets` as a test of overlap, for scans over thousands of routes or leases:
 * each prefix's range worked out once.
 */
function overlapTest(subnets: readonly Prefix[]): (p: Prefix) => boolean {
  const v4 = subnets.filter((s) => s.address.family === 4).map(rangeOf);
  const v6 = subnets.filter((s) => s.address.family === 6).map(rangeOf);
  return (p) => {
    const ranges = p.address.family === 4 ? v4 : v6;
    if (ranges.length === 0) return false;
    const [first, last] = rangeOf(p);
    // Two CIDR blocks overlap exactly when their ranges do.
    return ranges.some(([f, l]) => first <= l && f <= last);
  };
}

/**
 * Whether `route` overlaps one of `subnets`: what a plan of those subnets reads of a host's
 * routes (an hg route to them, or any route it must not overlap).
 *
 * @example
 * ```ts
 * routesTouching(state.routes, [parsePrefix("1.1.2.0/24")]); // hg's route to it, 1.1.0.0/16 routes, ...
 * ```
 */
export function routesTouching(routes: readonly Route[], subnets: readonly Prefix[]): Route[] {
  const touches = overlapTest(subnets);
  return routes.filter((r) => touches(r.dst));
}

/**
 * The part of `state` a plan of the leases of `subnets` reads: its routes overlapping them;
 * links, addresses and the forwarding switches whole.
 */
export function narrowHost(state: HostState, subnets: readonly Prefix[]): HostState {
  return { ...state, routes: routesTouching(state.routes, subnets) };
}

/**
 * `kept` with its routes overlapping `subnets` replaced by `fresh`'s (a read of that part
 * alone, after a change of it), and `fresh`'s links, addresses and forwarding switches.
 *
 * @example
 * ```ts
 * const now = mergeNarrow(kept, [parsePrefix("1.1.2.0/24")], await observeNarrow(subnets));
 * ```
 */
export function mergeNarrow(
  kept: HostState,
  subnets: readonly Prefix[],
  fresh: HostState,
): HostState {
  const touches = overlapTest(subnets);
  return {
    ...kept,
    links: fresh.links,
    addresses: fresh.addresses,
    forwarding: fresh.forwarding,
    forwarding6: fresh.forwarding6,
    routes: [
      ...kept.routes.filter((r) => !touches(r.dst)),
      ...routesTouching(fresh.routes, subnets),
    ],
  };
}

/**
 * Why the changes cannot be planned alone (undefined: they can): a VXLAN network (its
 * neighbour and fdb entries and the containers' MTU follow every peer), too many changes,
 * this host's own lease among them, or a changed subnet that overlaps another lease's (those
 * leases are refused or routed together).
 *
 * @example
 * ```ts
 * changedLeasesBlocker(config, table.entries(), changes, { node: "h1", ownKey: "1.1.1.0-24" });
 * // undefined, or "1.1.2.0/24 overlaps another lease"
 * ```
 */
export function changedLeasesBlocker(
  config: NetworkConfig,
  entries: readonly RegistryEntry[],
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
  const touches = overlapTest(subnets);
  if (self.ownSubnets.some(touches)) return "a changed subnet overlaps this host's";
  for (const entry of entries) {
    if (changedKeys.has(entry.key) || !("lease" in entry)) continue;
    if (leaseSubnets(entry.lease).some(touches)) return `a changed subnet overlaps ${entry.key}`;
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
 * const { plan } = planChangedLeases(kept, config, changes, ownEntry, { node: "h1", bridge: "cni0" });
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
  return planPeerSync(narrowHost(state, touchedSubnets(changes)), config, entries, self);
}
