/**
 * The runtime adapter for starting processes: Bun.spawn under Bun, Deno.Command under Deno,
 * node:child_process elsewhere. The runtimes' own APIs start a process in well under a
 * millisecond, while their node:child_process layers spend 5-10 ms on the first spawn, which
 * is most of what a one-shot `hg` command costs. The only module that uses `Bun.*` or `Deno.*`.
 *
 * @module
 */
import type * as ChildProcess from "node:child_process";
import type * as Stream from "node:stream";
import { EnvironmentError } from "../errors.ts";

/** A started process: its output streams, its input, and its exit code. */
export interface Child {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Writes to standard input (only when started with `stdin: true`). */
  write(text: string): void;
  /** Closes standard input. */
  end(): void;
  /** Ends the process (SIGTERM); for long-running ones such as `ip monitor`. */
  kill(): void;
  readonly exited: Promise<number>;
}

/** Options for {@link startProcess}. */
export interface StartOptions {
  /** Open standard input for {@link Child.write}. */
  readonly stdin?: boolean;
  /** Variables added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Standard output goes to this open file instead of a pipe (`stdout` is then empty). Only
   * where {@link OUTPUT_TO_FILE} says the runtime can.
   */
  readonly stdoutFd?: number;
}

/**
 * Whether a child's output can go to a file ({@link StartOptions.stdoutFd}): under Bun, which
 * spends 30-40 ms of CPU reading the megabyte of a 10,000-route table from a pipe, and 2-3 ms
 * reading it from a file. Deno.Command takes no file.
 */
export const OUTPUT_TO_FILE: boolean = (globalThis as { Bun?: unknown }).Bun !== undefined;

const PACKAGES: Readonly<Record<string, string>> = {
  ip: "iproute2",
  ping: "iputils-ping",
  iptables: "iptables",
  nsenter: "util-linux",
  etcd: "etcd-server",
};

/** The error for a program that is not installed. */
export function notFound(command: string): EnvironmentError {
  return new EnvironmentError(
    `"${command}" was not found in PATH: install it (Debian package ${
      PACKAGES[command] ?? command
    })`,
  );
}

interface BunSpawned {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  stdin: { write(text: string): void; end(): void } | undefined;
  exited: Promise<number>;
  kill(): void;
}
interface BunRuntime {
  spawn(argv: string[], options: Record<string, unknown>): BunSpawned;
}
interface DenoChild {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  stdin: WritableStream<Uint8Array>;
  status: Promise<{ code: number }>;
  kill(): void;
}
interface DenoRuntime {
  Command: new (command: string, options: Record<string, unknown>) => { spawn(): DenoChild };
}

const runtime = globalThis as { Bun?: BunRuntime; Deno?: DenoRuntime };

/**
 * Starts `command` with `args` (argv, never a shell). A program that is not installed throws
 * an EnvironmentError naming its Debian package.
 *
 * @example
 * ```ts
 * const child = startProcess("ip", ["-batch", "-"], { stdin: true });
 * child.write("link set lo up\n");
 * child.end();
 * await child.exited; // 0
 * ```
 */
export function startProcess(
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): Child {
  const env = options.env ? { ...process.env, ...options.env } : undefined;
  try {
    if (runtime.Bun) {
      return fromBun(runtime.Bun, command, args, options.stdin ?? false, env, options.stdoutFd);
    }
    if (runtime.Deno) return fromDeno(runtime.Deno, command, args, options.stdin ?? false, env);
  } catch (e) {
    if (isNotFound(e)) throw notFound(command);
    throw e;
  }
  return fromNode(command, args, options.stdin ?? false, env);
}

function isNotFound(e: unknown): boolean {
  const error = e as { code?: string; name?: string; message?: string };
  return error?.code === "ENOENT" || error?.name === "NotFound" ||
    /not found|No such file/i.test(error?.message ?? "");
}

/** Runs `write`, ignoring EPIPE whether it throws or its promise rejects (see fromBun). */
function ignoreBrokenPipe(write: () => unknown): void {
  const broken = (e: unknown) => {
    if ((e as { code?: string })?.code !== "EPIPE") throw e;
  };
  try {
    const done = write();
    if (done instanceof Promise) done.catch(broken);
  } catch (e) {
    broken(e);
  }
}

function fromBun(
  bun: BunRuntime,
  command: string,
  args: readonly string[],
  stdin: boolean,
  env?: object,
  stdoutFd?: number,
): Child {
  const p = bun.spawn([command, ...args], {
    stdin: stdin ? "pipe" : "ignore",
    stdout: stdoutFd ?? "pipe",
    stderr: "pipe",
    // Bun finds the program in the PATH it started with unless given the environment: pass it,
    // so a PATH this process changed (plugin mode adds the sbin directories) counts.
    env: env ?? process.env,
  });
  return {
    stdout: p.stdout ?? new Response("").body!,
    stderr: p.stderr,
    // A process that exits before reading its input (`ip -n` of a namespace that is gone)
    // makes a write or the close throw EPIPE; its exit code and stderr say why, as under Deno.
    write: (text) => ignoreBrokenPipe(() => p.stdin?.write(text)),
    end: () => ignoreBrokenPipe(() => p.stdin?.end()),
    kill: () => p.kill(),
    exited: p.exited,
  };
}

function fromDeno(
  deno: DenoRuntime,
  command: string,
  args: readonly string[],
  stdin: boolean,
  env?: object,
): Child {
  const child = new deno.Command(command, {
    args: [...args],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const writer = stdin ? child.stdin.getWriter() : undefined;
  const encoder = new TextEncoder();
  // A process that exits before reading its input makes writes fail; its exit code says why.
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    write: (text) => void writer?.write(encoder.encode(text)).catch(() => {}),
    end: () => void writer?.close().catch(() => {}),
    kill: () => {
      try {
        child.kill();
      } catch {
        // it has exited already
      }
    },
    exited: child.status.then((s) => s.code),
  };
}

// Loaded only here: the modules cost milliseconds at every start (a CNI plugin's start is on
// every container's path) and Bun and Deno never come this way.
const builtin = <T>(name: string) =>
  (process as unknown as { getBuiltinModule(name: string): T }).getBuiltinModule(name);

function fromNode(
  command: string,
  args: readonly string[],
  stdin: boolean,
  env?: NodeJS.ProcessEnv,
): Child {
  const { spawn } = builtin<typeof ChildProcess>("node:child_process");
  const { Readable } = builtin<typeof Stream>("node:stream");
  const child = spawn(command, [...args], {
    stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
    env,
  });
  child.stdin?.on("error", () => {});
  const exited = new Promise<number>((resolve, reject) => {
    child.on(
      "error",
      (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? notFound(command) : e),
    );
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  return {
    stdout: Readable.toWeb(child.stdout!) as ReadableStream<Uint8Array>,
    stderr: Readable.toWeb(child.stderr!) as ReadableStream<Uint8Array>,
    write: (text) => void child.stdin?.write(text),
    end: () => void child.stdin?.end(),
    kill: () => void child.kill(),
    exited,
  };
}

/** Reads a whole stream as text. */
export async function readText(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}
