/**
 * An exclusive lock held as a file created with O_EXCL, holding one line that names its owner
 * (PID, start time, scope, host and a random token: see `owner.ts`). A lock whose owner will
 * never release it (killed with SIGKILL; killed before it wrote its line; its PID since reused;
 * on another host, no longer renewed) is stale and taken over (see `staleness.ts`); the holder
 * can check it still owns the lock right before it commits anything.
 *
 * The holder renews the lock's mtime every {@link RENEW_MS} while it holds it: another host
 * sharing the file cannot ask this host's kernel whether the holder lives, so it judges the lock
 * by the time since the last renewal instead, and never takes over a lock that is kept fresh.
 *
 * @module
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { type FileHandle, open, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { HgError } from "../errors.ts";
import { diskFaultWords, errnoOf } from "./disk_fault.ts";
import { lockHostName } from "./host.ts";
import { formatLockOwner, parseLockOwner } from "./owner.ts";
import { processState, thisProcess } from "../exec/process_state.ts";
import {
  FOREIGN_STALE_MS,
  judgeLock,
  type Judging,
  type LockVerdict,
  RENEW_MS,
} from "./staleness.ts";
import { randomHex } from "../random_hex.ts";

/** The lock could not be taken in time: another live process holds it. */
export class LockBusyError extends HgError {}

/**
 * The file system refused a lock file (full, over quota, read-only, forbidden): the lock was not
 * taken, and no lock file of this process is left behind.
 *
 * @example
 * ```ts
 * try {
 *   await withFileLock("/var/lib/hg/subnets.json.lock", async () => {});
 * } catch (e) {
 *   if (e instanceof LockFileError && e.code === "ENOSPC") console.error("disk full");
 * }
 * ```
 */
export class LockFileError extends HgError {
  /** @param action what hg did with the lock file ("create", "write", "read"). */
  constructor(readonly path: string, readonly action: string, cause: unknown) {
    super(`cannot ${action} the lock file ${path}: ${diskFaultWords(cause)}`, { cause });
  }

  /** The errno code (`"ENOSPC"`), if the file system gave one. */
  get code(): string | undefined {
    return errnoOf(this.cause);
  }
}

/** A lock this process holds. */
export interface HeldLock {
  readonly path: string;
  /** Whether the lock file is still this holder's (nobody judged it stale and took it over). */
  stillHeld(): Promise<boolean>;
}

/** How to wait for the lock, and where a test may hold a locker still. */
export interface LockOptions {
  /** How long to wait for a live holder, in ms (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * Runs right after the lock file is created and before its line is written (tests sleep here
   * to kill a locker at the worst moment).
   */
  readonly afterCreate?: () => Promise<void> | undefined;
  /** How often the holder renews the lock's mtime, in ms (default {@link RENEW_MS}). */
  readonly renewMs?: number;
  /**
   * How long another scope's lock must go unrenewed to be stale, in ms (default
   * {@link FOREIGN_STALE_MS}; tests shorten it).
   */
  readonly foreignStaleMs?: number;
}

/** One look at a lock file: its content, and what identifies this version of it. */
interface Sighting {
  readonly content: string;
  readonly mtimeMs: number;
  /** Inode, size and mtime: a file replaced or rewritten between two looks differs here. */
  readonly version: string;
}

/** A takeover guard is held for microseconds: one older than this belongs to a stuck process. */
const GUARD_STALE_MS = 5_000;

// The lock's own file operations are synchronous: each is one short system call, and an
// asynchronous one costs a round trip through the runtime's thread pool, which on a CNI ADD
// (one lock, a dozen operations) measured about 2 ms of its 25.

/** Reads the lock file at `path`; undefined when there is none. */
function look(path: string): Promise<Sighting | undefined> {
  let fd;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return Promise.resolve(undefined);
    return Promise.reject(new LockFileError(path, "read", e));
  }
  try {
    const info = fstatSync(fd);
    const content = readFileSync(fd, "utf8");
    return Promise.resolve({
      content,
      mtimeMs: info.mtimeMs,
      version: `${info.ino}/${info.size}/${info.mtimeMs}`,
    });
  } catch (e) {
    return Promise.reject(new LockFileError(path, "read", e));
  } finally {
    closeQuietly(fd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already: nothing to remove
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closing cannot fail in a way that matters here
  }
}

