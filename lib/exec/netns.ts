/**
 * Running a program in a named network namespace (`/run/netns/NAME`, as `ip netns add` makes
 * them) with `nsenter --net`, which changes only the network namespace: unlike `ip netns exec`,
 * namespaces it creates are visible everywhere and `/proc/sys/net` is the namespace's own.
 *
 * @module
 */
import { type ProcessResult, type RunOptions, runProcess } from "./run.ts";
import { type Child, startProcess } from "./spawn.ts";

/**
 * The path of a network namespace given by name (under `/run/netns`) or by path (starting with
 * "/", as a container runtime gives it).
 *
 * @example
 * ```ts
 * netnsPath("hglab-h1"); // "/run/netns/hglab-h1"
 * netnsPath("/proc/42/ns/net"); // "/proc/42/ns/net"
 * ```
 */
export function netnsPath(netns: string): string {
  return netns.startsWith("/") ? netns : `/run/netns/${netns}`;
}

/**
 * Runs a program in a network namespace given by name or path.
 *
 * @example
 * ```ts
 * await runInNetns("hglab-h1", ["ping", "-c", "1", "1.1.2.2"]);
 * ```
 */
export function runInNetns(
  netns: string,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<ProcessResult> {
  return runProcess("nsenter", [`--net=${netnsPath(netns)}`, "--", ...argv], options);
}

/**
 * Runs a program in `netns`, or in this process's own namespace when it is undefined.
 *
 * @example
 * ```ts
 * await runWhere(undefined, ["nft", "-j", "list", "ruleset"]); // this namespace
 * ```
 */
export function runWhere(
  netns: string | undefined,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<ProcessResult> {
  return netns === undefined
    ? runProcess(argv[0], argv.slice(1), options)
    : runInNetns(netns, argv, options);
}

/**
 * Starts a long-running program in `netns` (this namespace when undefined). `nsenter` execs the
 * program, so ending the child ends the program.
 *
 * @example
 * ```ts
 * const monitor = startWhere("hglab-h1", ["nft", "monitor"]);
 * monitor.kill();
 * ```
 */
export function startWhere(netns: string | undefined, argv: readonly string[]): Child {
  return netns === undefined
    ? startProcess(argv[0], argv.slice(1))
    : startProcess("nsenter", [`--net=${netnsPath(netns)}`, "--", ...argv]);
}
