import { type ProcessResult, runProcess } from "../exec/run.ts";

/**
 * Runs a program in a named network namespace with `nsenter --net`, which changes only the
 * network namespace: unlike `ip netns exec`, namespaces it creates are visible everywhere and
 * `/proc/sys/net` is the namespace's own.
 *
 * @example
 * ```ts
 * await runInNetns("hglab-h1", ["ping", "-c", "1", "1.1.2.2"]);
 * ```
 */
export function runInNetns(netns: string, argv: readonly string[]): Promise<ProcessResult> {
  return runProcess("nsenter", [`--net=/run/netns/${netns}`, "--", ...argv]);
}