/**
 * Creates `path` exclusively and writes `content` into it. False when it exists already, or when
 * this process stalled between the two steps long enough for its empty file to be judged stale
 * and taken over (the file there is then someone else's). A write that fails (full disk) removes
 * the file it just created and throws {@link LockFileError}.
 */
async function createWith(
  path: string,
  content: string,
  afterCreate?: () => Promise<void> | undefined,
): Promise<boolean> {
  let fd;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (e) {
    if (errnoOf(e) === "EEXIST") return false;
    throw new LockFileError(path, "create", e);
  }
  let inode: number | bigint | undefined;
  try {
    inode = fstatSync(fd).ino;
    await afterCreate?.();
    writeFileSync(fd, content);
    closeSync(fd);
  } catch (e) {
    closeQuietly(fd);
    // Remove the file only if it is still the one created here, not a successor's.
    const now = await stat(path).catch(() => undefined);
    if (now && (inode === undefined || now.ino === inode)) await unlink(path).catch(() => {});
    throw new LockFileError(path, "write", e);
  }
  return (await look(path).catch(() => undefined))?.content === content;
}

/** Versions a judge remembers; a waiter sees a new one per renewal, so the map is pruned. */
const REMEMBERED_VERSIONS = 256;

/**
 * Judges lock files, remembering when it first saw each version, so that a file server whose
 * clock runs ahead of this one (a future mtime) delays a takeover by the grace and no longer, and
 * a holder whose clock runs behind (an old mtime) is seen renewing before its lock is judged. A
 * renewal changes the mtime, hence the version: a lock kept fresh never ages.
 */
class Judge {
  private readonly firstSeen = new Map<string, number>();
  constructor(private readonly here: Judging) {}

  verdict(seen: Sighting): LockVerdict {
    const now = Date.now();
    let first = this.firstSeen.get(seen.version);
    if (first === undefined) {
      if (this.firstSeen.size >= REMEMBERED_VERSIONS) this.firstSeen.clear();
      first = now;
      this.firstSeen.set(seen.version, first);
    }
    const ageMs = Math.max(now - seen.mtimeMs, now - first);
    return judgeLock(
      { content: seen.content, ageMs, watchedMs: now - first },
      this.here,
      processState,
    );
  }
}

/**
 * Renews the lock `path` (sets its mtime to now) every `everyMs` while it still holds `content`;
 * stops by itself once it does not (the lock was taken over: nothing of this holder's to renew).
 * It renews through a handle on the file it checked was its own, so a lock another writer put
 * in its place meanwhile is never touched. A renewal the file system refuses is tried again next
 * time: missing a few costs nothing, the bound is many renewals long. Returns the stop function,
 * which waits for a renewal under way.
 */
function keepRenewed(path: string, content: string, everyMs: number): () => Promise<void> {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let mine: FileHandle | undefined;
  const renew = async () => {
    let seen;
    try {
      seen = await look(path);
      if (seen?.content === content && !mine) {
        const handle = await open(path, "r");
        // The file opened is the one just read only if it still holds this holder's line.
        if ((await handle.readFile("utf8")) === content) mine = handle;
        else await handle.close();
      }
    } catch {
      return; // unreadable just now (a file server's hiccup): try again next time
    }
    if (seen?.content !== content || !mine) {
      stopped = true;
      return;
    }
    const now = new Date();
    await mine.utimes(now, now).catch(() => {});
  };
  const tick = () => {
    running = renew().finally(() => {
      if (!stopped) timer = setTimeout(tick, everyMs);
    });
  };
  timer = setTimeout(tick, everyMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
    await mine?.close().catch(() => {});
  };
}

