/**
 * Running a program to completion and collecting its output. Always argv arrays, never a
 * shell, so no value can be re-interpreted as shell syntax.
 *
 * @module
 */
import { readText, startProcess } from "./spawn.ts";

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
 * with an EnvironmentError naming it.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runProcess("ip", ["-j", "link"]);
 * ```
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ProcessResult> {
  const child = startProcess(command, args, {
    stdin: options.input !== undefined,
    env: options.env,
  });
  if (options.input !== undefined) {
    child.write(options.input);
    child.end();
  }
  const [stdout, stderr, code] = await Promise.all([
    readText(child.stdout),
    readText(child.stderr),
    child.exited,
  ]);
  return { code, stdout, stderr };
}
