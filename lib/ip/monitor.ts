/**
 * Change events of this host's network state: `ip monitor link address route neigh`, one
 * long-lived process, so that the agent repairs the host when something changes instead of
 * reading the whole host every second. An event mostly says only "look again": the reader
 * observes the host to see what changed (`ip monitor` prints plain text whatever `-j` says, and
 * a link that goes down drops its routes without a route event of their own). One kind is read
 * further: a report made only of hg's own routes being set or deleted names their destinations,
 * so that the agent can tell the echo of its own change from anyone else's. Of the neighbour
 * events only those of VXLAN devices (`flannel.N`, whose fdb entries are reported as neighbours
 * too) count: ARP's own comings and goings would wake the reader for nothing.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { startProcess } from "../exec/spawn.ts";
import { HG_ROUTE_PROTOCOL } from "./protocol.ts";

/** One report of changes: when they happened and, when they were plainly hg's routes, which. */
export interface NetChange {
  /**
   * When `ip monitor` printed the latest of the events (ms since the epoch, from its `-ts`
   * stamps): they happened before it. Infinity when that is not known (lost events).
   */
  readonly at: number;
  /**
   * When every event was one of hg's routes (proto 104) being set or deleted: their
   * destinations as hg writes them (`1.1.2.0/24`, `fd00:1:2::/64`; a host route with its /32
   * or /128). Undefined when any was anything else: only such a report can be the echo of
   * hg's own change.
   */
  readonly hgRoutes?: readonly string[];
}

/**
 * Yields each time links, addresses or routes of the namespace change (a burst may yield a few
 * times: callers coalesce), and when `ip monitor` says it lost events (the kernel drops netlink
 * messages a slow reader did not take: "netlink receive error No buffer space available", after
 * which `ip monitor` goes on), until `signal` aborts. Throws when `ip monitor` ends by itself.
 *
 * Each yield is a {@link NetChange}: an observation of the host begun after its `at` already
 * shows the events; the events of a burst that were not yet yielded are merged into one.
 *
 * @example
 * ```ts
 * declare function requestRepair(at: number): void;
 * const signal = AbortSignal.timeout(60_000);
 * for await (const { at } of netChanges(signal)) requestRepair(at);
 * ```
 */
export async function* netChanges(signal: AbortSignal, netns?: string): AsyncIterable<NetChange> {
  if (signal.aborted) return;
  const argv = [
    ...(netns === undefined ? [] : ["-n", netns]),
    "-ts",
    "monitor",
    "label",
    "link",
    "address",
    "route",
    "neigh",
  ];
  const child = startProcess("ip", argv);
  /** The events since the last yield, merged (undefined: none). */
  let pending: NetChange | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = (change: NetChange) => {
    pending = pending === undefined ? change : mergeChanges(pending, change);
    wake?.();
  };
  let stderr = "";
  /** The start of a line whose end has not been read yet. */
  let partial = "";
  const out = pump(child.stdout, (text) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    const change = readEvents(lines);
    if (change) poke(change);
  }).finally(() => {
    ended = true;
    wake?.();
  });
  const err = pump(child.stderr, (text) => {
    stderr = (stderr + text).slice(-4096);
    if (lostEvents(text)) poke({ at: Infinity });
  });
  const stop = () => child.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      if (pending === undefined && !ended) await new Promise<void>((resolve) => wake = resolve);
      wake = undefined;
      if (pending !== undefined) {
        const change = pending;
        pending = undefined;
        yield change;
      } else if (ended) break;
    }
    if (!signal.aborted) {
      const code = await child.exited;
      await Promise.allSettled([out, err]);
      const why = stderr.trim().split("\n").filter((l) => !lostEvents(l)).at(-1) ?? "";
      throw new HgError(`ip monitor ended (exit ${code}): ${why}`);
    }
  } finally {
    signal.removeEventListener("abort", stop);
    child.kill();
  }
}

/** Reads `stream` to its end, handing each decoded chunk to `chunk`. */
async function pump(
  stream: ReadableStream<Uint8Array>,
  chunk: (text: string) => unknown,
): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      chunk(decoder.decode(value, { stream: true }));
    }
  } catch {
    // The process was killed: nothing more to read.
  }
}

/** `ip -ts monitor`'s stamp at the start of an event's first line: local time, microseconds. */
const STAMP = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})(\d*)\] /;

/** Two reports as one: the later time, and hg's routes only when both were only those. */
function mergeChanges(a: NetChange, b: NetChange): NetChange {
  const at = Math.max(a.at, b.at);
  return a.hgRoutes && b.hgRoutes ? { at, hgRoutes: [...a.hgRoutes, ...b.hgRoutes] } : { at };
}

