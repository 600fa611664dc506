/**
 * The subnet registry in etcd, in flannel's layout so that hg and flanneld share one cluster:
 * the network config at `<prefix>/config` and one key per host subnet at
 * `<prefix>/subnets/1.1.3.0-24`, attached to an etcd lease that expires it.
 *
 * @module
 */
import { HgError, InputError } from "../../errors.ts";
import { addressEquals, type IpAddress, parseAddressOf } from "../../net/address.ts";
import {
  configEquals,
  formatNetworkConfig,
  type NetworkConfig,
  parseNetworkConfig,
} from "../config.ts";
import {
  formatLeaseValue,
  type LeaseAttrs,
  leaseKey,
  leaseOf,
  type LeaseSubnets,
  parseLeaseValue,
  subnetsOfKey,
} from "../lease.ts";
import type {
  LeaseChange,
  LeaseChangeSource,
  LeaseListing,
  RegistryEntry,
  RegistryRead,
  SubnetStore,
} from "../store.ts";
import {
  type EtcdClient,
  EtcdCompactedError,
  type EtcdKeyValue,
  EtcdUnavailableError,
} from "./client.ts";
import { redactStoreUrl } from "../url_credentials.ts";

/** flannel's default `--etcd-prefix`. */
export const DEFAULT_ETCD_PREFIX = "/coreos.com/network";

/**
 * A {@link SubnetStore} on an etcd cluster.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../../net/address.ts";
 * import { parsePrefix } from "../../net/prefix.ts";
 * import { EtcdClient } from "./client.ts";
 * const attrs = { publicIp: parseAddress("10.0.12.13"), backendType: "host-gw", node: "h3" };
 * const store = new EtcdStore(new EtcdClient({ endpoints: ["http://127.0.0.1:2379"] }));
 * await store.claim({ subnet: parsePrefix("1.1.3.0/24") }, attrs, 24 * 3600); // true
 * ```
 */
export class EtcdStore implements SubnetStore, LeaseChangeSource {
  readonly url: string;
  /** The key prefix: `/coreos.com/network`. */
  readonly prefix: string;
  readonly #client: EtcdClient;

  constructor(client: EtcdClient, prefix: string = DEFAULT_ETCD_PREFIX) {
    // Keys are built by joining: a trailing "/" or odd characters would make other keys.
    if (!/^\/[A-Za-z0-9_.\/-]*[^\/]$/.test(prefix)) {
      throw new InputError(
        `etcd prefix ${
          JSON.stringify(prefix)
        } is not valid: expected /name, like /coreos.com/network`,
      );
    }
    this.#client = client;
    this.prefix = prefix;
    const secure = client.endpoints.every((e) => e.startsWith("https:"));
    const hosts = client.endpoints.map((e) => e.replace(/^https?:\/\//, "")).join(",");
    this.url = `${secure ? "etcds" : "etcd"}://${hosts}${prefix}`;
  }

  get #configKey(): string {
    return `${this.prefix}/config`;
  }

  #leaseKey(subnets: LeaseSubnets): string {
    return `${this.prefix}/subnets/${leaseKey(subnets)}`;
  }

  async getConfig(): Promise<NetworkConfig | undefined> {
    const kv = await this.#get(this.#configKey);
    return kv && this.#parseConfig(kv);
  }

