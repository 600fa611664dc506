/**
 * The agent: the flanneld of hg. It leases this host's subnet, sets the host up, and keeps the
 * host's routes equal to the other hosts' leases. It works from events: the registry's watch
 * (a lease came or went) and `ip monitor` on the host (a route deleted by someone else, a link
 * that went down and up), with a slow safety poll of both. Its cost follows the changes, not the
 * cluster: it keeps the last listing (a {@link LeaseTable}: a watch's change is applied to it,
 * or a listing compared with it) and the last observation of the host (a {@link HostView}: kept
 * until `ip monitor` reports a change), and plans only when either changed; a plan that comes
 * out empty from the kept observation starts no process. A registry change is planned for the
 * leases that changed alone (lib/peers/changed_leases.ts), observed under the lock only where
 * they are, and the kept observation becomes the host as the plan left it: a watch event costs
 * the same at 100 leases as at 5,000. A check that finds nothing to change
 * takes no lock, so other hg commands on the host never wait for it. When the registry cannot
 * be reached it keeps every route as it is and catches up later.
 *
 * The lease has one owner, the {@link LeaseKeeper}; the agent exits only when the keeper proves
 * that another host holds the subnet.
 *
 * @module
 */
import { noConfigError } from "../store/configure.ts";
import { readFile } from "node:fs/promises";
import { type ContainerEntry, listContainers, presentContainers } from "../containers/list.ts";
import { listRules } from "../firewall/iptables.ts";
import { findBridge } from "../host/bridge.ts";
import { observeHost } from "../host/observe.ts";
import type { HostState } from "../host/state.ts";
import { type NetChange, netChanges } from "../ip/monitor.ts";
import { formatAddress } from "../net/address.ts";
import { firstHost, formatPrefix, type Prefix, prefixEquals } from "../net/prefix.ts";
import { describeChanges } from "../peers/describe.ts";
import { planVxlanRemoval } from "../vxlan/device.ts";
import { type PeerSync, planPeerSync, type RefusedLease } from "../peers/sync.ts";
import {
  amendByPlan,
  changedLeasesBlocker,
  type IndexedHost,
  indexHost,
  type LeaseChangeOf,
  narrowHost,
  planChangedLeases,
  planRouteDestinations,
  touchedSubnets,
} from "../peers/changed_leases.ts";
import { changeHostWhenNeeded } from "../plan/change.ts";
import { applyPlan } from "../plan/apply.ts";
import { withHostLock } from "../host/lock.ts";
import { IpSession } from "../ip/session.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import { renderStep } from "../plan/render.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { planHgRoutesRemoval } from "../peers/list.ts";
import { planSetup } from "../setup/plan.ts";
import { bridgeMtuError } from "../setup/mtu.ts";
import { uplinkOf } from "../host/public_address.ts";
import { formatSubnetEnv, subnetOfEnv, writeSubnetEnv } from "../setup/subnet_env.ts";
import { allocate, PreviousSubnetError } from "../store/allocate.ts";
import { configEquals, type NetworkConfig } from "../store/config.ts";
import { EtcdUnavailableError } from "../store/etcd/client.ts";
import { type LeaseAttrs, leaseKey, leaseSubnets } from "../store/lease.ts";
import type { LeaseChange, RegistryEntry, SubnetStore } from "../store/store.ts";
import { observeSubnets } from "./host_part.ts";
import { HostView, type OwnChangeToken } from "./host_view.ts";
import { LeaseGrace } from "./lease_grace.ts";
import { LeaseKeeper, type LeaseLostError } from "./lease_keeper.ts";
import { type LeaseDelta, LeaseTable, offersLeaseChanges } from "./lease_table.ts";
import type { Logger } from "./log.ts";
import { removeReport, writeReport } from "./status_file.ts";
import { sleep } from "./wakeup.ts";

export { LeaseLostError } from "./lease_keeper.ts";

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
  /** Write the network config back when the registry has lost it (default true). */
  readonly restoreConfig?: boolean;
  readonly log: Logger;
  /**
   * How long an observation of the host is trusted without a change event (ms; default 5 min):
   * the safety check for what `ip monitor` does not report (firewall rules), or missed.
   */
  readonly repairMs?: number;
  /** How often the registry is listed whole besides its watch (ms; default 5 min). */
  readonly relistMs?: number;
  /** How often the forwarding sysctls are read, a file read each (ms; default 10 s). */
  readonly checkMs?: number;
  /** How long a peer's lease that lapsed in an outage keeps its routes (ms; see LeaseGrace). */
  readonly lapseGraceMs?: number;
  /** The host it changes: this one by default (tests give their own). */
  readonly host?: AgentHost;
}

