/**
 * A subnet registry in memory for the agent's unit tests: the SubnetStore contract without TTLs,
 * with switches that make it unreachable or break the current watch.
 *
 * @module
 */
import type { LeaseChange, LeaseChangeSource } from "../../../lib/agent/lease_table.ts";
import { formatPrefix, type Prefix } from "../../../lib/net/prefix.ts";
import type { NetworkConfig } from "../../../lib/store/config.ts";
import { configEquals } from "../../../lib/store/config.ts";
import { EtcdOutcomeUnknownError, EtcdUnavailableError } from "../../../lib/store/etcd/client.ts";
import { type LeaseAttrs, type LeaseSubnets, subnetKey } from "../../../lib/store/lease.ts";
import type {
  LeaseListing,
  RegistryEntry,
  RegistryRead,
  SubnetStore,
} from "../../../lib/store/store.ts";

/** An in-memory SubnetStore. */
export class MemoryStore implements SubnetStore {
  readonly url = "memory://test";
  readonly leases = new Map<string, { subnet: Prefix; attrs: LeaseAttrs }>();
  /** Keys whose value is not a lease. */
  readonly broken = new Map<string, string>();
  revision = 1;
  /** While true, every call fails as an unreachable etcd does. */
  down = false;
  /** Calls made, by method name. */
  readonly calls = new Map<string, number>();
  /** Calls made, of any method. */
  private callCount = 0;
  /**
   * The call (of any method, counted from 1) that fails as one whose answer timed out does
   * before etcd applied it; undefined: none.
   */
  failCall: number | undefined;
  private readonly waiters = new Set<() => void>();
  private breakWatch: ((e: Error) => void) | undefined;

  /** Methods whose next call fails after doing its work, as a write whose answer never came. */
  readonly unanswered = new Set<string>();

  constructor(public config: NetworkConfig | undefined) {}

  private check(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    if (this.down) throw new EtcdUnavailableError([[this.url, "connection refused"]]);
    if (++this.callCount === this.failCall) {
      throw new EtcdUnavailableError([[this.url, "timed out after 3000 ms"]]);
    }
  }

  /** Throws as a timed-out answer does when `method` was marked unanswered (its work is done). */
  private answer<T>(method: string, result: T): Promise<T> {
    if (this.unanswered.delete(method)) {
      return Promise.reject(new EtcdOutcomeUnknownError([[this.url, "timed out after 3000 ms"]]));
    }
    return Promise.resolve(result);
  }

  /** Every change, as a watch that reports changes gives them (see {@link ChangesStore}). */
  readonly history: LeaseChange[] = [];

  private changed(put: RegistryEntry[], deleted: string[]): void {
    this.revision++;
    this.history.push({ revision: String(this.revision), put, deleted });
    for (const wake of this.waiters) wake();
  }

  /** Writes a lease (or a broken value) as another host or an operator would. */
  put(subnet: Prefix, attrs: LeaseAttrs): void {
    const key = subnetKey(subnet);
    this.leases.set(key, { subnet, attrs });
    this.changed([{ key, lease: { subnet, attrs } }], []);
  }

  putBroken(key: string, problem: string): void {
    this.broken.set(key, problem);
    this.changed([{ key, problem }], []);
  }

  delete(subnet: Prefix): void {
    this.leases.delete(subnetKey(subnet));
    this.changed([], [subnetKey(subnet)]);
  }

  /** Whether a watch is waiting for a change now. */
  get watching(): boolean {
    return this.breakWatch !== undefined;
  }

  /** Ends the current watch with an error, as a dying etcd member does. */
  interruptWatch(): void {
    this.breakWatch?.(new EtcdUnavailableError([[this.url, "the watch stream broke"]]));
  }

  getConfig(): Promise<NetworkConfig | undefined> {
    this.check("getConfig");
    return Promise.resolve(this.config);
  }

  putConfig(config: NetworkConfig, expected: NetworkConfig | undefined): Promise<boolean> {
    this.check("putConfig");
    const unchanged = this.config === undefined
      ? expected === undefined
      : expected !== undefined && configEquals(this.config, expected);
    if (unchanged) this.config = config;
    return Promise.resolve(unchanged);
  }

  listLeases(): Promise<LeaseListing> {
    try {
      this.check("listLeases");
    } catch (e) {
      return Promise.reject(e);
    }
    const entries: RegistryEntry[] = [
      ...[...this.leases].map(([key, lease]) => ({ key, lease })),
      ...[...this.broken].map(([key, problem]) => ({ key, problem })),
    ];
    return Promise.resolve({ entries, revision: String(this.revision) });
  }

  async readRegistry(): Promise<RegistryRead> {
    return { config: await this.getConfig(), listing: await this.listLeases() };
  }

  claim({ subnet }: LeaseSubnets, attrs: LeaseAttrs): Promise<boolean> {
    this.check("claim");
    if (this.leases.has(subnetKey(subnet))) return this.answer("claim", false);
    this.put(subnet, attrs);
    return this.answer("claim", true);
  }

  renew({ subnet }: LeaseSubnets, holder: LeaseAttrs["publicIp"]): Promise<boolean> {
    this.check("renew");
    const lease = this.leases.get(subnetKey(subnet));
    // A renewal is no change of the leases: the revision stays (etcd renews by keepalive).
    return this.answer("renew", lease?.attrs.publicIp.value === holder.value);
  }

  release(key: string): Promise<boolean> {
    this.check("release");
    const had = this.leases.delete(key);
    if (had) this.changed([], [key]);
    return Promise.resolve(had);
  }

  async *watchLeases(fromRevision: string, signal: AbortSignal): AsyncIterable<string> {
    this.check("watchLeases");
    let seen = Number(fromRevision);
    while (!signal.aborted) {
      if (this.revision > seen) {
        seen = this.revision;
        yield String(seen);
        continue;
      }
      await this.nextChange(signal);
    }
  }

  /** Resolves at the next change (or abort); rejects when the watch is interrupted. */
  protected nextChange(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.waiters.delete(done);
        this.breakWatch = undefined;
        resolve();
      };
      this.waiters.add(done);
      this.breakWatch = (e) => {
        this.waiters.delete(done);
        this.breakWatch = undefined;
        reject(e);
      };
      signal.addEventListener("abort", done, { once: true });
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** For messages in tests. */
  keys(): string[] {
    return [...this.leases.values()].map((l) => formatPrefix(l.subnet));
  }
}

/** A {@link MemoryStore} whose watch says what changed (a {@link LeaseChangeSource}). */
export class ChangesStore extends MemoryStore implements LeaseChangeSource {
  async *watchLeaseChanges(fromRevision: string, signal: AbortSignal): AsyncIterable<LeaseChange> {
    this.calls.set("watchLeaseChanges", (this.calls.get("watchLeaseChanges") ?? 0) + 1);
    if (this.down) throw new EtcdUnavailableError([[this.url, "connection refused"]]);
    let seen = Number(fromRevision);
    while (!signal.aborted) {
      const next = this.history.filter((c) => Number(c.revision) > seen);
      for (const change of next) {
        seen = Number(change.revision);
        yield change;
      }
      if (next.length === 0) await this.nextChange(signal);
    }
  }
}