  async putConfig(config: NetworkConfig, expected: NetworkConfig | undefined): Promise<boolean> {
    const kv = await this.#get(this.#configKey);
    if (expected === undefined ? kv !== undefined : kv === undefined) return false;
    if (kv && expected) {
      let stored: NetworkConfig;
      try {
        stored = this.#parseConfig(kv);
      } catch {
        return false; // what is there now is not what the caller read
      }
      if (!configEquals(stored, expected)) return false;
    }
    // The mod revision catches a write between this read and the txn.
    return await this.#client.putIfModRevision(
      this.#configKey,
      formatNetworkConfig(config),
      kv?.modRevision ?? "0",
    );
  }

  async readRegistry(): Promise<RegistryRead> {
    const [config, listing] = await Promise.all([this.getConfig(), this.listLeases()]);
    return { config, listing };
  }

  async listLeases(): Promise<LeaseListing> {
    const { revision, kvs } = await this.#client.range(this.#subnetsDir, { prefix: true });
    return { entries: kvs.map((kv) => this.#entryOf(kv.key, kv.value)), revision };
  }

  /**
   * Each batch of changes of the leases after `fromRevision`, parsed as a listing parses them
   * (a key written and deleted in one batch counts as its last event); throws when the watch
   * breaks or was compacted past `fromRevision`, so that the caller lists again.
   */
  async *watchLeaseChanges(fromRevision: string, signal: AbortSignal): AsyncIterable<LeaseChange> {
    const dir = this.#subnetsDir;
    const startRevision = String(BigInt(fromRevision) + 1n);
    for await (const events of this.#client.watch(dir, { prefix: true, startRevision, signal })) {
      if (events.length === 0) continue;
      const last = new Map(events.map((e) => [e.key, e]));
      const put: RegistryEntry[] = [];
      const deleted: string[] = [];
      for (const e of last.values()) {
        if (e.type === "delete") deleted.push(e.key.slice(dir.length));
        else put.push(this.#entryOf(e.key, e.value ?? ""));
      }
      yield { revision: events[events.length - 1].modRevision, put, deleted };
    }
  }

  get #subnetsDir(): string {
    return `${this.prefix}/subnets/`;
  }

  /** One etcd key and value as a registry entry, named by its subnet key (`1.1.3.0-24`). */
  #entryOf(etcdKey: string, value: string): RegistryEntry {
    const key = etcdKey.slice(this.#subnetsDir.length);
    const subnets = subnetsOfKey(key);
    if (!subnets) {
      return {
        key,
        problem: `key ${
          JSON.stringify(etcdKey)
        } does not name a subnet (expected like 1.1.3.0-24 or 1.1.3.0-24&fd00:1:3::-64)`,
      };
    }
    try {
      return { key, lease: leaseOf(subnets, parseLeaseValue(value)) };
    } catch (e) {
      return { key, problem: (e as Error).message };
    }
  }

  async *watchLeases(fromRevision: string, signal: AbortSignal): AsyncIterable<string> {
    const startRevision = String(BigInt(fromRevision) + 1n);
    try {
      for await (
        const events of this.#client.watch(`${this.prefix}/subnets/`, {
          prefix: true,
          startRevision,
          signal,
        })
      ) {
        if (events.length > 0) yield events[events.length - 1].modRevision;
      }
    } catch (e) {
      // Compacted past our revision: whatever changed, a fresh listing has it.
      if (e instanceof EtcdCompactedError) yield e.compactRevision;
      else throw e;
    }
  }

  async claim(subnets: LeaseSubnets, attrs: LeaseAttrs, ttlSeconds: number): Promise<boolean> {
    const key = this.#leaseKey(subnets);
    const lease = await this.#client.leaseGrant(ttlSeconds);
    return await this.#attach(
      key,
      lease,
      () => this.#client.createIfAbsent(key, formatLeaseValue(attrs), lease),
    );
  }

  async renew(
    subnets: LeaseSubnets,
    holder: IpAddress,
    ttlSeconds: number,
    attrs?: LeaseAttrs,
  ): Promise<boolean> {
    const key = this.#leaseKey(subnets);
    const kv = await this.#get(key);
    if (!kv || !heldBy(kv, holder)) return false;
    const value = attrs ? formatLeaseValue(attrs) : kv.value;
    // The same value on a lease of the same TTL: a keepalive renews it without writing the
    // key, so no watcher wakes up for a renewal, and a retried keepalive does no harm.
    if (value === kv.value && kv.lease !== "0") {
      const ttl = await this.#client.leaseKeepAlive(kv.lease);
      if (ttl === ttlSeconds) return true;
      if (ttl <= 0) return false; // the lease ran out just now, and the key went with it
    }
    // A new value or TTL: the key moves to a fresh lease (a keepalive restores the old TTL).
    const lease = await this.#client.leaseGrant(ttlSeconds);
    const renewed = await this.#attach(
      key,
      lease,
      () => this.#client.putIfModRevision(key, value, kv.modRevision, lease),
    );
    if (renewed && kv.lease !== "0") await this.#revokeQuietly(kv.lease);
    return renewed;
  }

  async release(entry: string): Promise<boolean> {
    const key = `${this.prefix}/subnets/${entry}`;
    const kv = await this.#get(key);
    if (!kv) return false;
    const deleted = await this.#client.deleteKey(key);
    if (kv.lease !== "0") await this.#revokeQuietly(kv.lease);
    return deleted > 0;
  }

  close(): Promise<void> {
    return Promise.resolve(); // every request is its own HTTP call: nothing to hold
  }

  /**
   * Runs `write`, which attaches `key` to the new `lease`; returns whether it did. A write whose
   * answer never came (a timeout after it was sent) may have been applied: the key is read back,
   * and the write happened exactly when the key sits on `lease`. Nothing is undone on a guess:
   * `lease` is revoked only after a clear "no" (a write still in flight would otherwise lose its
   * key with it); an unused lease runs out by itself. When even the read fails, the error goes up.
   */
  async #attach(key: string, lease: string, write: () => Promise<boolean>): Promise<boolean> {
    try {
      if (await write()) return true;
    } catch (e) {
      if (!(e instanceof EtcdUnavailableError)) throw e;
      const kv = await this.#get(key).catch(() => {
        throw e;
      });
      return kv?.lease === lease;
    }
    await this.#revokeQuietly(lease);
    return false;
  }

  async #get(key: string): Promise<EtcdKeyValue | undefined> {
    return (await this.#client.range(key)).kvs[0];
  }

  #parseConfig(kv: EtcdKeyValue): NetworkConfig {
    try {
      return parseNetworkConfig(kv.value);
    } catch (e) {
      throw new HgError(`${this.url}: the config at ${kv.key} is invalid: ${(e as Error).message}`);
    }
  }

  /** Revokes a lease nobody needs any more; if etcd is unreachable it expires on its own. */
  async #revokeQuietly(lease: string): Promise<void> {
    try {
      await this.#client.leaseRevoke(lease);
    } catch {
      // The lease runs out by its TTL.
    }
  }
}

