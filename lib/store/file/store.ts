/**
 * The shared JSON file registry: for one machine, or a file on shared storage. Safe with many
 * writers at once: every change happens under a lock file (stale locks of dead writers are taken
 * over), is written to a temporary file and renamed over the old one (a reader or a crash sees
 * the old or the new state, never half of one), and bumps the revision. A writer holding the lock
 * first removes the temp files of writers that were killed. A full, read-only or forbidden disk
 * is reported as such ({@link RegistryDiskError}), leaving the registry as it was and no file of
 * the writer behind. A registry path that is a symbolic link (say to a file on shared storage) is
 * followed once, when the store is opened: the lock, the temp file and the rename are beside the
 * real file, so the link stays a link and every host's changes reach the one file.
 *
 * @module
 */
import { open, readFile, rename, stat, unlink } from "node:fs/promises";
import { HgError } from "../../errors.ts";
import { LockFileError, withFileLock } from "../../lock/file_lock.ts";
import { addressEquals, type IpAddress } from "../../net/address.ts";
import { prefixEquals } from "../../net/prefix.ts";
import {
  configEquals,
  formatNetworkConfig,
  type NetworkConfig,
  parseNetworkConfig,
} from "../config.ts";
import {
  type LeaseAttrs,
  leaseAttrsOf,
  leaseKey,
  leaseOf,
  type LeaseSubnets,
  leaseSubnets,
  leaseValue,
  subnetsOfKey,
} from "../lease.ts";
import type { LeaseListing, RegistryEntry, RegistryRead, SubnetStore } from "../store.ts";
import { RegistryDiskError } from "./disk_error.ts";
import { emptyRegistry, parseRegistryFile, type RegistryFile, type StoredLease } from "./format.ts";
import { registryTarget } from "./real_path.ts";
import { removeOrphanTemps, tempPathFor } from "./temp_files.ts";
import { testHold } from "./test_hold.ts";
import { fileChanges } from "./watch.ts";

/**
 * How long a writer waits for the lock: each holder keeps it for milliseconds, but a hundred
 * hosts starting at once on a loaded machine queue up for a while.
 */
const LOCK_TIMEOUT_MS = 30_000;

/** The registry in a JSON file. */
function configOf(file: RegistryFile): NetworkConfig | undefined {
  return file.config === null ? undefined : parseNetworkConfig(JSON.stringify(file.config));
}

export class FileStore implements SubnetStore {
  readonly url: string;
  /** The file itself, `path` followed through symbolic links: where reads, locks and renames go. */
  readonly file: string;
  /** The registry in messages: the path as given, and where it leads when that is elsewhere. */
  private readonly shown: string;

  /**
   * @param path the registry as given; a symbolic link is followed here, once.
   * @param now the clock, in ms since the epoch (tests move it).
   * @throws {RegistryPathError} when `path` is a symlink loop or leads into a missing directory.
   */
  constructor(readonly path: string, private readonly now: () => number = Date.now) {
    this.url = `file://${path}`;
    const { real, chain } = registryTarget(path);
    this.file = real;
    this.shown = chain.length > 1 ? `${path} (a symlink to ${real})` : path;
  }

