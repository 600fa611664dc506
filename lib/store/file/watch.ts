/**
 * Change notification for the shared JSON file: file system events on its directory (the file
 * is replaced by rename, so the directory is what changes), with polling as a fallback for file
 * systems that send no events (NFS, some containers).
 *
 * @module
 */
import { watch } from "node:fs";
import { basename, dirname } from "node:path";

/** How often the fallback poll looks, in ms. */
export const POLL_MS = 1000;

/**
 * Yields whenever `path` may have changed (an event, or each poll), until `signal` aborts.
 * The caller reads the file to see whether anything did.
 *
 * @example
 * ```ts
 * declare function relist(): Promise<void>;
 * const signal = AbortSignal.timeout(60_000);
 * for await (const _ of fileChanges("/var/lib/hg/subnets.json", signal)) await relist();
 * ```
 */
export async function* fileChanges(path: string, signal: AbortSignal): AsyncIterable<void> {
  let wake: (() => void) | undefined;
  let pending = false;
  const poke = () => {
    pending = true;
    wake?.();
  };
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dirname(path), (_event, name) => {
      if (name === null || String(name) === basename(path)) poke();
    });
    watcher.on("error", () => {/* the poll still runs */});
  } catch {
    watcher = undefined; // no events here: polling alone
  }
  const timer = setInterval(poke, POLL_MS);
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      if (!pending) await new Promise<void>((resolve) => wake = resolve);
      wake = undefined;
      if (signal.aborted) return;
      pending = false;
      yield;
    }
  } finally {
    clearInterval(timer);
    watcher?.close();
    signal.removeEventListener("abort", onAbort);
  }
}
