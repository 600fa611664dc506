/**
 * The probe: real ICMP echoes from a source container, watched in every namespace on this
 * machine that the path crosses. It installs only its own trace table in each (removed at the
 * end, on errors and on SIGINT/SIGTERM/SIGHUP; a table left by a SIGKILLed run is removed by the
 * next run), re-validates the next hop's neighbour entry (so that a host that went down a
 * minute ago is found, not hidden by a REACHABLE or STALE cache entry), asks the kernel for its
 * routing decision on each hop (`ip route get ... from ... iif ...`), and returns what the
 * namespaces showed: trace passes, counter deltas, link drops, neighbours. No verdict here:
 * doctor reads the result.
 *
 * @module
 */
import { withInterruptCleanup } from "../exec/signals.ts";
import { runInNetns } from "../exec/netns.ts";
import { thisProcess } from "../exec/process_state.ts";
import { ipBatch, IpCommandError, ipRead } from "../ip/exec.ts";
import { type Neighbour, parseNeighbours } from "../ip/neigh.ts";
import { parsePing, pingArgv, type PingOutcome } from "./ping.ts";
import { markOf, tracePasses } from "./passes.ts";
import { probeTableName } from "./trace_table.ts";
import { type NamespaceTrace, NamespaceWatch } from "./watch.ts";

/** What a namespace is on the packet's way. */
export type ProbeRole = "source" | "this host" | "peer host" | "destination";

/** A namespace the probe watches. */
export interface ProbeNamespace {
  /** The named namespace; undefined: this process's own. */
  readonly netns?: string;
  readonly role: ProbeRole;
  /** Devices whose netdev ingress hook is traced too (the ones on the path). */
  readonly devices: readonly string[];
  /** `ip route get` questions asked here (the words after `route get`). */
  readonly routeQueries: readonly (readonly string[])[];
}

/** What the probe is asked to do. */
export interface ProbePlan {
  /** The source container's namespace. */
  readonly source: string;
  readonly to: string;
  readonly namespaces: readonly ProbeNamespace[];
  /** This host's next hop to re-validate: its neighbour entry is made to probe again. */
  readonly nextHop?: { readonly address: string; readonly dev: string };
  /**
   * The destination's host's neighbour entry for the destination (its namespace: undefined for
   * this host's own), forgotten when its resolution is under way or failed, as the next hop's.
   */
  readonly lastHop?: { readonly netns?: string; readonly address: string; readonly dev: string };
  /** Payload of one large echo (the path MTU test); none when undefined. */
  readonly largeSize?: number;
  /** Send it with Don't Fragment (when the source's own MTU holds it). */
  readonly largeDontFragment?: boolean;
  /** The UDP port of VXLAN between the hosts: the packets that carry the echoes are traced too. */
  readonly vxlanPort?: number;
}

/** The kernel's answer to one `ip route get`. */
export interface RouteAnswer {
  readonly query: string;
  /** The route it picked (`ip -j -d route get` output, first entry). */
  readonly route?: Readonly<Record<string, unknown>>;
  /** What the kernel said instead (`Network is unreachable`, `No route to host`, ...). */
  readonly error?: string;
}

/** What one namespace showed, or why it could not be watched. */
export interface NamespaceProbe {
  readonly netns?: string;
  readonly role: ProbeRole;
  readonly trace?: NamespaceTrace;
  readonly error?: string;
  readonly routes: readonly RouteAnswer[];
}

/** Everything the probe saw. */
export interface ProbeResult {
  readonly small: PingOutcome;
  readonly large?: PingOutcome;
  readonly namespaces: readonly NamespaceProbe[];
  /** The next hop's neighbour entry before the probe made it re-validate. */
  readonly nextHop?: {
    readonly address: string;
    readonly dev: string;
    readonly before?: Neighbour;
    /** Whether the entry was asked to probe (not for PERMANENT/NOARP entries, or none). */
    readonly probed: boolean;
  };
  readonly elapsedMs: number;
}

/** The echoes: 3 small ones 0.1 s apart, answers awaited 0.8 s at most after the last. */
const SMALL = { count: 3, size: 56, intervalS: 0.1, waitS: 0.8 };

async function routeGet(netns: string | undefined, query: readonly string[]): Promise<RouteAnswer> {
  const text = `ip route get ${query.join(" ")}`;
  try {
    const [route] = JSON.parse(await ipRead(["-j", "-d", "route", "get", ...query], netns));
    return { query: text, route };
  } catch (e) {
    if (!(e instanceof IpCommandError)) throw e;
    const said = e.stderr.split("\n").find((l) => l.trim() !== "") ?? e.message;
    return { query: text, error: said.replace(/^RTNETLINK answers: /, "").trim() };
  }
}

/**
 * Makes the next hop's neighbour entry probe again, unless it is static or absent. A next hop
 * whose resolution is under way or failed (INCOMPLETE, FAILED) is forgotten instead: the probe's
 * own packets then start ARP or neighbour discovery afresh while the trace watches, rather than
 * meet an entry whose retries were spent before the trace began (a FAILED entry sends nothing
 * until it is asked again).
 */
async function revalidate(hop: { address: string; dev: string }) {
  const before = await forgetUnresolved(hop);
  if (before?.forgotten) return { ...hop, before: before.entry, probed: true };
  const entry = before?.entry;
  const probed = entry !== undefined &&
    !entry.state.some((s) => s === "PERMANENT" || s === "NOARP");
  if (probed) {
    await ipBatch([["neigh", "change", hop.address, "dev", hop.dev, "nud", "probe"]]);
  }
  return { ...hop, ...(entry ? { before: entry } : {}), probed };
}