  private async read(): Promise<RegistryFile> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyRegistry();
      throw new RegistryDiskError(this.shown, "read", e);
    }
    return parseRegistryFile(text, this.shown);
  }

  /**
   * Reads the file under the lock, lets `change` compute the new content (undefined: no
   * change), and writes it atomically with the revision bumped.
   */
  private async update<T>(
    change: (file: RegistryFile) => { next?: RegistryFile; result: T },
  ): Promise<T> {
    try {
      return await withFileLock(`${this.file}.lock`, async (lock) => {
        await removeOrphanTemps(this.file);
        const file = await this.read();
        const { next, result } = change(this.withoutExpired(file));
        if (!next) return result;
        await this.replace({ ...next, revision: file.revision + 1 }, () => lock.stillHeld());
        return result;
      }, { timeoutMs: LOCK_TIMEOUT_MS, afterCreate: () => testHold("lock-created") });
    } catch (e) {
      if (e instanceof LockFileError) {
        throw new RegistryDiskError(this.shown, "lock", e.cause, e.path);
      }
      throw e;
    }
  }

  /**
   * Writes `next` to a temp file beside the registry, syncs it, and renames it over the registry
   * if this writer still holds the lock. On any failure the temp file is removed and the
   * registry is as it was.
   */
  private async replace(next: RegistryFile, stillHeld: () => Promise<boolean>): Promise<void> {
    const temp = tempPathFor(this.file);
    const discard = () => unlink(temp).catch(() => {});
    try {
      const handle = await open(temp, "wx", 0o644);
      try {
        await handle.writeFile(JSON.stringify(next, null, 1) + "\n");
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (e) {
      await discard();
      throw new RegistryDiskError(this.shown, "write", e);
    }
    await testHold("before-rename");
    // A writer that lost its lock to a stale-lock takeover must not commit.
    if (!(await stillHeld())) {
      await discard();
      throw new HgError(`lost the lock on ${this.shown} while writing; nothing was changed`);
    }
    try {
      await rename(temp, this.file);
    } catch (e) {
      await discard();
      throw new RegistryDiskError(this.shown, "replace", e);
    }
    await testHold("after-rename");
  }

  private withoutExpired(file: RegistryFile): RegistryFile {
    const now = this.now();
    const leases = Object.fromEntries(
      Object.entries(file.leases).filter(([, l]) => !(Date.parse(l.expiration) <= now)),
    );
    return { ...file, leases };
  }

  private stored(attrs: LeaseAttrs, ttlSeconds: number): StoredLease {
    return {
      attrs: leaseValue(attrs),
      expiration: new Date(this.now() + ttlSeconds * 1000).toISOString(),
    };
  }

  async getConfig(): Promise<NetworkConfig | undefined> {
    return configOf(await this.read());
  }

  putConfig(config: NetworkConfig, expected: NetworkConfig | undefined): Promise<boolean> {
    return this.update((file) => {
      const current = configOf(file);
      const unchanged = current === undefined
        ? expected === undefined
        : expected !== undefined && configEquals(current, expected);
      if (!unchanged) return { result: false };
      return { next: { ...file, config: JSON.parse(formatNetworkConfig(config)) }, result: true };
    });
  }

  async listLeases(): Promise<LeaseListing> {
    return this.listingOf(await this.read());
  }

  async readRegistry(): Promise<RegistryRead> {
    const file = await this.read();
    return { config: configOf(file), listing: this.listingOf(file) };
  }

  private listingOf(file: RegistryFile): LeaseListing {
    // One pass, each expiration parsed once: `withoutExpired` and then the listing would read
    // every lease of a large registry twice.
    const now = this.now();
    const entries: RegistryEntry[] = [];
    for (const key in file.leases) {
      if (!Object.hasOwn(file.leases, key)) continue;
      const stored = file.leases[key];
      const expiresAt = Date.parse(stored.expiration);
      if (expiresAt <= now) continue;
      const subnets = subnetsOfKey(key);
      if (!subnets) {
        entries.push({ key, problem: `key ${JSON.stringify(key)} does not name a subnet` });
        continue;
      }
      try {
        const attrs = leaseAttrsOf(stored.attrs);
        const { subnet } = subnets;
        // The common lease, one IPv4 subnet held by one IPv4 address, is its key and value as
        // they are (what `leaseOf` makes of it, without the call).
        if (
          subnets.ipv6Subnet === undefined && subnet.address.family === 4 &&
          attrs.publicIp.family === 4 && attrs.publicIpv6 === undefined
        ) {
          entries.push({ key, lease: { subnet, attrs, expiresAt } });
          continue;
        }
        const lease = leaseOf(subnets, attrs);
        entries.push({
          key,
          lease: lease.ipv6Subnet
            ? { subnet, ipv6Subnet: lease.ipv6Subnet, attrs: lease.attrs, expiresAt }
            : { subnet, attrs: lease.attrs, expiresAt },
        });
      } catch (e) {
        entries.push({ key, problem: (e as Error).message });
      }
    }
    return { entries, revision: String(file.revision) };
  }

  claim(subnets: LeaseSubnets, attrs: LeaseAttrs, ttlSeconds: number): Promise<boolean> {
    const key = leaseKey(subnets);
    return this.update((file) => {
      // Under the lock a dual-stack claim can see more than its key: no subnet of either family
      // is held twice, even beside a lease whose pair differs (one flanneld wrote).
      const taken = file.leases[key] !== undefined ||
        (subnets.ipv6Subnet !== undefined &&
          Object.keys(file.leases).some((k) => sharesSubnet(k, subnets)));
      if (taken) {
        return { result: false };
      }
      return {
        next: { ...file, leases: { ...file.leases, [key]: this.stored(attrs, ttlSeconds) } },
        result: true,
      };
    });
  }

  renew(
    subnets: LeaseSubnets,
    holder: IpAddress,
    ttlSeconds: number,
    attrs?: LeaseAttrs,
  ): Promise<boolean> {
    const key = leaseKey(subnets);
    return this.update((file) => {
      const current = file.leases[key];
      if (!current) return { result: false };
      let held: LeaseAttrs;
      try {
        held = leaseAttrsOf(current.attrs);
      } catch {
        return { result: false };
      }
      if (!addressEquals(held.publicIp, holder)) return { result: false };
      const lease = this.stored(attrs ?? held, ttlSeconds);
      return { next: { ...file, leases: { ...file.leases, [key]: lease } }, result: true };
    });
  }

  release(key: string): Promise<boolean> {
    return this.update((file) => {
      if (!file.leases[key]) return { result: false };
      const { [key]: _gone, ...rest } = file.leases;
      return { next: { ...file, leases: rest }, result: true };
    });
  }

  async *watchLeases(fromRevision: string, signal: AbortSignal): AsyncIterable<string> {
    let last = BigInt(fromRevision);
    let seen = "";
    // The rename happens in the real file's directory: that is the one to watch.
    for await (const _ of fileChanges(this.file, signal)) {
      // Every write replaces the file: a poll that finds the same one parses nothing (an idle
      // agent's poll read and parsed the whole registry every second).
      const now = await fileStamp(this.file);
      if (now !== undefined && now === seen) continue;
      seen = now ?? "";
      const revision = BigInt((await this.read()).revision);
      if (revision !== last) {
        last = revision;
        yield String(revision);
      }
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Which file `path` is and when it last changed, or undefined when it cannot be told. */
async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Whether the lease key `key` names a subnet of `subnets`. */
function sharesSubnet(key: string, subnets: LeaseSubnets): boolean {
  const held = subnetsOfKey(key);
  if (!held) return false;
  const mine = leaseSubnets(subnets);
  return leaseSubnets(held).some((h) => mine.some((m) => prefixEquals(h, m)));
}
