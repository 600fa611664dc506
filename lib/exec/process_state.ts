/**
 * What the kernel says about a process: whether a PID is alive and since when, and who this
 * process is (its PID, start time and the scope its PID belongs to). What the lock's staleness
 * judgement and the daemons' stopping need, kept apart so that the judgement itself is pure.
 *
 * @module
 */
import { readFileSync, readlinkSync } from "node:fs";

/** A PID as seen now: gone (no such process, or a zombie), or alive and started at startTime. */
export type ProcessState =
  | { readonly alive: false }
  | { readonly alive: true; readonly startTime?: string };

/** Looks up a PID (the real one is {@link processState}; tests pass their own). */
export type ProcessProbe = (pid: number) => ProcessState;

/**
 * The state letter and start time of a /proc/PID/stat line, or undefined if it is not one.
 *
 * @example
 * ```ts
 * parseProcStat("7 (a) b) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0");
 * // { state: "S", startTime: "4242" }
 * ```
 */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces and ")": fields after the
  // last ")" are fixed, starting at field 3 (state); field 22 is the start time.
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const state = fields[0] ?? "";
  const startTime = fields[22 - 3] ?? "";
  return /^[A-Za-z]$/.test(state) && /^\d+$/.test(startTime) ? { state, startTime } : undefined;
}

/**
 * Whether `pid` is alive now, and its start time when /proc shows it. A zombie is dead: it runs
 * no code and will never release a lock. Without /proc (or with hidepid), `kill(pid, 0)` still
 * tells alive from gone; EPERM means alive, owned by another user.
 *
 * @example
 * ```ts
 * processState(process.pid); // { alive: true, startTime: "1234567" }
 * ```
 */
export function processState(pid: number): ProcessState {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (stat) {
      return stat.state === "Z" || stat.state === "X"
        ? { alive: false }
        : { alive: true, startTime: stat.startTime };
    }
  } catch {
    // Not visible in /proc: ask the kernel directly below.
  }
  try {
    process.kill(pid, 0);
    return { alive: true };
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM" ? { alive: true } : { alive: false };
  }
}

/** This process as a lock owner sees itself. */
export interface ThisProcess {
  readonly pid: number;
  readonly startTime?: string;
  /** `BOOTID/PIDNS`: where this PID means this process (undefined when /proc cannot tell). */
  readonly scope?: string;
}

let self: ThisProcess | undefined;

/**
 * This process's PID, start time and PID scope (read once: they never change).
 *
 * @example
 * ```ts
 * thisProcess(); // { pid: 4711, startTime: "1234567", scope: "5cb8470e-.../4026531836" }
 * ```
 */
export function thisProcess(): ThisProcess {
  if (self) return self;
  const state = processState(process.pid);
  let scope: string | undefined;
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const pidns = readlinkSync("/proc/self/ns/pid").replace(/\D/g, "");
    if (/^[0-9a-f-]{1,64}$/.test(boot) && pidns !== "") scope = `${boot}/${pidns}`;
  } catch {
    scope = undefined; // no /proc: liveness is judged by PID alone, as before
  }
  self = { pid: process.pid, startTime: state.alive ? state.startTime : undefined, scope };
  return self;
}
