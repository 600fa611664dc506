/**
 * The one line a lock file holds: who owns the lock. `PID TOKEN START SCOPE HOST\n`, where START
 * is the owner's start time (field 22 of /proc/PID/stat, clock ticks since boot), so that a PID
 * the kernel has since handed to another process is not mistaken for the owner, SCOPE names where
 * that PID means something (the boot and the PID namespace), so that a lock written on another
 * machine sharing the file is not judged by this machine's processes, and HOST is the owner's
 * host name, so that a lock on shared storage says which host holds it. START and SCOPE may be
 * `-` when /proc could not tell. The older forms `PID TOKEN START SCOPE\n` and `PID TOKEN\n` are
 * still understood, and the PID stays the first field.
 *
 * @module
 */

/** Who holds a lock, as its lock file says. */
export interface LockOwner {
  readonly pid: number;
  /** Random, so that a holder tells its own lock from a later one of the same PID. */
  readonly token: string;
  /** Field 22 of /proc/PID/stat; undefined in the older form or when /proc could not tell. */
  readonly startTime?: string;
  /** Boot id and PID namespace the PID belongs to; undefined when unknown. */
  readonly scope?: string;
  /** The owner's host name (see `host.ts`); undefined in the older forms. */
  readonly host?: string;
}

/**
 * The lock file's content for `owner` (without a host: the older four-field form).
 *
 * @example
 * ```ts
 * formatLockOwner({
 *   pid: 42,
 *   token: "00112233445566ff",
 *   startTime: "9001",
 *   scope: "b0/4026531836",
 *   host: "node1",
 * });
 * // "42 00112233445566ff 9001 b0/4026531836 node1\n"
 * ```
 */
export function formatLockOwner(owner: LockOwner): string {
  const host = owner.host === undefined ? "" : ` ${owner.host}`;
  return `${owner.pid} ${owner.token} ${owner.startTime ?? "-"} ${owner.scope ?? "-"}${host}\n`;
}

const CURRENT =
  /^([1-9]\d{0,9}) ([0-9a-f]{16,64}) (\d{1,20}|-) ([0-9a-f-]{1,64}\/\d{1,20}|-)(?: ([A-Za-z0-9._-]{1,64}))?\n$/;
const LEGACY = /^([1-9]\d{0,9}) ([0-9a-f]{16,64})\n$/;

/**
 * The owner a lock file names, or undefined for anything else: empty (being written, or its
 * writer died before writing), cut short, or not hg's.
 *
 * @example
 * ```ts
 * parseLockOwner("42 00112233445566ff\n"); // { pid: 42, token: "00112233445566ff" } (older form)
 * parseLockOwner(""); // undefined
 * ```
 */
export function parseLockOwner(text: string): LockOwner | undefined {
  const current = CURRENT.exec(text);
  if (current) {
    const [, pid, token, start, scope, host] = current;
    return {
      pid: Number(pid),
      token,
      ...(start === "-" ? {} : { startTime: start }),
      ...(scope === "-" ? {} : { scope }),
      ...(host === undefined ? {} : { host }),
    };
  }
  const legacy = LEGACY.exec(text);
  return legacy ? { pid: Number(legacy[1]), token: legacy[2] } : undefined;
}
