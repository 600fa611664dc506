/**
 * Runs iproute2: `ip -j` reads and `ip -batch -` writes, in this process's network namespace or
 * in a named one (`ip -n NETNS`). The only module that starts `ip`.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { runProcess } from "../exec/run.ts";
import { batchLine } from "./op.ts";

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

function namespaceArgs(netns: string | undefined): string[] {
  return netns === undefined ? [] : ["-n", netns];
}

/**
 * Runs one read-only `ip` command and returns its standard output.
 *
 * @example
 * ```ts
 * const json = await ipRead(["-N", "-j", "route", "show", "table", "main"], "hglab-h1");
 * ```
 */
export async function ipRead(args: readonly string[], netns?: string): Promise<string> {
  const argv = [...namespaceArgs(netns), ...args];
  const result = await runProcess("ip", argv);
  if (result.code !== 0) {
    throw new IpCommandError(
      `ip ${argv.join(" ")} failed: ${firstLine(result.stderr)}`,
      result.code,
      result.stderr,
    );
  }
  return result.stdout;
}

/**
 * Runs `ip` and returns the exit code with the output, for reads where a failure is an answer
 * (`ip route get` of an unreachable address).
 */
export function ipTry(args: readonly string[], netns?: string) {
  return runProcess("ip", [...namespaceArgs(netns), ...args]);
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
): Promise<void> {
  if (commands.length === 0) return;
  const lines = commands.map(batchLine);
  const argv = [...namespaceArgs(netns), "-batch", "-"];
  const result = await runProcess("ip", argv, { input: lines.join("\n") + "\n" });
  if (result.code !== 0) {
    const at = /Command failed -:(\d+)/.exec(result.stderr);
    const line = at ? lines[Number(at[1]) - 1] : undefined;
    const where = netns === undefined ? "" : ` in namespace ${netns}`;
    const reason = result.stderr.split("\n").filter((l) =>
      l && !l.startsWith("Command failed")
    )[0] ?? "";
    throw new IpCommandError(
      line === undefined
        ? `ip -batch${where} failed: ${reason}`
        : `"ip ${line}"${where} failed: ${reason}`,
      result.code,
      result.stderr,
    );
  }
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}