/**
 * The report of whole lines of `ip -ts monitor label` output; undefined when they hold nothing
 * but other devices' ARP news.
 *
 * @example
 * ```ts
 * readEvents(["[2026-12-01T16:11:31.084346] [ROUTE]Deleted 1.1.2.0/24 via 10.9.0.3 dev d0 proto 104 onlink "]);
 * // { at: ..., hgRoutes: ["1.1.2.0/24"] }
 * readEvents(["[2026-12-01T16:11:31.078670] [ROUTE]fd00::/64 dev d0 proto kernel metric 256 pref medium"]);
 * // { at: ... }: not hg's
 * ```
 */
export function readEvents(lines: readonly string[]): NetChange | undefined {
  const text = lines.join("\n");
  if (!relevant(text)) return undefined;
  const at = eventTime(text);
  const hgRoutes: string[] = [];
  for (const line of lines) {
    if (line === "") continue;
    const event = line.replace(STAMP, "");
    // A line without a stamp continues an event (a multipath route's nexthops, a link's
    // details): not one of hg's routes, which are single lines.
    if (event === line) return { at };
    if (event.startsWith("[NEIGH]") && !event.includes(" dev flannel.")) continue;
    const dst = hgRouteDestination(event);
    if (dst === undefined) return { at };
    hgRoutes.push(dst);
  }
  return { at, hgRoutes };
}

/** A single-path route destination as `ip` prints one: an address, with or without its length. */
const DESTINATION = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f]*:[0-9a-f:.]*)(?:\/\d{1,3})?$/i;

/**
 * The destination of an event that sets or deletes one of hg's routes in table main
 * (`[ROUTE]1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104 onlink`), as hg writes it (a host
 * route gets its /32 or /128); undefined for any other event.
 */
function hgRouteDestination(event: string): string | undefined {
  if (!event.startsWith("[ROUTE]")) return undefined;
  const words = event.slice("[ROUTE]".length).trim().split(/\s+/);
  if (words[0] === "Deleted") words.shift();
  const dst = words[0];
  if (dst === undefined || !DESTINATION.test(dst) || words.includes("table")) return undefined;
  const proto = words.indexOf("proto");
  if (proto < 0 || words[proto + 1] !== String(HG_ROUTE_PROTOCOL)) return undefined;
  return dst.includes("/") ? dst : `${dst}/${dst.includes(":") ? 128 : 32}`;
}

/**
 * Whether a chunk of `ip -ts monitor label` output holds anything but other devices' ARP news.
 *
 * @example
 * ```ts
 * relevant("[2026-12-01T11:57:26.969859] [NEIGH]10.0.12.7 dev eth0 lladdr 0e:00:00:00:00:07 REACHABLE\n"); // false
 * relevant("[2026-12-01T11:57:26.969859] [ROUTE]Deleted 1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104\n"); // true
 * ```
 */
export function relevant(chunk: string): boolean {
  return chunk.split("\n").some((line) => {
    const event = line.replace(STAMP, "");
    return event !== "" && (!event.startsWith("[NEIGH]") || event.includes(" dev flannel."));
  });
}

/**
 * The time (ms since the epoch) of the latest stamped event in a chunk of `ip -ts monitor`
 * output; Infinity when no line of it carries a stamp (an event's continuation lines do not).
 *
 * @example
 * ```ts
 * eventTime("[2026-12-01T11:57:26.969859] [LINK]1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n");
 * // Date.parse("2026-12-01T11:57:26.969") + 0.859 (the stamp is local time)
 * ```
 */
export function eventTime(chunk: string): number {
  let latest = -Infinity;
  for (const line of chunk.split("\n")) {
    const m = STAMP.exec(line);
    if (!m) continue;
    const at = Date.parse(`${m[1]}.${m[2]}`) + Number(`0.${m[3] || "0"}`);
    if (Number.isNaN(at)) return Infinity;
    latest = Math.max(latest, at);
  }
  return latest === -Infinity ? Infinity : latest;
}

/**
 * Whether `ip monitor`'s stderr says that events were lost (the socket's buffer overflowed):
 * whatever they were, the host must be looked at again.
 *
 * @example
 * ```ts
 * lostEvents("netlink receive error No buffer space available (105)\n"); // true
 * ```
 */
export function lostEvents(text: string): boolean {
  return /No buffer space available|\(105\)/.test(text);
}
