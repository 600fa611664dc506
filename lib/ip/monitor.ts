/**
 * Change events of this host's network state: `ip monitor link address route neigh`, one
 * long-lived process, so that the agent repairs the host when something changes instead of
 * reading the whole host every second. The lines are not parsed: an event only says "look
 * again", and the reader observes the host to see what changed (`ip monitor` prints plain text
 * whatever `-j` says, and a link that goes down drops its routes without a route event of their
 * own). Of the neighbour events only those of VXLAN devices (`flannel.N`, whose fdb entries are
 * reported as neighbours too) count: ARP's own comings and goings would wake the reader for
 * nothing.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { startProcess } from "../exec/spawn.ts";

/**
 * Yields each time links, addresses or routes of the namespace change (a burst may yield a few
 * times: callers coalesce), and when `ip monitor` says it lost events (the kernel drops netlink
 * messages a slow reader did not take: "netlink receive error No buffer space available", after
 * which `ip monitor` goes on), until `signal` aborts. Throws when `ip monitor` ends by itself.
 *
 * Each yield is the time `ip monitor` printed the latest of the events (ms since the epoch, from
 * its `-ts` stamps): the events happened before it, so an observation of the host begun after
 * that time already shows them. Infinity when that is not known (lost events).
 *
 * @example
 * ```ts
 * declare function requestRepair(at: number): void;
 * const signal = AbortSignal.timeout(60_000);
 * for await (const at of netChanges(signal)) requestRepair(at);
 * ```
 */
export async function* netChanges(signal: AbortSignal, netns?: string): AsyncIterable<number> {
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
  /** The latest event's time since the last yield (-Infinity: none). */
  let pending = -Infinity;
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = (at: number) => {
    pending = Math.max(pending, at);
    wake?.();
  };
  let stderr = "";
  const out = pump(child.stdout, (text) => {
    if (relevant(text)) poke(eventTime(text));
  }).finally(() => {
    ended = true;
    wake?.();
  });
  const err = pump(child.stderr, (text) => {
    stderr = (stderr + text).slice(-4096);
    if (lostEvents(text)) poke(Infinity);
  });
  const stop = () => child.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      if (pending === -Infinity && !ended) await new Promise<void>((resolve) => wake = resolve);
      wake = undefined;
      if (pending !== -Infinity) {
        const at = pending;
        pending = -Infinity;
        yield at;
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
