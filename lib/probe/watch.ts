/**
 * The probe's edge in one network namespace: it removes trace tables that killed probes left,
 * starts `nft monitor`, installs the probe's trace table, reads the counters before and after,
 * and removes the table again. Everything here runs processes; what they print is parsed once,
 * into the typed {@link NamespaceTrace}.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { runWhere, startWhere } from "../exec/netns.ts";
import { processState } from "../exec/process_state.ts";
import type { Child } from "../exec/spawn.ts";
import { ipRead } from "../ip/exec.ts";
import { type LinkStats, parseLinkStats } from "../ip/link_stats.ts";
import { type Neighbour, parseNeighbours } from "../ip/neigh.ts";
import { type Counters, parseNstat } from "./nstat.ts";
import { type ChainHooks, chainKey } from "./passes.ts";
import { parseMonitorLine, type RulesetEvent, type TraceEvent } from "./trace_line.ts";
import {
  probeTableOwner,
  removeTablesScript,
  TRACE_FAMILIES,
  traceTableScript,
} from "./trace_table.ts";

/** The probe could not watch a namespace (nft missing, the namespace gone, ...). */
export class WatchError extends HgError {}

/** What a namespace's counters and neighbours were at one moment. */
export interface NamespaceReading {
  readonly counters: Counters;
  readonly links: readonly LinkStats[];
  readonly neighbours: readonly Neighbour[];
}

/** Everything one namespace showed of the probe. */
export interface NamespaceTrace {
  readonly events: readonly TraceEvent[];
  readonly hooks: ChainHooks;
  readonly before: NamespaceReading;
  readonly after: NamespaceReading;
  /** Probe tables of killed runs that this run removed. */
  readonly removedStale: readonly string[];
}

type Json = Record<string, unknown>;

/** The namespace's nft chains and tables (`nft -j list chains`/`tables`), parsed. */
async function listNft(netns: string | undefined, what: "chains" | "tables"): Promise<Json[]> {
  const r = await runWhere(netns, ["nft", "-j", "list", what]);
  if (r.code !== 0) {
    throw new WatchError(`nft -j list ${what}${where(netns)}: ${firstLine(r.stderr)}`);
  }
  const items = (JSON.parse(r.stdout) as { nftables?: Json[] }).nftables ?? [];
  return items.flatMap((item) => {
    const value = item[what === "chains" ? "chain" : "table"];
    return typeof value === "object" && value !== null ? [value as Json] : [];
  });
}

const where = (netns: string | undefined) => netns === undefined ? "" : ` in ${netns}`;
const firstLine = (text: string) => text.trim().split("\n")[0] ?? "";

/** Reads the counters, link statistics and neighbours of a namespace. */
async function readNamespace(netns: string | undefined): Promise<NamespaceReading> {
  const [nstat, links, neighbours] = await Promise.all([
    runWhere(netns, ["nstat", "-asz"]),
    ipRead(["-s", "-j", "link", "show"], netns),
    ipRead(["-s", "-j", "neigh", "show"], netns),
  ]);
  if (nstat.code !== 0) throw new WatchError(`nstat${where(netns)}: ${firstLine(nstat.stderr)}`);
  return {
    counters: parseNstat(nstat.stdout),
    links: parseLinkStats(links),
    neighbours: parseNeighbours(neighbours),
  };
}

/** Probe tables whose owner is gone: left by a probe that was killed. */
async function staleTables(netns: string | undefined) {
  const tables = await listNft(netns, "tables");
  return tables.flatMap((t) => {
    const owner = probeTableOwner(String(t.name));
    if (!owner) return [];
    const state = processState(owner.pid);
    const gone = !state.alive ||
      (state.startTime !== undefined && state.startTime !== owner.startTime);
    return gone ? [{ family: String(t.family), name: String(t.name) }] : [];
  });
}

/** A running `nft -a monitor` that keeps what it prints. */
class Monitor {
  readonly events: TraceEvent[] = [];
  private readonly ruleset: RulesetEvent[] = [];
  private waiters: { test: (text: string) => boolean; resolve: () => void }[] = [];
  private readonly child: Child;
  readonly done: Promise<void>;

  constructor(netns: string | undefined) {
    this.child = startWhere(netns, ["nft", "-a", "monitor"]);
    this.done = this.read();
  }

