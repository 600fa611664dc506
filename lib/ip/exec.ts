/**
 * Runs iproute2: `ip -j` reads and `ip -batch -` writes (and `bridge` for fdb entries), in this
 * process's network namespace or in a named one (`ip -n NETNS`). The only module that starts
 * `ip` and `bridge`.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { runProcess } from "../exec/run.ts";
import { readText, startProcess } from "../exec/spawn.ts";
import { batchLine, ipInvocation, type IpProgram } from "./op.ts";

/** An `ip` command exited non-zero. */
export class IpCommandError extends HgError {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/**
 * Runs one read-only `ip` command and returns its standard output.
 *
 * @example
 * ```ts
 * const json = await ipRead(["-N", "-j", "route", "show", "table", "main"], "hglab-h1");
 * ```
 */
export async function ipRead(
  args: readonly string[],
  netns?: string,
  program: IpProgram = "ip",
): Promise<string> {
  const ip = ipInvocation(netns, args, program);
  const result = await runProcess(ip.command, ip.args);
  if (result.code !== 0) {
    throw new IpCommandError(
      `${ip.command} ${ip.args.join(" ")} failed: ${firstLine(result.stderr)}`,
      result.code,
      result.stderr,
    );
  }
  return result.stdout;
}

/**
 * Applies `commands` through one `ip -batch -` process. ip stops at the first failing line;
 * the error names that line and what ip said about it.
 *
 * @example
 * ```ts
 * await ipBatch([["link", "set", "lo", "up"], ["route", "add", "default", "via", "1.1.1.1"]], "c1");
 * ```
 */
export async function ipBatch(
  commands: readonly (readonly string[])[],
  netns?: string,
  program: IpProgram = "ip",
): Promise<void> {
  if (commands.length === 0) return;
  await startIpBatch(netns, program).run(commands);
}

/** An `ip -batch -` process started before its input is known. */
export interface PendingBatch {
  /** Writes `commands`, ends the input and waits; the first failing command rejects. */
  run(commands: readonly (readonly string[])[]): Promise<void>;
  /** Ends it with nothing done. */
  cancel(): Promise<void>;
}

/**
 * Starts `ip -batch -` for `netns` now, to be given its commands later: a plan whose second
 * namespace exists already has that process started while the first one's batch runs.
 *
 * @example
 * ```ts
 * const inside = startIpBatch("/run/netns/netns-1f2e");
 * await ipBatch([["link", "add", "hgc1", "type", "veth", "peer", "name", "eth0", "netns", "/run/netns/netns-1f2e"]]);
 * await inside.run([["link", "set", "eth0", "up"]]);
 * ```
 */
export function startIpBatch(netns?: string, program: IpProgram = "ip"): PendingBatch {
  const ip = ipInvocation(netns, ["-batch", "-"], program);
  const child = startProcess(ip.command, ip.args, { stdin: true });
  const output = Promise.all([readText(child.stdout), readText(child.stderr)]);
  return {
    async run(commands) {
      child.write(commands.map(batchLine).join("\n") + "\n");
      child.end();
      const [code, [, stderr]] = await Promise.all([child.exited, output]);
      if (code !== 0) throw batchFailure(commands, 0, code, stderr, netns, program);
    },
    async cancel() {
      child.end();
      await Promise.all([child.exited, output]);
    },
  };
}

/**
 * The error for a failed `ip -batch`: it names the line ip stopped at (its "Command failed -:N"
 * counts every line it read; `first` is how many came before `commands`) and what ip said.
 */
export function batchFailure(
  commands: readonly (readonly string[])[],
  first: number,
  code: number,
  stderr: string,
  netns?: string,
  program: IpProgram = "ip",
): IpCommandError {
  const at = /Command failed -:(\d+)/.exec(stderr);
  const failed = at ? commands[Number(at[1]) - 1 - first] : undefined;
  const where = netns === undefined ? "" : ` in namespace ${netns}`;
  const reason = stderr.split("\n").filter((l) => l && !l.startsWith("Command failed"))[0] ?? "";
  return new IpCommandError(
    failed
      ? `"${program} ${batchLine(failed)}"${where} failed: ${reason}`
      : `${program} -batch${where} failed: ${reason}`,
    code,
    stderr,
  );
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}
