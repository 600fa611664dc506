/**
 * The agent: the flanneld of hg. It leases this host's subnet, sets the host up, and keeps the
 * host's routes equal to the other hosts' leases: on every registry change (a watch), on a
 * short repair tick (routes deleted by someone else, or lost with a link that went down and
 * up, come back within a second), and on a slower full re-list (leases that simply ran out).
 * When the registry cannot be reached it keeps every route as it is and catches up later.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { EtcdUnavailableError } from "../store/etcd/client.ts";
import { listRules } from "../firewall/iptables.ts";
import { formatAddress } from "../net/address.ts";
import { firstHost, formatPrefix } from "../net/prefix.ts";
import { describeChanges } from "../peers/describe.ts";
import { planPeerSync, type RefusedLease } from "../peers/sync.ts";
import { changeHost } from "../plan/change.ts";
import { renderStep } from "../plan/render.ts";
import { ipStep } from "../plan/step.ts";
import { planSetup } from "../setup/plan.ts";
import { formatSubnetEnv, writeSubnetEnv } from "../setup/subnet_env.ts";
import { allocate } from "../store/allocate.ts";
import type { NetworkConfig } from "../store/config.ts";
import { type LeaseAttrs, subnetKey } from "../store/lease.ts";
import type { Lease, LeaseListing, SubnetStore } from "../store/store.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import type { Logger } from "./log.ts";
import { removeReport, writeReport } from "./status_file.ts";

/** How the agent is set up. */
export interface AgentOptions {
  readonly store: SubnetStore;
  readonly attrs: LeaseAttrs & { readonly node: string };
  readonly bridge: string;
  readonly ttlSeconds: number;
  readonly subnetFile: string;
  readonly mtu?: number;
  /** The uplink's MTU, for subnet.env. */
  readonly uplinkMtu: number;
  readonly masquerade: boolean;
  readonly releaseOnExit: boolean;
  readonly log: Logger;
  /** How often routes are checked against the last listing (ms). */
  readonly repairMs?: number;
  /** How often the registry is listed whole, besides the watch (ms). */
  readonly relistMs?: number;
  /** The host it changes: this one by default (tests give their own). */
  readonly host?: AgentHost;
}

/** How the agent reads and changes its host. */
export interface AgentHost {
  /** Observes the host, plans with `planner` and applies the plan (see {@link changeHost}). */
  readonly change: typeof changeHost;
  /** hg's masquerade rules are checked against these (`iptables -t nat -S POSTROUTING`). */
  readonly natRules: () => Promise<string[]>;
}

const THIS_HOST: AgentHost = {
  change: changeHost,
  natRules: () => listRules("nat", "POSTROUTING"),
};

/** This host's lease was taken by another host: the agent stops serving the subnet. */
export class LeaseLostError extends HgError {}

/** Waits `ms`, or less when `signal` aborts (the listener goes with the timer: loops sleep forever). */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** A running agent. */
export class Agent {
  private config!: NetworkConfig;
  private lease!: Lease;
  private listing: LeaseListing | undefined;
  private reachable = true;
  private lastSync: string | null = null;
  private refused: RefusedLease[] = [];
  private readonly reported = new Map<string, string>();
  private lastError = "";
  private syncing: Promise<void> | undefined;
  private again = false;
  private readonly startedAt = new Date().toISOString();
  private readonly stop = new AbortController();
  private lost: LeaseLostError | undefined;

  constructor(private readonly options: AgentOptions) {}

  private get log(): Logger {
    return this.options.log;
  }

  private get host(): AgentHost {
    return this.options.host ?? THIS_HOST;
  }

