/**
 * Change events of this host's network state: `ip monitor link address route`, one long-lived
 * process, so that the agent repairs the host when something changes instead of reading the
 * whole host every second. The lines are not parsed: an event only says "look again", and the
 * reader observes the host to see what changed (`ip monitor` prints plain text whatever `-j`
 * says, and a link that goes down drops its routes without a route event of their own).
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
    "link",
    "address",
    "route",
  ];
  const child = startProcess("ip", argv);
  const stderr = readText(child.stderr);
  const reader = child.stdout.getReader();
  const stop = () => child.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    while (!(await reader.read()).done) yield;
    if (!signal.aborted) {
      const code = await child.exited;
      throw new HgError(`ip monitor ended (exit ${code}): ${(await stderr).trim().split("\n")[0]}`);
    }
  } finally {
    signal.removeEventListener("abort", stop);
    child.kill();
  }
}
