/**
 * When a lock file is stale (its owner will never release it) and may be taken over: judged by
 * its content, its age and whether its owner is alive. Pure: the caller reads the file and
 * passes what the kernel says about PIDs.
 *
 * - Unparsable content (empty, cut short, garbled, not hg's): a lock's owner writes its line
 *   microseconds after creating the file, so such a file is stale once older than
 *   {@link UNPARSABLE_GRACE_MS}; younger, it is most likely being written right now.
 * - An owner from another scope (another machine sharing the file, another boot, another PID
 *   namespace; or, where /proc gives no scope, another host name): its PID means nothing here,
 *   so only the lock's age tells, and its holder renews it (its mtime) every {@link RENEW_MS}
 *   for as long as it holds it, so the age is the time since the last renewal. One not renewed
 *   for {@link FOREIGN_STALE_MS} is stale: its holder died, or stopped for that long. The judge
 *   must also have seen it unchanged for {@link FOREIGN_WATCH_MS}, so that a holder whose clock
 *   runs behind (renewals that look old) is never taken for a dead one.
 * - Otherwise: stale when its PID is gone or now belongs to a process started at another time.
 *
 * @module
 */
import { type LockOwner, parseLockOwner } from "./owner.ts";
import type { ProcessProbe } from "../exec/process_state.ts";

/** How long an unparsable lock file may be young and still be one being written. */
export const UNPARSABLE_GRACE_MS = 2_000;

/**
 * How long a lock written in another scope (machine, boot, PID namespace) must have gone without
 * a renewal to be stale.
 */
export const FOREIGN_STALE_MS = 20_000;

/**
 * How often a holder renews its lock. Well inside {@link FOREIGN_STALE_MS}, so that a slow file
 * server or a busy holder misses many renewals before anyone takes the lock over, and inside
 * {@link UNPARSABLE_GRACE_MS}, so that an older hg (which cannot read the host field and judges
 * the line as unreadable) sees the lock change before its grace runs out.
 */
export const RENEW_MS = 1_000;

/**
 * However old its mtime says it is, a lock of another scope is taken over only once the judge
 * has itself seen it unchanged this long (or for the whole bound, if shorter). A live holder
 * renews it every {@link RENEW_MS}, so it is seen renewing first even when its clock runs far
 * behind the judge's and its renewals look old.
 */
export const FOREIGN_WATCH_MS = 5_000;

/** A lock file as read: its content and how long ago it was last written or renewed. */
export interface LockSighting {
  readonly content: string;
  readonly ageMs: number;
  /** How long the judge has seen this very version of the file unchanged (default: ageMs). */
  readonly watchedMs?: number;
}

/** Whether a lock may be taken over, and why (for messages and tests). */
export interface LockVerdict {
  readonly stale: boolean;
  readonly why: string;
}

/**
 * Why the process that `owner` names is gone, or undefined while it is alive: no process has
 * its PID, or the PID's process started at another time than the owner (the PID was reused).
 *
 * @example
 * ```ts
 * ownerGone({ pid: 42, startTime: "100" }, () => ({ alive: true, startTime: "200" }));
 * // "pid 42 now belongs to another process"
 * ```
 */
export function ownerGone(
  owner: Pick<LockOwner, "pid" | "startTime">,
  probe: ProcessProbe,
): string | undefined {
  const now = probe(owner.pid);
  if (!now.alive) return `pid ${owner.pid} is gone`;
  if (owner.startTime !== undefined && now.startTime !== undefined) {
    if (owner.startTime !== now.startTime) return `pid ${owner.pid} now belongs to another process`;
  }
  return undefined;
}

/** Who is judging: this process's PID scope and host name, and the foreign bound (tests shorten it). */
export interface Judging {
  readonly scope?: string;
  readonly host?: string;
  /** Default {@link FOREIGN_STALE_MS}. */
  readonly foreignStaleMs?: number;
}

/**
 * Whether `owner`'s PID means nothing here: it names another scope, or (where either side has no
 * scope) another host.
 */
function foreign(owner: LockOwner, here: Judging): boolean {
  if (owner.scope !== undefined && here.scope !== undefined) return owner.scope !== here.scope;
  if (owner.host !== undefined && here.host !== undefined) return owner.host !== here.host;
  return false;
}

/**
 * Judges a lock file seen with `sighting.content`, `sighting.ageMs` old (since written or last
 * renewed), by a process in `here.scope` on `here.host` that looks PIDs up with `probe`.
 *
 * @example
 * ```ts
 * const dead = () => ({ alive: false as const });
 * judgeLock({ content: "", ageMs: 0 }, {}, dead).stale; // false: being written right now
 * judgeLock({ content: "", ageMs: 5000 }, {}, dead).stale; // true: its writer died before writing
 * judgeLock({ content: "42 00112233445566ff\n", ageMs: 0 }, {}, dead).stale; // true: pid 42 is gone
 * ```
 */
export function judgeLock(
  sighting: LockSighting,
  here: Judging,
  probe: ProcessProbe,
): LockVerdict {
  const age = Math.max(0, sighting.ageMs);
  const owner = parseLockOwner(sighting.content);
  if (!owner) {
    const what = sighting.content === "" ? "empty" : "unreadable";
    return age > UNPARSABLE_GRACE_MS
      ? { stale: true, why: `${what} for ${Math.round(age)} ms: its writer died before writing it` }
      : { stale: false, why: `${what} but only ${Math.round(age)} ms old: being written` };
  }
  if (foreign(owner, here)) {
    const bound = here.foreignStaleMs ?? FOREIGN_STALE_MS;
    const who = `pid ${owner.pid}${owner.host === undefined ? "" : ` on ${owner.host}`}`;
    const watched = Math.max(0, sighting.watchedMs ?? age);
    if (age <= bound) {
      return {
        stale: false,
        why: `held from another machine or boot (${who}), renewed ${Math.round(age)} ms ago`,
      };
    }
    return watched >= Math.min(bound, FOREIGN_WATCH_MS)
      ? {
        stale: true,
        why: `held from another machine or boot (${who}), not renewed for ${Math.round(age)} ms`,
      }
      : {
        stale: false,
        why: `held from another machine or boot (${who}), last renewed ${
          Math.round(age)
        } ms ago by its mtime, but seen unchanged for only ${Math.round(watched)} ms`,
      };
  }
  const gone = ownerGone(owner, probe);
  return gone === undefined
    ? { stale: false, why: `pid ${owner.pid} is alive` }
    : { stale: true, why: gone };
}