  /** Waits for the registry, leases the subnet and makes the host right once. */
  async start(): Promise<void> {
    const { store, attrs, ttlSeconds } = this.options;
    let backoff = 100;
    for (;;) {
      try {
        const config = await store.getConfig();
        if (!config) {
          throw new HgError(
            `${store.url} has no network config: write one with "hg subnet config"`,
          );
        }
        this.config = config;
        const { lease, reused } = await allocate(store, { attrs, ttlSeconds });
        this.lease = lease;
        this.log(
          "info",
          `${reused ? "kept" : "leased"} ${formatPrefix(lease.subnet)} for ${attrs.node} via ${
            formatAddress(attrs.publicIp)
          }`,
          {
            subnet: formatPrefix(lease.subnet),
            node: attrs.node,
          },
        );
        break;
      } catch (e) {
        if (!(e instanceof EtcdUnavailableError)) throw e;
        this.log("warn", `registry unreachable, retrying in ${backoff} ms: ${e.message}`);
        await sleep(backoff, this.stop.signal);
        if (this.stop.signal.aborted) return;
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    const text = formatSubnetEnv({
      network: this.config.network,
      subnet: this.lease.subnet,
      mtu: this.options.mtu ?? this.options.uplinkMtu,
      ipMasq: this.options.masquerade,
    });
    if (await writeSubnetEnv(this.options.subnetFile, text)) {
      this.log("info", `wrote ${this.options.subnetFile}`);
    }
    await this.relist();
    await this.sync();
  }

  /** Runs until `shutdown()` (or a lost lease); resolves with the exit code. */
  async run(): Promise<number> {
    const signal = this.stop.signal;
    const loops = Promise.all([
      this.watchLoop(signal),
      this.repairLoop(signal),
      this.renewLoop(signal),
    ]);
    // Once asked to stop, give the loops a moment; a request stuck on a stalled connection
    // (a registry that froze) must not keep the agent from stopping.
    const stopped = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => setTimeout(resolve, 2000), { once: true })
    );
    await Promise.race([loops, stopped]);
    if (this.lost) return 1;
    if (this.options.releaseOnExit) await this.leave();
    await removeReport();
    this.log(
      "info",
      "stopped; routes left in place" +
        (this.options.releaseOnExit ? " (lease released, routes removed)" : ""),
    );
    return 0;
  }

  /** Asks the agent to stop (SIGTERM, SIGINT). */
  shutdown(): void {
    this.stop.abort();
  }

