/**
 * The subnet registry interface that every store implements (shared JSON file, etcd), in the
 * spirit of flannel's subnet Manager: a network config, and one lease per host subnet holding
 * the address other hosts route that subnet through.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";
import type { NetworkConfig } from "./config.ts";
import type { LeaseAttrs, LeaseSubnets } from "./lease.ts";

/** A lease as read from a store: its subnets (see `LeaseSubnets`) and what its holder wrote. */
export interface Lease extends LeaseSubnets {
  readonly attrs: LeaseAttrs;
  /** When the lease runs out (ms since the epoch), where the store tells. */
  readonly expiresAt?: number;
}

/** One registry key: a valid lease, or a key whose value is not one (reported, never used). */
export type RegistryEntry =
  | { readonly key: string; readonly lease: Lease }
  | { readonly key: string; readonly problem: string };

/** Every lease entry and the registry revision they were read at. */
export interface LeaseListing {
  readonly entries: readonly RegistryEntry[];
  /** An opaque, increasing revision (etcd's header revision, the file's revision number). */
  readonly revision: string;
}

/** One batch of changes of the leases, as a registry watch reports them. */
export interface LeaseChange {
  /** The registry's revision after the batch. */
  readonly revision: string;
  /** Entries written (created or changed), by key. */
  readonly put: readonly RegistryEntry[];
  /** Keys deleted (or expired). */
  readonly deleted: readonly string[];
}

/**
 * A store that can say what changed, not only that something did: a watch of the leases that
 * yields each batch of changes after `fromRevision` (and throws when it breaks or was compacted
 * past that revision: the caller lists the registry whole and watches again).
 */
export interface LeaseChangeSource {
  watchLeaseChanges(fromRevision: string, signal: AbortSignal): AsyncIterable<LeaseChange>;
}

/** The config (undefined: none written yet) and the leases, read together. */
export interface RegistryRead {
  readonly config: NetworkConfig | undefined;
  readonly listing: LeaseListing;
}

/** A subnet registry. Every method is atomic on its own; allocation builds on `claim`. */
export interface SubnetStore {
  /** The store's URL, for messages. */
  readonly url: string;
  /** The network config, or undefined when none has been written. */
  getConfig(): Promise<NetworkConfig | undefined>;
  /**
   * Writes the network config. `expected` is the config read before (undefined: none), so that
   * a config changed by someone else in between is not overwritten; returns false when it was.
   */
  putConfig(config: NetworkConfig, expected: NetworkConfig | undefined): Promise<boolean>;
  /** Every lease key under the store, valid or not. */
  listLeases(): Promise<LeaseListing>;
  /**
   * The network config and the leases together, in one read where the store can (the file
   * store reads its file once): what `peer sync` and `doctor` compare the routes with.
   */
  readRegistry(): Promise<RegistryRead>;
  /**
   * Creates the lease for `subnets` only if no live lease holds its key (compare-and-swap).
   * Returns false when another holder won.
   */
  claim(subnets: LeaseSubnets, attrs: LeaseAttrs, ttlSeconds: number): Promise<boolean>;
  /**
   * Extends the lease of `subnets` by `ttlSeconds` if it is still held by `holder` (same public
   * address), rewriting its attributes to `attrs` when given (a host that moved); returns false
   * when the lease is gone or held by someone else.
   */
  renew(
    subnets: LeaseSubnets,
    holder: IpAddress,
    ttlSeconds: number,
    attrs?: LeaseAttrs,
  ): Promise<boolean>;
  /**
   * Deletes the registry entry `key` (`leaseKey(lease)` for a lease, or the key of an entry
   * that is not a valid lease, as a listing names it); returns false when there was none.
   */
  release(key: string): Promise<boolean>;
  /**
   * Yields a revision each time the leases may have changed after `fromRevision`, until
   * `signal` aborts; throws when the store cannot be reached (the caller re-lists and watches
   * again from the last revision it saw). Consumers re-list rather than apply the changes: a
   * listing is cheap and always whole.
   */
  watchLeases(fromRevision: string, signal: AbortSignal): AsyncIterable<string>;
  /** Frees what the store holds (connections, timers). */
  close(): Promise<void>;
}
