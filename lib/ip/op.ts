/**
 * One iproute2 operation (the argument list of an `ip` command) and its safe rendering as a
 * line of `ip -batch` input or as a command for `--dry-run`.
 *
 * @module
 */
import { HgError } from "../errors.ts";

/**
 * One `ip` command, in this process's namespace, a named one (`ip -n NETNS`), or one given by a
 * path (a container runtime's `CNI_NETNS`), which `ip -n` cannot take.
 */
export interface IpOp {
  readonly netns?: string;
  readonly args: readonly string[];
}

/** The iproute2 programs hg runs: `ip`, and `bridge` for fdb entries (`ip` has no `fdb`). */
export type IpProgram = "ip" | "bridge";

/**
 * The program and arguments that run `ip ARGS` in `netns`: `ip -n NAME ...` for a name, and
 * `nsenter --net=PATH -- ip ...` for a path (one that starts with "/").
 *
 * @example
 * ```ts
 * ipInvocation("c1", ["-batch", "-"]); // { command: "ip", args: ["-n", "c1", "-batch", "-"] }
 * ipInvocation("/run/netns/netns-1f2e", ["-batch", "-"]); // { command: "nsenter", args: ["--net=/run/netns/netns-1f2e", "--", "ip", "-batch", "-"] }
 * ```
 */
export function ipInvocation(
  netns: string | undefined,
  args: readonly string[],
  program: IpProgram = "ip",
): { command: string; args: string[] } {
  if (netns === undefined) return { command: program, args: [...args] };
  if (netns.startsWith("/")) {
    return { command: "nsenter", args: [`--net=${netns}`, "--", program, ...args] };
  }
  return { command: program, args: ["-n", netns, ...args] };
}

/** A value that would change the meaning of an `ip -batch` line (whitespace, quotes, newline). */
export class UnsafeTokenError extends HgError {}

// Batch input is split on whitespace and understands quotes, backslashes and "#" comments:
// any of those in a value would let it become another argument or another command.
const SAFE_TOKEN = /^[A-Za-z0-9_.:\/@,=+%-]+$/;

/**
 * Renders `args` as one `ip -batch` line, refusing any token that batch parsing could split
 * or reinterpret.
 *
 * @example
 * ```ts
 * batchLine(["route", "replace", "1.1.2.0/24", "via", "10.0.12.7"]); // "route replace 1.1.2.0/24 via 10.0.12.7"
 * batchLine(["link", "del", "x\nroute flush all"]); // throws UnsafeTokenError
 * ```
 */
export function batchLine(args: readonly string[]): string {
  for (const token of args) {
    if (!SAFE_TOKEN.test(token)) {
      throw new UnsafeTokenError(
        `refusing to pass ${JSON.stringify(token)} to ip: unsafe characters`,
      );
    }
  }
  return args.join(" ");
}

/**
 * The `ip` command line for an operation, as `--dry-run` prints it.
 *
 * @example
 * ```ts
 * formatIpCommand({ netns: "c1", args: ["link", "set", "lo", "up"] }); // "ip -n c1 link set lo up"
 * ```
 */
export function formatIpCommand(op: IpOp, program: IpProgram = "ip"): string {
  const { command, args } = ipInvocation(op.netns, [], program);
  return [command, ...args.map((a) => batchLine([a])), batchLine(op.args)].join(" ");
}
