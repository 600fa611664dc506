/**
 * Running a program to completion and collecting its output. Always argv arrays, never a
 * shell, so no value can be re-interpreted as shell syntax.
 *
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync } from "node:fs";
import { OUTPUT_TO_FILE, readText, startProcess } from "./spawn.ts";

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
  const file = OUTPUT_TO_FILE ? outputFile() : undefined;
  try {
    const child = startProcess(command, args, {
      stdin: options.input !== undefined,
      env: options.env,
      stdoutFd: file,
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
    return { code, stdout: file === undefined ? stdout : readWhole(file), stderr };
  } finally {
    if (file !== undefined) closeSync(file);
  }
}

let outputFiles = 0;

/**
 * A new, already unlinked file for a child's output (nothing is left behind, whatever happens
 * to this process), or undefined when none can be made (the child then writes to a pipe).
 */
function outputFile(): number | undefined {
  const path = `${process.env.TMPDIR || "/tmp"}/hg-${process.pid}-${outputFiles++}.out`;
  try {
    // O_EXCL: never a file or link someone put there.
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    unlinkSync(path);
    return fd;
  } catch {
    return undefined;
  }
}

/** All of an output file, from its start (the child moved the shared offset to its end). */
function readWhole(fd: number): string {
  const buffer = new Uint8Array(fstatSync(fd).size);
  for (let at = 0; at < buffer.length;) {
    const n = readSync(fd, buffer, at, buffer.length - at, at);
    if (n === 0) break;
    at += n;
  }
  return new TextDecoder().decode(buffer);
}