  private async read() {
    const reader = this.child.stdout.getReader();
    const decoder = new TextDecoder();
    let partial = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const lines = (partial + decoder.decode(value, { stream: true })).split("\n");
      partial = lines.pop()!;
      for (const line of lines) this.take(line);
    }
    if (partial) this.take(partial);
  }

  private take(line: string) {
    const event = parseMonitorLine(line);
    if (!event) return;
    if (event.kind !== "ruleset") {
      this.events.push(event);
      return;
    }
    this.ruleset.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(event.text)) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves true when a ruleset line passing `test` is (or was) printed, false after `ms`. */
  seen(test: (text: string) => boolean, ms: number): Promise<boolean> {
    if (this.ruleset.some((e) => test(e.text))) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, ms);
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  async stop() {
    this.child.kill();
    await this.done;
  }
}

/** How long the monitor may take to start listening before the table is installed again. */
const LISTEN_WAIT_MS = [150, 300, 600, 1200];

/** The probe watching one namespace. */
export class NamespaceWatch {
  private constructor(
    readonly netns: string | undefined,
    private readonly table: string,
    private readonly monitor: Monitor,
    private readonly before: NamespaceReading,
    private readonly removedStale: readonly string[],
  ) {}

  /**
   * Removes stale probe tables, installs the trace table for `icmpIds` on `devices` (their
   * netdev ingress) and, with `vxlanPort`, for the VXLAN packets that carry them, starts the
   * monitor, and reads the counters.
   *
   * @example
   * ```ts
   * const watch = await NamespaceWatch.start("hglab-h1", "hgprobe_4711_99", [4242], ["eth0"]);
   * const trace = await watch.finish();
   * ```
   */
  static async start(
    netns: string | undefined,
    table: string,
    icmpIds: readonly number[],
    devices: readonly string[],
    vxlanPort?: number,
  ): Promise<NamespaceWatch> {
    const stale = await staleTables(netns);
    // The table goes in before the monitor starts: the monitor prints a traced rule only when
    // its cache, read as it starts, holds that rule, and the probe's own rules say which echo a
    // traced VXLAN packet carries.
    await load(
      netns,
      removeTablesScript(stale) + traceTableScript(table, icmpIds, devices, vxlanPort),
    );
    let monitor: Monitor | undefined;
    try {
      monitor = new Monitor(netns);
      let listening = false;
      for (const [i, ms] of LISTEN_WAIT_MS.entries()) {
        // A chain of its own in the probe's table, made until the monitor prints it: then it
        // listens.
        const marker = `listening_${i}`;
        await load(netns, `add chain arp ${table} ${marker}\n`);
        const ours = (text: string) => text.startsWith(`add chain arp ${table} ${marker}`);
        if ((listening = await monitor.seen(ours, ms))) break;
      }
      if (!listening) throw new WatchError(`nft monitor did not start${where(netns)}`);
      const before = await readNamespace(netns);
      return new NamespaceWatch(netns, table, monitor, before, stale.map((t) => t.name));
    } catch (e) {
      await monitor?.stop();
      await load(netns, removeOurs(table)).catch(() => {});
      throw e;
    }
  }

  /**
   * Reads the counters again, removes the trace table, and returns what the namespace showed.
   * The table's removal is also the fence: the monitor prints it after every trace event
   * before it.
   */
  async finish(): Promise<NamespaceTrace> {
    const [after, chains] = await Promise.all([
      readNamespace(this.netns),
      listNft(this.netns, "chains"),
    ]);
    await this.remove();
    const hooks = new Map(
      chains.flatMap((c) =>
        typeof c.hook === "string"
          ? [[chainKey(String(c.family), String(c.table), String(c.name)), c.hook]]
          : []
      ),
    );
    return {
      events: this.monitor.events,
      hooks,
      before: this.before,
      after,
      removedStale: this.removedStale,
    };
  }

  /** Removes the trace table and stops the monitor (also on errors and signals). */
  async remove(): Promise<void> {
    try {
      await load(this.netns, removeOurs(this.table));
      await this.monitor.seen((t) => t.startsWith(`delete table arp ${this.table}`), 500);
    } finally {
      await this.monitor.stop();
    }
  }
}

function removeOurs(table: string): string {
  // `destroy` would not fail on a missing table, but needs nft 1.0.8; `add` then `delete` works
  // everywhere and removes the table whether it exists or not.
  return TRACE_FAMILIES.map((f) => `add table ${f} ${table}\ndelete table ${f} ${table}\n`).join(
    "",
  );
}

async function load(netns: string | undefined, script: string): Promise<void> {
  const r = await runWhere(netns, ["nft", "-f", "-"], { input: script });
  if (r.code !== 0) {
    throw new WatchError(
      r.code === 127
        ? `nft is not installed${where(netns)}: the probe needs it (Debian package nftables)`
        : `nft -f${where(netns)}: ${firstLine(r.stderr)}`,
    );
  }
}
