/**
 * Leases that lapsed in a registry outage, kept for a grace period. etcd revokes a lease whose
 * TTL passed without a keepalive even when the reason is the registry's own pause (a stopped or
 * stalled member: its lessor finds the leases expired when it runs again, and a keepalive that
 * arrives then cannot save one; only a leader change extends leases). The holder is alive and
 * claims its subnet again within moments, but a watcher that followed the deletion would drop
 * the holder's routes in between: a registry outage would take down the data path between hosts
 * whose leases were live before it. So a lease that went without being released (the store says
 * it lapsed) while the registry was out of this agent's reach, or soon after it came back, stays
 * in the agent's table until its key is written again, released, or the grace period ends. A
 * lease that lapses while the registry answers is a host gone without a word, and goes at once;
 * so does a released lease (`hg subnet release`, an agent leaving with `--release-on-exit`), and
 * every deletion of a store that does not tell. Pure.
 *
 * @module
 */
import type { LeaseChange, RegistryEntry } from "../store/store.ts";

/**
 * How long a lapsed lease is kept (ms): a live holder, retrying a failed renewal at least every
 * 5 s and woken by its own watch when its key goes, claims it again well within it.
 */
export const LAPSE_GRACE_MS = 10_000;

/**
 * How long after the registry came back lapses still count as the outage's (ms): etcd revokes
 * at most 1,000 expired leases a second, so a large registry's take a while.
 */
export const OUTAGE_AFTERMATH_MS = 30_000;

/**
 * A watch batch as a store that tells releases from lapses gives it: `lapsed` names the keys of
 * `deleted` that went without a release (their lease ran out, or someone deleted the key by
 * hand). Without `lapsed`, every deletion counts as a release.
 */
export type LapsingChange = LeaseChange & { readonly lapsed?: readonly string[] };

/** What {@link LeaseGrace} reads of the agent's table. */
export interface EntryByKey {
  get(key: string): RegistryEntry | undefined;
}

/**
 * The lapsed leases kept.
 *
 * @example
 * ```ts
 * import { LeaseTable } from "./lease_table.ts";
 * const table = new LeaseTable();
 * const grace = new LeaseGrace();
 * grace.unreachable(); // a renewal timed out
 * grace.reached(Date.now()); // the registry answered again
 * const change = { revision: "9", put: [], deleted: ["1.1.2.0-24"], lapsed: ["1.1.2.0-24"] };
 * const { apply, held } = grace.hold(change, table, "1.1.3.0-24", Date.now());
 * table.apply(apply); // without the held keys' deletions
 * held.length; // 0 here: the table had no such key
 * grace.ended(table, Date.now() + 10_000); // the keys to delete from the table now
 * ```
 */
export class LeaseGrace {
  readonly #held = new Map<string, { readonly entry: RegistryEntry; readonly until: number }>();
  #unreachable = false;
  #backAt = -Infinity;

  /**
   * @param graceMs how long a lapsed lease is kept
   * @param aftermathMs how long after the registry came back a lapse is still held
   */
  constructor(
    readonly graceMs: number = LAPSE_GRACE_MS,
    readonly aftermathMs: number = OUTAGE_AFTERMATH_MS,
  ) {}

  /** The agent could not reach the registry (a request failed or timed out). */
  unreachable(): void {
    this.#unreachable = true;
  }

  /** The registry answered again at `now`, after {@link unreachable}. */
  reached(now: number): void {
    if (!this.#unreachable) return;
    this.#unreachable = false;
    this.#backAt = now;
  }

  /** The number of leases held. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Takes in one watch batch before it is applied to `table`: in or after an outage (see the
   * module), a key that lapsed while `table` holds a valid lease under it is held (its deletion
   * left out of `apply`), unless it is `ownKey` (this host's own lease: its keeper must see it
   * gone, to claim it again). A key written again or deleted otherwise ends its hold. Returns
   * the batch to apply and the entries it began to hold.
   */
  hold(
    change: LapsingChange,
    table: EntryByKey,
    ownKey: string,
    now: number,
  ): { readonly apply: LeaseChange; readonly held: readonly RegistryEntry[] } {
    for (const entry of change.put) this.#held.delete(entry.key);
    const outage = this.#unreachable || now - this.#backAt <= this.aftermathMs;
    const lapsed = new Set(outage ? change.lapsed ?? [] : []);
    const held: RegistryEntry[] = [];
    const deleted: string[] = [];
    for (const key of change.deleted) {
      const entry = table.get(key);
      if (lapsed.has(key) && key !== ownKey && entry !== undefined && "lease" in entry) {
        // Held since its first lapse: a replayed deletion does not lengthen the grace.
        if (!this.#held.has(key)) this.#held.set(key, { entry, until: now + this.graceMs });
        held.push(entry);
      } else {
        this.#held.delete(key);
        deleted.push(key);
      }
    }
    if (held.length === 0) return { apply: change, held };
    return { apply: { revision: change.revision, put: change.put, deleted }, held };
  }

  /**
   * The held keys whose grace has ended by `now` and that `table` still holds as they were held
   * (a key listed again since holds a fresh entry, and stays): delete them from the table.
   * Ended holds are forgotten.
   */
  ended(table: EntryByKey, now: number): Set<string> {
    const ended = new Set<string>();
    for (const [key, { entry, until }] of this.#held) {
      if (until > now) continue;
      this.#held.delete(key);
      if (table.get(key) === entry) ended.add(key);
    }
    return ended;
  }
}