  private async watchLoop(signal: AbortSignal): Promise<void> {
    let backoff = 100;
    let rewatch = 0;
    while (!signal.aborted) {
      try {
        await this.relist();
        await this.sync();
        backoff = 100;
      } catch (e) {
        if (signal.aborted) return;
        this.unreachable(e as Error);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      try {
        for await (const _ of this.options.store.watchLeases(this.listing!.revision, signal)) {
          rewatch = 0;
          await this.relist();
          await this.sync();
        }
      } catch (e) {
        if (signal.aborted) return;
        // The watch broke (its etcd member went away, say): list again at once, which fails
        // over to another endpoint; only when that fails too is the registry out of reach.
        this.log("info", `watch interrupted, listing again: ${(e as Error).message}`);
        await sleep(rewatch, signal);
        rewatch = Math.min(rewatch * 2 || 100, 5000);
      }
    }
  }

  private async repairLoop(signal: AbortSignal): Promise<void> {
    const repairMs = this.options.repairMs ?? 500;
    const relistEvery = Math.max(1, Math.round((this.options.relistMs ?? 5000) / repairMs));
    for (let tick = 1; !signal.aborted; tick++) {
      await sleep(repairMs, signal);
      if (signal.aborted) return;
      if (tick % relistEvery === 0) await this.relist().catch((e) => this.unreachable(e as Error));
      await this.sync();
    }
  }

  private async renewLoop(signal: AbortSignal): Promise<void> {
    const { store, attrs, ttlSeconds } = this.options;
    const every = Math.max(1000, (ttlSeconds * 1000) / 3);
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) return;
      try {
        if (!(await store.renew(this.lease.subnet, attrs.publicIp, ttlSeconds, attrs))) {
          await this.reclaim();
        }
      } catch (e) {
        if (e instanceof LeaseLostError) return;
        this.unreachable(e as Error);
      }
    }
  }

  /** Lists the registry, and checks this host still holds its lease. */
  private async relist(): Promise<void> {
    const listing = await this.options.store.listLeases();
    this.listing = listing;
    if (!this.reachable) {
      this.log("info", `registry reachable again at revision ${listing.revision}`);
    }
    this.reachable = true;
    const key = subnetKey(this.lease.subnet);
    const mine = listing.entries.find((e) => e.key === key);
    if (!mine) await this.reclaim();
    else if (
      "lease" in mine && mine.lease.attrs.node !== undefined &&
      mine.lease.attrs.node !== this.options.attrs.node
    ) {
      await this.loseLease(
        `${mine.lease.attrs.node} (${formatAddress(mine.lease.attrs.publicIp)})`,
      );
    }
  }

  /** The lease ran out (say, during an outage): take the same subnet again if it is free. */
  private async reclaim(): Promise<void> {
    const { store, attrs, ttlSeconds } = this.options;
    if (await store.claim(this.lease.subnet, attrs, ttlSeconds)) {
      this.log("warn", `lease of ${formatPrefix(this.lease.subnet)} had run out: claimed it again`);
      return;
    }
    await this.loseLease("another host");
  }

  private async loseLease(holder: string): Promise<void> {
    const subnet = formatPrefix(this.lease.subnet);
    this.lost = new LeaseLostError(`this host's lease of ${subnet} now belongs to ${holder}`);
    this.log(
      "error",
      `LEASE LOST: ${subnet} now belongs to ${holder}; this host stops serving it ` +
        `(bridge ${this.options.bridge} address removed) and the agent exits`,
      { subnet },
    );
    const gateway = `${formatAddress(firstHost(this.lease.subnet))}/${this.lease.subnet.length}`;
    await this.host.change(() => ({
      plan: [ipStep(["addr", "del", gateway, "dev", this.options.bridge])],
    })).catch((e) =>
      this.log(
        "error",
        `could not remove ${gateway} from ${this.options.bridge}: ${(e as Error).message}`,
      )
    );
    this.stop.abort();
    throw this.lost;
  }

  private unreachable(e: Error): void {
    if (e instanceof LeaseLostError) return;
    if (this.reachable) {
      this.log("warn", `registry unreachable, keeping every route as it is: ${e.message}`);
    }
    this.reachable = false;
  }

  /** One sync at a time; a request during a sync runs once more after it. */
  private sync(): Promise<void> {
    if (this.lost || this.stop.signal.aborted) return Promise.resolve();
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        await this.syncOnce();
      } while (this.again);
    })().finally(() => this.syncing = undefined);
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (!this.listing) return;
    const listing = this.listing;
    const { bridge, mtu, masquerade } = this.options;
    try {
      const natRules = masquerade ? await this.host.natRules() : [];
      const result = await this.host.change((host) => {
        const setup = planSetup(host, {
          subnet: this.lease.subnet,
          bridge,
          mtu,
          masqueradeNetwork: masquerade ? this.config.network : undefined,
        }, natRules);
        const peers = planPeerSync(host, this.config, listing.entries, {
          node: this.options.attrs.node,
          bridge,
        });
        return { plan: [...setup, ...peers.plan], setup, peers };
      });
      for (const step of result.setup) this.log("info", `setup: ${renderStep(step)}`);
      for (const line of describeChanges(result.peers.plan, result.peers.peers)) {
        this.log("info", line);
      }
      this.refused = result.peers.refused;
      for (const r of this.refused) {
        if (this.reported.get(r.key) !== r.reason) {
          this.log("warn", `refused lease ${r.key}: ${r.reason}`, { key: r.key });
        }
        this.reported.set(r.key, r.reason);
      }
      this.lastSync = new Date().toISOString();
      this.lastError = "";
    } catch (e) {
      const message = (e as Error).message;
      if (message !== this.lastError) this.log("warn", `sync failed, retrying: ${message}`);
      this.lastError = message;
    }
    await writeReport({
      pid: process.pid,
      node: this.options.attrs.node,
      store: this.options.store.url,
      subnet: formatPrefix(this.lease.subnet),
      startedAt: this.startedAt,
      lastSync: this.lastSync,
      revision: this.listing?.revision ?? null,
      storeReachable: this.reachable,
      refused: this.refused,
    }).catch(() => {});
  }

  /** `--release-on-exit`: give the lease back and remove hg's routes. */
  private async leave(): Promise<void> {
    await this.options.store.release(this.lease.subnet).then(
      (released) => released && this.log("info", `released ${formatPrefix(this.lease.subnet)}`),
      (e) =>
        this.log(
          "warn",
          `could not release ${formatPrefix(this.lease.subnet)}: ${(e as Error).message}`,
        ),
    );
    await this.host.change((host) => ({
      plan: host.routes.some((r) => r.protocol === HG_ROUTE_PROTOCOL)
        ? [ipStep(["route", "flush", "proto", String(HG_ROUTE_PROTOCOL)])]
        : [],
    }));
    this.log("info", "removed hg's routes");
  }
}
