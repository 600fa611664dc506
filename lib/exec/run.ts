/**
 * The one place that starts processes. Always argv arrays, never a shell, so no value can be
 * re-interpreted as shell syntax.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { EnvironmentError } from "../errors.ts";

/** What a finished process left behind. */
export interface ProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@link runProcess}. */
export interface RunOptions {
  /** Written to the process's standard input, which is then closed. */
  readonly input?: string;
  /** Extra environment variables on top of this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs `command` with `args`, collects its output and resolves with its exit code; it never
 * rejects on a non-zero exit (callers decide what a failure means). A missing program rejects
 * with an {@link EnvironmentError} naming it.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runProcess("ip", ["-j", "link"]);
 * ```
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ENOENT"
          ? new EnvironmentError(
            `"${command}" was not found in PATH: install it (Debian package ${packageOf(command)})`,
          )
          : e,
      );
    });
    child.on("close", (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    if (options.input !== undefined) {
      child.stdin!.on("error", () => {/* the process exited early; its exit code says why */});
      child.stdin!.end(options.input);
    }
  });
}

const PACKAGES: Readonly<Record<string, string>> = {
  ip: "iproute2",
  ping: "iputils-ping",
  iptables: "iptables",
  nsenter: "util-linux",
  etcd: "etcd-server",
};

function packageOf(command: string): string {
  return PACKAGES[command] ?? command;
}