/** How the agent reads and changes its host. */
export interface AgentHost {
  /** Reads the host. */
  readonly observe: () => Promise<HostState>;
  /**
   * Plans with `planner` from an observation and applies the plan when it has steps (under the
   * host lock); see {@link changeHostWhenNeeded}.
   */
  readonly change: <T extends { readonly plan: Plan }>(
    planner: (host: HostState) => T | Promise<T>,
  ) => Promise<T & { readonly lockHeldMs: number }>;
  /**
   * Under the host lock: observes, plans with `planner` and applies (for a plan that a kept
   * observation already showed to have steps: no look without the lock first). Then, with the
   * lock given back, `after` (given what was applied) may observe the host once more.
   */
  readonly changeNow: <T extends { readonly plan: Plan }>(
    planner: (host: HostState) => T | Promise<T>,
    after: (
      applied: T & { readonly lockHeldMs: number },
      observe: () => Promise<HostState>,
    ) => Promise<void>,
  ) => Promise<T & { readonly lockHeldMs: number }>;
  /**
   * {@link changeNow} for a plan of the leases of `subnets` alone: under the host lock it
   * observes only what such a plan reads (the routes overlapping `subnets`; links, addresses
   * and forwarding whole), plans, applies, and awaits `settled` (the change's echo);
   * `appliedAt` is the wall clock (ms since the epoch) then, before the lock is given back. A
   * host without it is changed through `changeNow`, planned whole.
   */
  readonly changeSubnets?: <T extends { readonly plan: Plan }>(
    subnets: readonly Prefix[],
    planner: (host: HostState) => T | Promise<T>,
    settled?: () => Promise<void>,
  ) => Promise<T & { readonly lockHeldMs: number; readonly appliedAt: number }>;
  /** `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding`, as the observation has them. */
  readonly forwarding: () => Promise<readonly [boolean, boolean]>;
  /**
   * Yields when the host's links, addresses or routes may have changed: when, and which of hg's
   * routes when that is all it was (see `netChanges`), or nothing when that is not known.
   */
  readonly changes: (signal: AbortSignal) => AsyncIterable<NetChange | void>;
  /** hg's masquerade rules are checked against these (`iptables -t nat -S POSTROUTING`). */
  readonly natRules: () => Promise<string[]>;
  /** Host-side veths of the containers whose namespace exists (see `presentContainers`). */
  readonly present: (containers: readonly ContainerEntry[]) => ReadonlySet<string>;
}

/**
 * {@link AgentHost.changeNow} on this host: one `ip` process, started before the lock, observes
 * and applies (applying ends it: `after`'s look starts one of its own).
 */
async function changeHostNow<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
  after: (
    applied: T & { readonly lockHeldMs: number },
    observe: () => Promise<HostState>,
  ) => Promise<void>,
): Promise<T & { readonly lockHeldMs: number }> {
  const session = IpSession.open();
  try {
    const result = await withHostLock(async () => {
      const began = performance.now();
      const planned = await planner(await observeHost(session));
      await applyPlan(planned.plan, session);
      return { ...planned, lockHeldMs: performance.now() - began };
    });
    await after(result, () => observeHost());
    return result;
  } finally {
    await session.close();
  }
}

/**
 * {@link AgentHost.changeSubnets} on this host: the part of the host the subnets' plan reads is
 * observed through the `ip` process that then applies the plan (started before the lock).
 */
async function changeSubnetsNow<T extends { readonly plan: Plan }>(
  subnets: readonly Prefix[],
  planner: (host: HostState) => T | Promise<T>,
  settled?: () => Promise<void>,
): Promise<T & { readonly lockHeldMs: number; readonly appliedAt: number }> {
  const session = IpSession.open();
  try {
    return await withHostLock(async () => {
      const began = performance.now();
      const planned = await planner(await observeSubnets(session, subnets));
      await applyPlan(planned.plan, session);
      if (planned.plan.length > 0) await settled?.();
      return { ...planned, lockHeldMs: performance.now() - began, appliedAt: wallClock() };
    });
  } finally {
    await session.close();
  }
}