/**
 * Reads the neighbour entry of `address` on `dev` in `netns`, and deletes it when its
 * resolution is under way or failed (INCOMPLETE, FAILED): the echoes then start it afresh while
 * the trace watches. An INCOMPLETE entry whose last request went out just before the trace began
 * asks again only after the trace ended (seen on the destination's host, whose entry a failed
 * ping had left so, once doctor collected fast enough to begin within its retries).
 */
async function forgetUnresolved(
  hop: { readonly netns?: string; readonly address: string; readonly dev: string },
): Promise<{ entry: Neighbour; forgotten: boolean } | undefined> {
  // With a `dev` filter ip leaves `dev` out of its JSON: filter by address only.
  const entry = parseNeighbours(
    await ipRead(["-j", "neigh", "show", "to", hop.address], hop.netns),
  ).find((n) => n.dev === hop.dev);
  if (!entry) return undefined;
  const forgotten = entry.state.some((s) => s === "INCOMPLETE" || s === "FAILED");
  if (forgotten) await ipBatch([["neigh", "del", hop.address, "dev", hop.dev]], hop.netns);
  return { entry, forgotten };
}

async function ping(source: string, to: string, o: Parameters<typeof pingArgv>[1]) {
  const r = await runInNetns(source, pingArgv(to, o));
  return parsePing(r.stdout, r.stderr, o.icmpId, o.size);
}

/**
 * Runs the probe.
 *
 * @example
 * ```ts
 * const result = await runProbe({
 *   source: "hglab-h1-c1",
 *   to: "1.1.2.2",
 *   namespaces: [{ netns: "hglab-h1-c1", role: "source", devices: ["eth0"], routeQueries: [] }],
 * });
 * result.small.answered;
 * ```
 */
export async function runProbe(plan: ProbePlan): Promise<ProbeResult> {
  const started = performance.now();
  const self = thisProcess();
  const table = probeTableName({ pid: self.pid, startTime: self.startTime ?? "0" });
  const smallId = 1 + Math.floor(Math.random() * 65000);
  const largeId = smallId + 1;
  const ids = plan.largeSize === undefined ? [smallId] : [smallId, largeId];
  const watches = new Map<ProbeNamespace, NamespaceWatch>();
  const errors = new Map<ProbeNamespace, string>();
  const removeAll = async () => {
    await Promise.allSettled([...watches.values()].map((w) => w.remove()));
  };
  return await withInterruptCleanup(removeAll, async () => {
    await Promise.all(plan.namespaces.map(async (ns) => {
      try {
        watches.set(
          ns,
          await NamespaceWatch.start(ns.netns, table, ids, ns.devices, plan.vxlanPort),
        );
      } catch (e) {
        errors.set(ns, (e as Error).message);
      }
    }));
    const traces = new Map<ProbeNamespace, NamespaceTrace>();
    let nextHop: ProbeResult["nextHop"];
    let outcome: [PingOutcome, PingOutcome | undefined, RouteAnswer[][]];
    try {
      [nextHop] = await Promise.all([
        plan.nextHop ? revalidate(plan.nextHop) : undefined,
        plan.lastHop ? forgetUnresolved(plan.lastHop) : undefined,
      ]);
      outcome = await Promise.all([
        ping(plan.source, plan.to, { ...SMALL, icmpId: smallId }),
        plan.largeSize === undefined ? undefined : ping(plan.source, plan.to, {
          ...SMALL,
          count: 1,
          size: plan.largeSize,
          icmpId: largeId,
          noFragment: plan.largeDontFragment ?? true,
        }),
        Promise.all(
          plan.namespaces.map((ns) =>
            Promise.all(ns.routeQueries.map((q) => routeGet(ns.netns, q)))
          ),
        ),
      ]);
    } finally {
      await Promise.all([...watches].map(async ([ns, w]) => {
        try {
          traces.set(ns, await w.finish());
        } catch (e) {
          errors.set(ns, (e as Error).message);
        }
      }));
    }
    const [small, large, asked] = outcome;
    // A mark the firewall set on the probe's packets changes which rules match: ask again
    // with it, as the kernel routed them.
    const routes = await Promise.all(plan.namespaces.map(async (ns, i) => {
      const trace = traces.get(ns);
      const mark = trace &&
        tracePasses(trace.events, trace.hooks).filter((p) =>
          p.packet.icmpId !== undefined && ids.includes(p.packet.icmpId)
        ).map(markOf).find((m) => m !== undefined);
      if (mark === undefined) return asked[i];
      const hex = `0x${mark.toString(16)}`;
      return await Promise.all(ns.routeQueries.map((q) => routeGet(ns.netns, [...q, "mark", hex])));
    }));
    return {
      small,
      ...(large ? { large } : {}),
      namespaces: plan.namespaces.map((ns, i) => ({
        ...(ns.netns === undefined ? {} : { netns: ns.netns }),
        role: ns.role,
        ...(traces.has(ns) ? { trace: traces.get(ns) } : {}),
        ...(errors.has(ns) ? { error: errors.get(ns) } : {}),
        routes: routes[i],
      })),
      ...(nextHop ? { nextHop } : {}),
      elapsedMs: Math.round(performance.now() - started),
    };
  });
}
