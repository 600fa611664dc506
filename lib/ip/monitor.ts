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
 * @example
 * ```ts
 * for await (const _ of netChanges(signal)) requestRepair();
 * ```
 */
export async function* netChanges(signal: AbortSignal, netns?: string): AsyncIterable<void> {
  if (signal.aborted) return;
  const argv = [
    ...(netns === undefined ? [] : ["-n", netns]),
    "monitor",
    "label",
    "link",
    "address",
    "route",
    "neigh",
  ];
  const child = startProcess("ip", argv);
  let pending = false;
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    pending = true;
    wake?.();
  };
  let stderr = "";
  const out = pump(child.stdout, (text) => relevant(text) && poke()).finally(() => {
    ended = true;
    wake?.();
  });
  const err = pump(child.stderr, (text) => {
    stderr = (stderr + text).slice(-4096);
    if (lostEvents(text)) poke();
  });
  const stop = () => child.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      if (!pending && !ended) await new Promise<void>((resolve) => wake = resolve);
      wake = undefined;
      if (pending) {
        pending = false;
        yield;
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

/**
 * Whether a chunk of `ip monitor label` output holds anything but other devices' ARP news.
 *
 * @example
 * ```ts
 * relevant("[NEIGH]10.0.12.7 dev eth0 lladdr 0e:00:00:00:00:07 REACHABLE\n"); // false
 * relevant("[ROUTE]Deleted 1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104\n"); // true
 * ```
 */
export function relevant(chunk: string): boolean {
  return chunk.split("\n").some((line) =>
    line !== "" && (!line.startsWith("[NEIGH]") || line.includes(" dev flannel."))
  );
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
