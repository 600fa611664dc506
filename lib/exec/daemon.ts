import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { processState } from "./process_state.ts";

/**
 * Starts a long-running process that outlives this one (detached, in its own session), with
 * its output going to `logPath`. Returns its PID.
 *
 * @example
 * ```ts
 * const pid = startDaemon(
 *   "nsenter",
 *   ["--net=/run/netns/hglab-ul", "etcd", "--data-dir", "/run/hg/lab-hglab/etcd"],
 *   "/run/hg/lab-hglab/etcd.log",
 * );
 * console.log(pid);
 * ```
 */
export function startDaemon(command: string, args: readonly string[], logPath: string): number {
  const log = openSync(logPath, "a");
  const child = spawn(command, [...args], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child.pid;
}

/**
 * Whether process `pid` still runs. A zombie does not: a daemon killed a moment ago stays one
 * until init reaps it (its parent is long gone), and signal 0 still reaches it.
 */
export function isRunning(pid: number): boolean {
  return processState(pid).alive;
}

/** Waits up to `ms` for process `pid` to exit; false when it is still there. */
async function exited(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * Stops a daemon: SIGTERM, up to `graceMs` to exit, then SIGKILL. Resolves "stopped" when it
 * exited by itself (or was gone already), "killed" when it had to be killed.
 *
 * @example
 * ```ts
 * declare const pid: number; // a daemon started by this program
 * if (await stopDaemon(pid, 10_000) === "killed") console.error(`${pid} ignored SIGTERM`);
 * ```
 */
export async function stopDaemon(pid: number, graceMs: number): Promise<"stopped" | "killed"> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return "stopped"; // gone
  }
  if (await exited(pid, graceMs)) return "stopped";
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return "stopped"; // exited just now
  }
  await exited(pid, 5_000);
  return "killed";
}
