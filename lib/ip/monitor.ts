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
import { readText, startProcess } from "../exec/spawn.ts";

/**
 * Yields each time links, addresses or routes of the namespace change (a burst may yield a few
 * times: callers coalesce), until `signal` aborts. Throws when `ip monitor` ends by itself.
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
  const stderr = readText(child.stderr);
  const reader = child.stdout.getReader();
  const stop = () => child.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (relevant(decoder.decode(value, { stream: true }))) yield;
    }
    if (!signal.aborted) {
      const code = await child.exited;
      throw new HgError(`ip monitor ended (exit ${code}): ${(await stderr).trim().split("\n")[0]}`);
    }
  } finally {
    signal.removeEventListener("abort", stop);
    child.kill();
  }
}

/** Whether a chunk of `ip monitor label` output holds anything but other devices' ARP news. */
function relevant(chunk: string): boolean {
  return chunk.split("\n").some((line) =>
    line !== "" && (!line.startsWith("[NEIGH]") || line.includes(" dev flannel."))
  );
}
