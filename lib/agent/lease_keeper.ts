/**
 * The one owner of this host's lease inside the agent: it renews the lease, claims it again when
 * it ran out, and decides that it is lost. Nothing else in the agent writes the lease, so no
 * two loops can race each other for it; the rest of the agent only reports what it saw in a
 * listing ({@link LeaseKeeper.check}), and the keeper looks for itself.
 *
 * A lease is lost only on proof: the registry names another host as the subnet's holder. An
 * unreachable registry, a renewal whose answer never came, or a key that holds garbage leave the
 * host serving its subnet, and the keeper keeps trying.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { addressEquals, formatAddress } from "../net/address.ts";
import { formatPrefix, type Prefix } from "../net/prefix.ts";
import { type LeaseAttrs, leaseKey, type LeaseSubnets } from "../store/lease.ts";
import type { RegistryEntry, SubnetStore } from "../store/store.ts";
import type { Logger } from "./log.ts";
import { Wakeup } from "./wakeup.ts";

/** Another host holds this host's subnet now: the agent stops serving it. */
export class LeaseLostError extends HgError {
  /** @param holder who holds the subnet now: `h3 (10.0.12.13)` */
  constructor(readonly subnet: Prefix, readonly holder: string) {
    super(`this host's lease of ${formatPrefix(subnet)} now belongs to ${holder}`);
  }
}

/** What the keeper needs. */
export interface LeaseKeeperOptions {
  readonly store: SubnetStore;
  readonly attrs: LeaseAttrs;
  readonly ttlSeconds: number;
  /** The lease's subnets (a dual-stack lease has two, under one key). */
  readonly subnets: LeaseSubnets;
  readonly log: Logger;
  /** Told after each renewal: undefined when the registry answered, else the error. */
  readonly onAnswer?: (error: Error | undefined) => void;
}

/** How often a failing renewal is tried again at most (ms): soon after the registry is back. */
const RETRY_MAX_MS = 5000;

/**
 * Keeps this host's lease.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import type { SubnetStore } from "../store/store.ts";
 * import { makeLogger } from "./log.ts";
 * declare const store: SubnetStore;
 * declare const signal: AbortSignal;
 * const attrs = { publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1" };
 * const lease = { subnet: parsePrefix("1.1.1.0/24") };
 * const log = makeLogger("text");
 * const keeper = new LeaseKeeper({ store, attrs, ttlSeconds: 60, subnets: lease, log });
 * const lost = await keeper.run(signal); // a LeaseLostError, or undefined once signal aborts
 * ```
 */
export class LeaseKeeper {
  readonly subnets: LeaseSubnets;
  /** When the lease was last renewed or claimed (ISO time), for `hg status`. */
  renewedAt: string | null = new Date().toISOString();
  readonly #options: LeaseKeeperOptions;
  readonly #wakeup = new Wakeup();

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.subnets = options.subnets;
  }

  /** The lease's primary subnet. */
  get subnet(): Prefix {
    return this.subnets.subnet;
  }

  /**
   * Looks at this host's registry entry as someone else read it (`leaseKey(subnets)`'s entry of
   * a listing, undefined when the listing had none): when it does not show this host as the
   * holder of its subnet, the keeper checks now instead of at its next renewal.
   */
  check(entry: RegistryEntry | undefined): void {
    const mine = entry !== undefined && "lease" in entry &&
      addressEquals(entry.lease.attrs.publicIp, this.#options.attrs.publicIp);
    if (!mine) this.#wakeup.poke();
  }

  /**
   * Renews the lease every third of its TTL (and when {@link check} asks) until `signal`
   * aborts (resolves undefined) or the lease is lost (resolves with the LeaseLostError).
   * Failures are logged and retried, sooner than the next renewal.
   */
  async run(signal: AbortSignal): Promise<LeaseLostError | undefined> {
    const every = Math.max(1000, (this.#options.ttlSeconds * 1000) / 3);
    let wait = every;
    let failing = "";
    while (!signal.aborted) {
      await this.#wakeup.wait(wait, signal);
      if (signal.aborted) return undefined;
      try {
        await this.#keep();
        this.#options.onAnswer?.(undefined);
        if (failing) this.#options.log("info", `lease of ${formatPrefix(this.subnet)} renewed`);
        failing = "";
        wait = every;
      } catch (e) {
        if (e instanceof LeaseLostError) return e;
        this.#options.onAnswer?.(e as Error);
        const message = (e as Error).message;
        if (message !== failing) {
          this.#options.log(
            "warn",
            `could not renew the lease of ${
              formatPrefix(this.subnet)
            }, still serving it and trying again: ${message}`,
          );
        }
        failing = message;
        wait = Math.min(wait === every ? 500 : wait * 2, RETRY_MAX_MS, every);
      }
    }
    return undefined;
  }

  /** One renewal; when it fails, the registry is read to learn why, and acted on. */
  async #keep(): Promise<void> {
    const { store, attrs, ttlSeconds, log } = this.#options;
    const subnet = formatPrefix(this.subnet);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await store.renew(this.subnets, attrs.publicIp, ttlSeconds, attrs)) {
        this.renewedAt = new Date().toISOString();
        return;
      }
      const { entries } = await store.listLeases();
      const entry = entries.find((e) => e.key === leaseKey(this.subnets));
      if (!entry) {
        if (await store.claim(this.subnets, attrs, ttlSeconds)) {
          this.renewedAt = new Date().toISOString();
          log("warn", `lease of ${subnet} had run out: claimed it again`, { subnet });
          return;
        }
        continue; // someone wrote the key in between: look again
      }
      if (!("lease" in entry)) {
        throw new HgError(`the registry key of ${subnet} holds no lease (${entry.problem})`);
      }
      const holder = entry.lease.attrs;
      if (addressEquals(holder.publicIp, attrs.publicIp)) continue; // ours: try again
      throw new LeaseLostError(
        this.subnet,
        `${holder.node ?? "another host"} (${formatAddress(holder.publicIp)})`,
      );
    }
    throw new HgError(`the lease of ${subnet} changed under every renewal; trying again later`);
  }
}