function heldBy(kv: EtcdKeyValue, holder: IpAddress): boolean {
  try {
    return addressEquals(parseLeaseValue(kv.value).publicIp, holder);
  } catch {
    return false; // not a lease value: nobody holds it
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/**
 * The endpoints of an `etcd://h1:2379,h2:2379` URL (`etcds://` for https); the port defaults to
 * 2379. Throws an InputError naming what is wrong.
 *
 * @example
 * ```ts
 * parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2");
 * // { endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2379"], secure: false }
 * ```
 */
export function parseEtcdUrl(url: string): { endpoints: string[]; secure: boolean } {
  // The URL is quoted redacted: whatever stands before an "@" may be a password.
  const bad = (why: string) =>
    new InputError(`${JSON.stringify(redactStoreUrl(url))} is not an etcd URL: ${why}`);
  const match = /^(etcds?):\/\/(.*?)\/?$/.exec(url);
  if (!match) throw bad("expected etcd://host:port[,host:port...] or etcds://...");
  const secure = match[1] === "etcds";
  if (match[2] === "") throw bad("no host given");
  if (match[2].includes("@")) {
    throw bad("credentials are not taken from the URL: give --etcd-user and --etcd-password-file");
  }
  if (match[2].includes("/")) throw bad("a path is not allowed (the prefix is a separate option)");
  const endpoints = match[2].split(",").map((member) => {
    const parts = /^(\[[^\]]*\]|[^:\[\]]*)(?::([^:]*))?$/.exec(member);
    const host = parts?.[1] ?? "";
    if (!parts || host === "" || (!host.startsWith("[") && !HOSTNAME.test(host))) {
      throw bad(`${JSON.stringify(member)} is not host[:port]`);
    }
    if (/^[0-9.]+$/.test(host) && !IPV4.test(host)) {
      throw bad(`${JSON.stringify(host)} is not an IPv4 address`);
    }
    if (host.startsWith("[")) {
      try {
        parseAddressOf(6, host.slice(1, -1));
      } catch {
        throw bad(`${JSON.stringify(host)} is not an IPv6 address`);
      }
    }
    const port = parts[2] ?? "2379";
    if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535) {
      throw bad(`port ${JSON.stringify(port)} of ${JSON.stringify(member)} is not 1-65535`);
    }
    return `${secure ? "https" : "http"}://${host}:${port}`;
  });
  return { endpoints, secure };
}