/** Removes the file `path` if it is still the version `seen` (best effort: unlink is by name). */
async function removeIfUnchanged(path: string, seen: Sighting): Promise<void> {
  const again = await look(path).catch(() => undefined);
  if (again && again.version === seen.version && again.content === seen.content) {
    await unlink(path).catch(() => {});
  }
}

/** Whether the takeover guard `guard` was left by a cleaner that died or got stuck. */
function guardStale(seen: Sighting, judge: Judge): boolean {
  return judge.verdict(seen).stale || Date.now() - seen.mtimeMs > GUARD_STALE_MS;
}

/**
 * Removes the lock `path` if it is stale. Only one process at a time may do so (it holds
 * `path.takeover`), and it reads the lock, judges it stale, and reads it again unchanged (same
 * inode, size, mtime and content) before it unlinks: a dead owner cannot release it any more,
 * a live process cannot replace an existing lock, and no other process removes one, so the file
 * unlinked is the one judged. A guard left by a cleaner that died (its owner gone, or empty past
 * the grace, or older than {@link GUARD_STALE_MS}) is removed after the same double read.
 */
async function removeStale(path: string, content: string, judge: Judge): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await createWith(guard, content))) {
    const seen = await look(guard);
    if (seen && guardStale(seen, judge)) await removeIfUnchanged(guard, seen);
    return;
  }
  try {
    const first = await look(path);
    if (first && judge.verdict(first).stale) await removeIfUnchanged(path, first);
  } finally {
    if ((await look(guard).catch(() => undefined))?.content === content) {
      await unlink(guard).catch(() => {});
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` while holding the lock file at `path`, waiting up to `options.timeoutMs` (or a
 * number given instead of options) for it.
 *
 * @example
 * ```ts
 * const revision = await withFileLock("/run/hg/host.lock", async (lock) => {
 *   // observe, plan, apply; check lock.stillHeld() right before committing anything
 *   return await lock.stillHeld() ? 1 : 0;
 * }, { timeoutMs: 30_000 });
 * ```
 */
export async function withFileLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T>,
  options: LockOptions | number = {},
): Promise<T> {
  const {
    timeoutMs = 10_000,
    afterCreate,
    renewMs = RENEW_MS,
    foreignStaleMs = FOREIGN_STALE_MS,
  } = typeof options === "number" ? { timeoutMs: options } : options;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw new LockFileError(path, "create the directory of", e);
  }
  const self = thisProcess();
  const host = lockHostName();
  const content = formatLockOwner({ ...self, host, token: randomHex(8) });
  const judge = new Judge({ scope: self.scope, host, foreignStaleMs });
  const deadline = Date.now() + timeoutMs;
  let wait = 1;
  while (!(await createWith(path, content, afterCreate))) {
    const seen = await look(path);
    if (seen && judge.verdict(seen).stale) await removeStale(path, content, judge);
    if (Date.now() > deadline) {
      const owner = seen && parseLockOwner(seen.content);
      const where = owner?.host === undefined || owner.host === host ? "" : ` on ${owner.host}`;
      throw new LockBusyError(
        `another process (pid ${
          owner?.pid ?? "?"
        }${where}) holds ${path}; gave up after ${timeoutMs} ms`,
      );
    }
    // Jitter, so that many waiters do not retry in lockstep.
    await sleep(wait * (0.5 + Math.random()));
    wait = Math.min(wait * 2, 20);
  }
  const held: HeldLock = {
    path,
    stillHeld: async () => (await look(path).catch(() => undefined))?.content === content,
  };
  const stopRenewing = keepRenewed(path, content, renewMs);
  try {
    // A takeover guard left by a cleaner that died: nobody else would ever remove it.
    const guard = await look(`${path}.takeover`).catch(() => undefined);
    if (guard && guard.content !== content && guardStale(guard, judge)) {
      await removeIfUnchanged(`${path}.takeover`, guard);
    }
    return await fn(held);
  } finally {
    await stopRenewing();
    if (await held.stillHeld()) unlinkQuietly(path);
  }
}