const THIS_HOST: AgentHost = {
  present: presentContainers,
  observe: () => observeHost(),
  change: changeHostWhenNeeded,
  changeNow: changeHostNow,
  changeSubnets: changeSubnetsNow,
  changes: (signal) => netChanges(signal),
  natRules: () => listRules("nat", "POSTROUTING"),
  forwarding: async () => {
    const [v4, v6] = await Promise.all([
      readSysctl("net.ipv4.ip_forward"),
      readSysctl("net.ipv6.conf.all.forwarding").catch(() => "0"),
    ]);
    return [v4 === "1", v6 === "1"] as const;
  },
};

/** A sync's plan (setup steps, then the peers'), as applied. */
type Synced = {
  readonly plan: Plan;
  readonly setup: Plan;
  readonly peers: PeerSync;
  readonly lockHeldMs: number;
};

/** How long after its own change the agent waits for `ip monitor` to print it (ms). */
const ECHO_MS = 20;

/** The wall clock with sub-millisecond resolution, as `ip -ts monitor` stamps its events. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * What the agent keeps of an observation: the host, and hg's NAT rules when it masquerades;
 * its routes indexed by prefix once a registry change is planned alone from it.
 */
interface Observed {
  readonly host: HostState;
  readonly natRules: string[];
  indexed?: IndexedHost;
}

/** The subnet this host used before: its bridge's, else the one subnet.env names. */
async function previousSubnet(
  host: HostState,
  bridge: string,
  subnetFile: string,
): Promise<Prefix | undefined> {
  const onBridge = findBridge(host, bridge)?.gateway?.prefix;
  if (onBridge) return onBridge;
  const env = await readFile(subnetFile, "utf8").catch(() => undefined);
  return env === undefined ? undefined : subnetOfEnv(env);
}

/** A running agent. */
export class Agent {
  private config!: NetworkConfig;
  private keeper!: LeaseKeeper;
  /** The registry's leases as last listed, with every watched change applied. */
  private readonly table = new LeaseTable();
  /** Leases that lapsed in an outage, kept a while for their holders to claim (LeaseGrace). */
  private readonly grace: LeaseGrace;
  /** The host as last observed, while no change event says otherwise. */
  private readonly view: HostView<Observed>;
  private reachable = true;
  private lastSync: string | null = null;
  private refused: RefusedLease[] = [];
  private readonly reported = new Map<string, string>();
  private lastError = "";
  /** Plans applied to the host, and the longest time the host lock was held for one (ms). */
  private hostChanges = 0;
  private longestLockMs = 0;
  private configMissing = false;
  private syncing: Promise<void> | undefined;
  private again = false;
  /**
   * The keys whose routed content changed since the host was last planned for them, each with
   * its entry as it was then; "all" when the whole registry is to be planned (at the start,
   * after a change of the network config, after a failed sync).
   */
  private dirty: Map<string, RegistryEntry | undefined> | "all" = "all";
  private readonly startedAt = new Date().toISOString();
  private readonly stop = new AbortController();
  private lost: LeaseLostError | undefined;
  /** The report being written, if any (see {@link report}). */
  private reporting = Promise.resolve();

  constructor(private readonly options: AgentOptions) {
    this.view = new HostView(options.repairMs ?? 300_000);
    this.grace = new LeaseGrace(options.lapseGraceMs);
  }

  private get log(): Logger {
    return this.options.log;
  }

  private get host(): AgentHost {
    return this.options.host ?? THIS_HOST;
  }

  private get subnet(): Prefix {
    return this.keeper.subnet;
  }

