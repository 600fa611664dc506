/**
 * The agent's copy of the registry's leases, kept between events: a full listing replaces it
 * (at the start, after a broken or compacted watch, at the slow safety re-list), and a watch's
 * change is applied to it key by key. Either way it says whether anything that routes are made
 * from changed, so that the agent plans only then: a renewal that moves a lease's expiry, or the
 * same value written again, changes nothing routed. Pure.
 *
 * @module
 */
import { formatAddress } from "../net/address.ts";
import { formatPrefix, type Prefix } from "../net/prefix.ts";
import { PrefixIndex } from "../peers/prefix_index.ts";
import { leaseSubnets } from "../store/lease.ts";
import type {
  LeaseChange,
  LeaseChangeSource,
  LeaseListing,
  RegistryEntry,
} from "../store/store.ts";

export type { LeaseChange, LeaseChangeSource };

/** Whether `store` offers {@link LeaseChangeSource}'s watch. */
export function offersLeaseChanges(store: object): store is LeaseChangeSource {
  return typeof (store as Partial<LeaseChangeSource>).watchLeaseChanges === "function";
}

/** What applying a listing or a change did to the table. */
export interface LeaseDelta {
  /** Keys whose routed content was added, changed or removed. */
  readonly changed: readonly string[];
  /** The revision went back (the registry lost data): worth a warning. */
  readonly wentBack: boolean;
  /** The entries of the changed keys as they were before (undefined: there was none). */
  readonly before: ReadonlyMap<string, RegistryEntry | undefined>;
}

/**
 * What routes are made from, of one entry: the holder's addresses, node name, backend and VTEP,
 * or why it is not a lease; not when it runs out (a renewal moves that and routes nothing).
 *
 * @example
 * ```ts
 * routedContent({ key: "1.1.9.0-24", problem: "value is not JSON" }); // '["value is not JSON"]'
 * ```
 */
export function routedContent(entry: RegistryEntry): string {
  if (!("lease" in entry)) return JSON.stringify([entry.problem]);
  const { attrs, ipv6Subnet } = entry.lease;
  return JSON.stringify([
    formatAddress(attrs.publicIp),
    attrs.publicIpv6 ? formatAddress(attrs.publicIpv6) : null,
    ipv6Subnet ? formatPrefix(ipv6Subnet) : null,
    attrs.node ?? null,
    attrs.backendType,
    attrs.vtep?.mac ?? null,
    attrs.vtep?.vni ?? null,
  ]);
}

/**
 * The kept listing.
 *
 * @example
 * ```ts
 * import type { SubnetStore } from "../store/store.ts";
 * declare const store: SubnetStore;
 * const table = new LeaseTable();
 * table.replace(await store.listLeases()).changed; // every key, the first time
 * table.apply({ revision: "8", put: [], deleted: ["1.1.2.0-24"] }).changed; // ["1.1.2.0-24"] if listed
 * ```
 */
export class LeaseTable {
  #revision: string | undefined;
  readonly #entries = new Map<string, RegistryEntry>();
  readonly #content = new Map<string, string>();
  #list: RegistryEntry[] | undefined;
  /** The leases' subnets by prefix, built at the first question and kept up to date after. */
  #index: PrefixIndex<LeaseSubnet> | undefined;
  readonly #indexed = new Map<string, LeaseSubnet[]>();

  /** The revision of the last listing or change applied (undefined: none yet). */
  get revision(): string | undefined {
    return this.#revision;
  }

  /** The number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry under `key`, if any. */
  get(key: string): RegistryEntry | undefined {
    return this.#entries.get(key);
  }

  /** Every entry, as a listing would give them (the same array until the table changes). */
  entries(): readonly RegistryEntry[] {
    return this.#list ??= [...this.#entries.values()];
  }

