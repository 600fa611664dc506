import { spawn } from "node:child_process";
import { openSync } from "node:fs";

/**
 * Starts a long-running process that outlives this one (detached, in its own session), with
 * its output going to `logPath`. Returns its PID.
 *
 * @example
 * ```ts
 * const pid = startDaemon("nsenter", ["--net=/run/netns/hglab-ul", "etcd", ...], "/run/hg/lab-hglab/etcd.log");
 * ```
 */
export function startDaemon(command: string, args: readonly string[], logPath: string): number {
  const log = openSync(logPath, "a");
  const child = spawn(command, [...args], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child.pid;
}