  /**
   * Waits for the registry, leases the subnet (the one the host already uses when it is free)
   * and makes the host right once (or, when the listing after the lease goes unanswered, leaves
   * that to the watch loop of {@link run}). Throws when the host uses a subnet it cannot lease
   * again and has containers on it (they would have to be renumbered).
   */
  async start(): Promise<void> {
    const { store, attrs, ttlSeconds, bridge, subnetFile } = this.options;
    let backoff = 100;
    for (;;) {
      try {
        const config = await store.getConfig();
        if (!config) {
          throw noConfigError(store.url);
        }
        this.config = config;
        const host = await this.host.observe();
        const badMtu = bridgeMtuError(this.options.mtu, uplinkOf(host, attrs.publicIp));
        if (badMtu) throw badMtu;
        const previous = await previousSubnet(host, bridge, subnetFile);
        const containers = listContainers(host);
        const { lease, reused, previousUnavailable } = await allocate(store, {
          attrs,
          ttlSeconds,
          previous,
          keepPrevious: containers.length > 0,
        }).catch((e) => {
          if (!(e instanceof PreviousSubnetError)) throw e;
          throw new PreviousSubnetError(
            `${e.message}; its containers (${containers.map((c) => c.name).join(", ")}) are ` +
              `on it, and the agent does not renumber containers: release that lease if its ` +
              `holder is gone ("hg subnet release"), or remove the containers ("hg teardown") ` +
              `to move this host`,
          );
        });
        this.keeper = new LeaseKeeper({
          store,
          // As leased: with what the network's backend needs (a VXLAN host's VTEP MAC).
          attrs: lease.attrs,
          ttlSeconds,
          subnets: lease,
          log: this.log,
          // A renewal is a question to the registry too: its answer says whether it is there.
          onAnswer: (error) => error ? this.unreachable(error) : this.reached("(lease renewed)"),
        });
        const subnet = formatPrefix(lease.subnet);
        this.log(
          "info",
          `${reused ? "kept" : "leased"} ${subnet} for ${attrs.node} via ${
            formatAddress(attrs.publicIp)
          }`,
          { subnet, node: attrs.node },
        );
        if (previous && !prefixEquals(previous, lease.subnet)) {
          const from = formatPrefix(previous);
          this.log(
            "warn",
            `moved this host from ${from} to ${subnet}: ${
              previousUnavailable === undefined
                ? `its lease is for ${subnet}`
                : `${from} cannot be leased again (${previousUnavailable})`
            }`,
            { subnet },
          );
        }
        break;
      } catch (e) {
        if (!(e instanceof EtcdUnavailableError)) throw e;
        this.log("warn", `registry unreachable, retrying in ${backoff} ms: ${e.message}`);
        await sleep(backoff, this.stop.signal);
        if (this.stop.signal.aborted) return;
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    const { ipv6Subnet } = this.keeper.subnets;
    const text = formatSubnetEnv({
      network: this.config.network,
      subnet: this.subnet,
      ...(this.config.ipv6 && ipv6Subnet
        ? { ipv6: { network: this.config.ipv6.network, subnet: ipv6Subnet } }
        : {}),
      mtu: this.options.mtu ?? this.options.uplinkMtu,
      ipMasq: this.options.masquerade,
    });
    if (await writeSubnetEnv(subnetFile, text)) this.log("info", `wrote ${subnetFile}`);
    try {
      await this.relist();
    } catch (e) {
      // The lease is held: a listing answered late is an outage like any other, which the
      // watch loop rides out (listing again, then syncing), not a reason to exit.
      if (!(e instanceof EtcdUnavailableError)) throw e;
      this.unreachable(e);
      return;
    }
    await this.sync();
  }

  /** Runs until `shutdown()` (or a lost lease); resolves with the exit code. */
  async run(): Promise<number> {
    const signal = this.stop.signal;
    const loops = Promise.all([
      this.keeper.run(signal).then((lost) => lost && this.loseLease(lost)),
      this.watchLoop(signal),
      this.hostLoop(signal),
      this.pollLoop(signal),
    ]);
    // Once asked to stop, give the loops a moment; a request stuck on a stalled connection
    // (a registry that froze) must not keep the agent from stopping.
    const stopped = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => setTimeout(resolve, 2000), { once: true })
    );
    await Promise.race([loops, stopped]);
    if (this.lost) return 1;
    if (this.options.releaseOnExit) await this.leave();
    await this.reporting; // a report still being written would bring the file back
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

  /**
   * The registry's watch: each change is applied to the kept listing (a store that only says
   * that something changed is listed again and compared), and synced when it changes routes.
   */
  private async watchLoop(signal: AbortSignal): Promise<void> {
    let backoff = 100;
    let rewatch = 0;
    while (!signal.aborted) {
      try {
        await this.relist();
        backoff = 100;
      } catch (e) {
        if (signal.aborted) return;
        this.unreachable(e as Error);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      try {
        const { store } = this.options;
        const from = this.table.revision!;
        if (offersLeaseChanges(store)) {
          for await (const change of store.watchLeaseChanges(from, signal)) {
            rewatch = 0;
            this.reached(`at revision ${change.revision}`);
            await this.changed(this.table.apply(this.holdLapsed(change)), false);
          }
        } else {
          for await (const _ of store.watchLeases(from, signal)) {
            rewatch = 0;
            await this.relist(false);
          }
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

  /** The host's change events: each one makes the kept observation stale, and checks the host. */
  private async hostLoop(signal: AbortSignal): Promise<void> {
    for (let restart = false; !signal.aborted; restart = true) {
      // Whatever happened while nothing watched (a monitor that died and starts again) is seen.
      if (restart) this.view.changed();
      try {
        for await (const change of this.host.changes(signal)) {
          if (this.view.changed(change?.at ?? Infinity, change?.hgRoutes)) void this.sync();
        }
      } catch (e) {
        if (signal.aborted) return;
        this.log("warn", `watching the host failed, polling meanwhile: ${(e as Error).message}`);
        await sleep(5000, signal);
      }
    }
  }

  /**
   * The safety poll: the registry listed whole every `relistMs` (and when a lease it holds runs
   * out: the file store sends no event for that); the host observed again once its observation
   * is `repairMs` old; in between, every `checkMs`, the forwarding sysctls (which `ip monitor`
   * does not report) compared with the observation: a tick that finds nothing changed starts no
   * process and reads no registry.
   */
  private async pollLoop(signal: AbortSignal): Promise<void> {
    const relistMs = this.options.relistMs ?? 300_000;
    const checkMs = Math.min(this.options.checkMs ?? 10_000, this.view.maxAgeMs);
    let relisted = Date.now();
    while (!signal.aborted) {
      // A lease that runs out after the last listing is a change the file store sends no event
      // for; one that ran out before it is already gone (or the listing failed: wait the period).
      const expiry = this.table.nextExpiry(relisted, leaseKey(this.keeper.subnets)) + 100;
      const relistAt = Math.min(relisted + relistMs, expiry);
      await sleep(Math.max(0, Math.min(checkMs, relistAt - Date.now())), signal);
      if (signal.aborted) return;
      if (Date.now() >= relistAt) {
        relisted = Date.now();
        await this.relist().catch((e) => this.unreachable(e as Error));
        continue;
      }
      const kept = this.view.current(Date.now());
      if (kept) {
        const [v4, v6] = await this.host.forwarding().catch(() => [undefined, undefined]);
        if (v4 === kept.host.forwarding && v6 === kept.host.forwarding6) continue;
        this.view.changed();
      }
      await this.sync();
    }
  }

  /**
   * Lists the registry; syncs the host when the leases changed; hands the listing to the lease
   * keeper; with `withConfig`, also reads the network config, and writes it back when the
   * registry lost it (a watch event is only about leases: it reads the leases alone).
   */
  private async relist(withConfig = true): Promise<void> {
    const { store } = this.options;
    const { config, listing } = withConfig
      ? await store.readRegistry()
      : { config: this.config, listing: await store.listLeases() };
    const previous = this.table.revision;
    this.reached(`at revision ${listing.revision}`);
    const delta = this.table.replace(listing);
    if (delta.wentBack) {
      this.log(
        "warn",
        `the registry's revision went back from ${previous} to ${listing.revision}: ` +
          `it lost data (restored from a backup, or wiped)`,
      );
    }
    let configChanged = false;
    if (!config) await this.restoreConfig();
    else {
      this.configMissing = false;
      if (!configEquals(config, this.config)) {
        this.log("warn", `the network config changed: now ${formatPrefix(config.network)}`);
        this.config = config;
        configChanged = true;
      }
    }
    await this.changed(delta, configChanged);
  }

  /**
   * After the kept listing changed: the keeper looks at this host's entry, and the host is
   * synced when something routes are made from changed.
   */
  private async changed(delta: LeaseDelta, configChanged: boolean): Promise<void> {
    this.keeper.check(this.table.get(leaseKey(this.keeper.subnets)));
    if (configChanged || delta.wentBack) this.dirty = "all";
    else if (this.dirty !== "all") {
      for (const key of delta.changed) {
        if (!this.dirty.has(key)) this.dirty.set(key, delta.before.get(key));
      }
    }
    if (delta.changed.length > 0 || configChanged) await this.sync();
  }

  /**
   * A watch batch without the deletions of peers' leases that lapsed in a registry outage (see
   * {@link LeaseGrace}): they stay in the table, and leave it when their grace ends unless
   * written again meanwhile.
   */
  private holdLapsed(change: LeaseChange): LeaseChange {
    const ownKey = leaseKey(this.keeper.subnets);
    const { apply, held } = this.grace.hold(change, this.table, ownKey, Date.now());
    if (held.length === 0) return apply;
    this.log(
      "info",
      `lapsed without a release: ${held.map((e) => e.key).join(", ")}; routes kept for ` +
        `${this.grace.graceMs / 1000} s while the holder claims the lease again`,
    );
    void sleep(this.grace.graceMs, this.stop.signal).then(async () => {
      const ended = this.grace.ended(this.table, Date.now());
      if (ended.size === 0 || this.stop.signal.aborted) return;
      const { revision, entries } = this.table.listing();
      const rest = entries.filter((e) => !ended.has(e.key));
      await this.changed(this.table.replace({ revision, entries: rest }), false);
    }).catch((e) =>
      this.log("warn", `could not end a lapsed lease's grace: ${(e as Error).message}`)
    );
    return apply;
  }

  /** The registry has no network config any more: write back the one this agent saw. */
  private async restoreConfig(): Promise<void> {
    const { store, restoreConfig = true } = this.options;
    const network = `${formatPrefix(this.config.network)} /${this.config.subnetLen}`;
    if (!restoreConfig) {
      if (!this.configMissing) {
        this.log(
          "error",
          `${store.url} has lost its network config (${network} before); not writing it back ` +
            `(--no-restore-config): new hosts cannot join until "hg subnet config" writes one`,
        );
      }
      this.configMissing = true;
      return;
    }
    if (await store.putConfig(this.config, undefined)) {
      this.log("warn", `${store.url} had lost its network config: wrote back ${network}`);
    }
  }

  private async loseLease(lost: LeaseLostError): Promise<void> {
    this.lost = lost;
    const subnet = formatPrefix(this.subnet);
    this.log(
      "error",
      `LEASE LOST: ${subnet} now belongs to ${lost.holder}; this host stops serving it ` +
        `(bridge ${this.options.bridge} address removed) and the agent exits`,
      { subnet },
    );
    const gateways = leaseSubnets(this.keeper.subnets).map((s) =>
      `${formatAddress(firstHost(s))}/${s.length}`
    );
    await this.host.change(() => ({
      plan: gateways.map((g) => ipStep(["addr", "del", g, "dev", this.options.bridge])),
    })).catch((e) =>
      this.log(
        "error",
        `could not remove ${gateways.join(" and ")} from ${this.options.bridge}: ${
          (e as Error).message
        }`,
      )
    );
    this.stop.abort();
  }

  /** The registry answered (`where`: what the agent read, for the log). */
  private reached(where: string): void {
    if (this.reachable) return;
    this.log("info", `registry reachable again ${where}`);
    this.reachable = true;
    this.grace.reached(Date.now());
    void this.report();
  }

  private unreachable(e: Error): void {
    if (!this.reachable) return;
    this.log("warn", `registry unreachable, keeping every route as it is: ${e.message}`);
    this.reachable = false;
    this.grace.unreachable();
    void this.report();
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

  /**
   * Plans the host from the kept observation when there is one (no process started when the
   * plan is empty), else from a fresh one; applies a plan with steps under the host lock.
   */
  private async syncOnce(): Promise<void> {
    if (this.table.revision === undefined) return;
    const { masquerade } = this.options;
    const dirty = this.dirty;
    this.dirty = new Map();
    try {
      const kept = this.view.current(Date.now());
      const changes = kept && dirty !== "all" ? this.changesOf(dirty) : undefined;
      if (kept && changes && this.host.changeSubnets && !this.blocker(changes)) {
        await this.syncChanged(kept, changes);
      } else if (kept) {
        const entries = this.table.entries();
        const planned = this.plan(kept.host, entries, kept.natRules);
        if (planned.plan.length === 0) this.record({ ...planned, lockHeldMs: 0 });
        else {
          this.view.changed(); // by this plan
          const { natRules } = kept;
          await this.host.changeNow(
            (host) => this.plan(host, entries, natRules),
            async (applied, observe) => {
              this.record(applied); // said when done, not after the look that follows
              await this.observeApplied(applied, observe, natRules);
            },
          );
        }
      } else {
        const entries = this.table.entries();
        const token = this.view.begin(wallClock());
        let seen: HostState | undefined;
        let result: Synced;
        try {
          const natRules = masquerade ? await this.host.natRules() : [];
          result = await this.host.change((host) => {
            seen = host;
            return this.plan(host, entries, natRules);
          });
          if (result.lockHeldMs === 0 && seen) this.view.observed(token, { host: seen, natRules });
        } finally {
          this.view.abandoned(token);
        }
        if (result.lockHeldMs > 0) this.view.changed();
        this.record(result);
      }
    } catch (e) {
      // What this sync was to plan is planned whole next time.
      this.dirty = "all";
      const message = (e as Error).message;
      if (message !== this.lastError) this.log("warn", `sync failed, retrying: ${message}`);
      this.lastError = message;
    }
    await this.report();
  }

  /** The changed keys of `dirty`, each with its entry before and now. */
  private changesOf(dirty: ReadonlyMap<string, RegistryEntry | undefined>): LeaseChangeOf[] {
    return [...dirty].map(([key, before]) => ({ key, before, after: this.table.get(key) }));
  }

  /** Why `changes` must be planned with the whole registry (undefined: they can be alone). */
  private blocker(changes: readonly LeaseChangeOf[]): string | undefined {
    return changedLeasesBlocker(this.config, (s) => this.table.overlapping(s), changes, {
      node: this.options.attrs.node,
      ownKey: leaseKey(this.keeper.subnets),
      ownSubnets: leaseSubnets(this.keeper.subnets),
    });
  }

  /**
   * A registry change with the kept observation current: only the changed leases are planned,
   * against the kept observation; a plan with steps is made again under the host lock from a
   * read of the part of the host they touch, and applied; the kept observation becomes the host
   * as the plan left it (the rest of it stays, as no event said it changed). Nothing here grows
   * with the number of leases or routes but an array copy.
   */
  private async syncChanged(kept: Observed, changes: readonly LeaseChangeOf[]): Promise<void> {
    const keys = new Set(changes.map((c) => c.key));
    const touched = touchedSubnets(changes);
    // Planned from the kept observation, with this host's own subnets too: the setup's plan
    // checks the routes overlapping them. Under the lock a change of those is not looked for
    // (the setup's plan then only misses a conflict, which the kept observation showed).
    const subnets = [...touched, ...leaseSubnets(this.keeper.subnets)];
    const { natRules } = kept;
    const indexed = kept.indexed ??= indexHost(kept.host);
    const plan = (host: HostState) => {
      const own = this.table.get(leaseKey(this.keeper.subnets));
      return this.plan(
        host,
        [],
        natRules,
        (containers) =>
          planChangedLeases(host, this.config, changes, own, {
            node: this.options.attrs.node,
            bridge: this.options.bridge,
            present: this.host.present(containers),
          }),
      );
    };
    const planned = plan(narrowHost(kept.host, subnets, indexed.routes));
    if (planned.plan.length === 0) {
      this.record({ ...planned, lockHeldMs: 0 }, keys);
      return;
    }
    let token: OwnChangeToken | undefined;
    let part: HostState | undefined;
    try {
      const applied = await this.host.changeSubnets!(touched, (host) => {
        part = host;
        const planned = plan(host);
        // From here on (the lock held) the events naming the routes it changes are its echo,
        // until it is applied; any other event is someone else's.
        token = this.view.beginOwn(wallClock(), planRouteDestinations(planned.plan));
        return planned;
      }, async () => {
        // `ip monitor` stamps an event when it prints it: its echo, printed after the change
        // was applied, would count as someone else's (one more whole look). Still under the
        // lock, so that no other hg command's change can pass for it.
        const until = Date.now() + ECHO_MS * 2;
        while (token && !this.view.echoed(token) && Date.now() < until) {
          await sleep(2, this.stop.signal);
        }
        await sleep(1, this.stop.signal); // the rest of a several-step echo
      });
      this.record(applied, keys);
      const seen = part;
      // Setup steps change what the kept observation does not hold (NAT rules, sysctls).
      const amended = token !== undefined && seen !== undefined && applied.setup.length === 0 &&
        this.view.amended(token, applied.appliedAt, (k) => {
          const now = amendByPlan(k.indexed ?? indexHost(k.host), touched, seen, applied.plan);
          return now && { host: now.state, natRules: k.natRules, indexed: now };
        });
      // An event of the host that was not this change's, or a plan it cannot follow: the host
      // is looked at whole.
      if (!amended) this.again = true;
    } finally {
      if (token) this.view.abandonedOwn(token);
    }
  }

  /**
   * Right after the agent changed the host (the lock given back), the host as it is now becomes
   * the kept observation: the change's own `ip monitor` events happened before it began, so they
   * do not make the agent look again. A short wait lets `ip monitor` print them first (one it
   * prints later counts as a change, and costs one more look). Not after setup steps: NAT rules
   * and sysctls are not in that observation.
   */
  private async observeApplied(
    applied: { readonly setup: Plan },
    observe: () => Promise<HostState>,
    natRules: string[],
  ): Promise<void> {
    if (applied.setup.length > 0) return;
    await sleep(ECHO_MS, this.stop.signal);
    const token = this.view.begin(wallClock());
    try {
      this.view.observed(token, { host: await observe(), natRules });
    } catch {
      // The change is made; without this look the next event or tick observes the host.
    } finally {
      this.view.abandoned(token);
    }
  }

  /**
   * The plan that makes `host` right for the leases `entries` (or, with `peersPlanner`, for
   * what that plans): setup, then the peers.
   */
  private plan(
    host: HostState,
    entries: readonly RegistryEntry[],
    natRules: string[],
    peersPlanner?: (containers: readonly ContainerEntry[]) => PeerSync,
  ) {
    const { bridge, mtu, masquerade } = this.options;
    const containers = listContainers(host);
    const peers = peersPlanner
      ? peersPlanner(containers)
      : planPeerSync(host, this.config, entries, {
        node: this.options.attrs.node,
        bridge,
        present: this.host.present(containers),
      });
    const { subnet, ipv6Subnet } = this.keeper.subnets;
    const setup = planSetup(host, {
      subnet,
      ...(ipv6Subnet ? { ipv6Subnet } : {}),
      bridge,
      // Once a peer tunnels, the sync holds the bridge at the VXLAN MTU: not set back here.
      mtu: peers.tunnelMtu !== undefined && (mtu ?? 0) > peers.tunnelMtu ? undefined : mtu,
      // Masquerading covers IPv4 (an IPv6-only network has none to cover).
      masqueradeNetwork: masquerade && this.config.network.address.family === 4
        ? this.config.network
        : undefined,
      // A host without containers follows its lease; one with containers is never moved.
      renumber: containers.length === 0,
    }, natRules);
    return { plan: [...setup, ...peers.plan], setup, peers };
  }

  /**
   * Logs and counts what a sync did; with `keys`, it planned those keys alone (the leases
   * refused before of the others stay refused).
   */
  private record(result: Synced, keys?: ReadonlySet<string>): void {
    // The lock taken is what counts (a plan may turn out empty once observed under it).
    if (result.lockHeldMs > 0) {
      this.hostChanges++;
      this.longestLockMs = Math.max(this.longestLockMs, result.lockHeldMs);
    }
    for (const step of result.setup) this.log("info", `setup: ${renderStep(step)}`);
    for (const line of describeChanges(result.peers.plan, result.peers.peers)) {
      this.log("info", line);
    }
    this.refused = keys
      ? [...this.refused.filter((r) => !keys.has(r.key)), ...result.peers.refused]
      : result.peers.refused;
    for (const r of result.peers.refused) {
      if (this.reported.get(r.key) !== r.reason) {
        this.log("warn", `refused lease ${r.key}: ${r.reason}`, { key: r.key });
      }
      this.reported.set(r.key, r.reason);
    }
    this.lastSync = new Date().toISOString();
    this.lastError = "";
  }

  /**
   * Writes what `hg status` shows of the agent, after any write still under way: two writes at
   * once may rename in either order, and an older report left last (one saying it never synced)
   * stays until the next change, which an idle agent may never make. Each write says what holds
   * when it starts.
   */
  private report(): Promise<void> {
    this.reporting = this.reporting.then(() => this.writeReportNow());
    return this.reporting;
  }

  private async writeReportNow(): Promise<void> {
    await writeReport({
      pid: process.pid,
      node: this.options.attrs.node,
      store: this.options.store.url,
      subnet: formatPrefix(this.subnet),
      ipv6Subnet: this.keeper.subnets.ipv6Subnet
        ? formatPrefix(this.keeper.subnets.ipv6Subnet)
        : null,
      startedAt: this.startedAt,
      lastSync: this.lastSync,
      leaseRenewedAt: this.keeper.renewedAt,
      hostChanges: this.hostChanges,
      longestLockMs: Math.round(this.longestLockMs),
      revision: this.table.revision ?? null,
      storeReachable: this.reachable,
      refused: this.refused,
    }).catch(() => {});
  }

  /** `--release-on-exit`: give the lease back and remove hg's routes. */
  private async leave(): Promise<void> {
    await this.options.store.release(leaseKey(this.keeper.subnets)).then(
      (released) => released && this.log("info", `released ${formatPrefix(this.subnet)}`),
      (e) =>
        this.log(
          "warn",
          `could not release ${formatPrefix(this.subnet)}: ${(e as Error).message}`,
        ),
    );
    await this.host.change((host) => ({
      plan: [
        ...planHgRoutesRemoval(host),
        // The VXLAN device, with its neighbour and fdb entries: peers can no longer use it.
        ...planVxlanRemoval(host).steps,
      ],
    }));
    this.log("info", "removed hg's routes and VXLAN device");
  }
}