  /**
   * The keys of the leases with a subnet (of either family) overlapping `subnet`: a question
   * about a few of thousands of leases, answered without a pass over them (but the first).
   */
  overlapping(subnet: Prefix): string[] {
    if (!this.#index) {
      for (const entry of this.#entries.values()) this.#indexed.set(entry.key, subnetsOf(entry));
      this.#index = new PrefixIndex(
        (s: LeaseSubnet) => s.prefix,
        [...this.#indexed.values()].flat(),
      );
    }
    return this.#index.overlapping(subnet).map((s) => s.key);
  }

  /** The table as a listing. */
  listing(): LeaseListing {
    return { entries: this.entries(), revision: this.#revision ?? "0" };
  }

  /** Makes the table equal to a whole listing. */
  replace(listing: LeaseListing): LeaseDelta {
    const wentBack = this.#wentBack(listing.revision);
    const seen = new Set<string>();
    const changed: string[] = [];
    const before = new Map<string, RegistryEntry | undefined>();
    for (const entry of listing.entries) {
      seen.add(entry.key);
      if (this.#set(entry, before)) changed.push(entry.key);
    }
    for (const key of this.#entries.keys()) {
      if (!seen.has(key) && this.#remove(key, before)) changed.push(key);
    }
    this.#revision = listing.revision;
    return { changed, wentBack, before };
  }

  /**
   * Applies one watch batch. A batch whose revision is not after the table's (a replay of what
   * a listing already holds) changes nothing.
   */
  apply(change: LeaseChange): LeaseDelta {
    if (this.#revision !== undefined && !(BigInt(change.revision) > BigInt(this.#revision))) {
      return { changed: [], wentBack: false, before: new Map() };
    }
    const changed = new Set<string>();
    const before = new Map<string, RegistryEntry | undefined>();
    for (const key of change.deleted) if (this.#remove(key, before)) changed.add(key);
    for (const entry of change.put) if (this.#set(entry, before)) changed.add(entry.key);
    this.#revision = change.revision;
    return { changed: [...changed], wentBack: false, before };
  }

  /**
   * When the next lease of the table runs out after `after` (ms since the epoch), leaving out
   * the lease under `exceptKey` (this host's own, which its keeper renews); Infinity when none
   * tells. The file store sends no event when a lease runs out: the agent lists again then.
   */
  nextExpiry(after: number, exceptKey: string): number {
    let next = Infinity;
    for (const entry of this.#entries.values()) {
      if (!("lease" in entry) || entry.key === exceptKey) continue;
      const at = entry.lease.expiresAt;
      if (at !== undefined && at > after && at < next) next = at;
    }
    return next;
  }

  #wentBack(revision: string): boolean {
    return this.#revision !== undefined && BigInt(revision) < BigInt(this.#revision);
  }

  /**
   * Stores `entry`; true when its routed content is new (then `before` gets the key's entry as
   * it was, unless it has one already: a batch's first change of a key is what it was before).
   */
  #set(entry: RegistryEntry, before: Map<string, RegistryEntry | undefined>): boolean {
    const content = routedContent(entry);
    const was = this.#entries.get(entry.key);
    const wasContent = this.#content.get(entry.key);
    // Kept even when only its expiry moved: that is what the next expiry is taken from.
    this.#entries.set(entry.key, entry);
    this.#list = undefined;
    if (wasContent === content) return false;
    this.#content.set(entry.key, content);
    if (!before.has(entry.key)) before.set(entry.key, was);
    this.#reindex(entry.key, entry);
    return true;
  }

  #remove(key: string, before: Map<string, RegistryEntry | undefined>): boolean {
    const was = this.#entries.get(key);
    if (!this.#entries.delete(key)) return false;
    this.#content.delete(key);
    this.#list = undefined;
    if (!before.has(key)) before.set(key, was);
    this.#reindex(key, undefined);
    return true;
  }

  /** Keeps the index (once built) up to date with `key`'s entry, now `entry`. */
  #reindex(key: string, entry: RegistryEntry | undefined): void {
    if (!this.#index) return;
    for (const s of this.#indexed.get(key) ?? []) this.#index.delete(s);
    this.#indexed.delete(key);
    if (!entry) return;
    const subnets = subnetsOf(entry);
    this.#indexed.set(key, subnets);
    for (const s of subnets) this.#index.add(s);
  }
}

/** One subnet of a lease, in the table's index. */
interface LeaseSubnet {
  readonly key: string;
  readonly prefix: Prefix;
}

/** The subnets of an entry, for the index (none for an entry that is not a lease). */
function subnetsOf(entry: RegistryEntry): LeaseSubnet[] {
  return "lease" in entry
    ? leaseSubnets(entry.lease).map((prefix) => ({ key: entry.key, prefix }))
    : [];
}
