/**
 * An exclusive lock held as a file created with O_EXCL, holding the owner's PID and a random
 * token. A lock whose owner is no longer alive (killed with SIGKILL, say) is stale and taken
 * over; the holder can check it still owns the lock right before it commits anything.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { HgError } from "../errors.ts";

/** The lock could not be taken in time: another live process holds it. */
export class LockBusyError extends HgError {}

/** A lock this process holds. */
export interface HeldLock {
  readonly path: string;
  /** Whether the lock file is still this holder's (nobody judged it stale and took it over). */
  stillHeld(): Promise<boolean>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const read = (path: string) => readFile(path, "utf8").catch(() => undefined);

async function createExclusive(path: string, content: string): Promise<boolean> {
  try {
    const file = await open(path, "wx");
    await file.writeFile(content);
    await file.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return false;
  }
}

const ownerOf = (content: string | undefined) => Number(content?.split(" ")[0]);

async function tryAcquire(path: string, content: string): Promise<boolean> {
  if (await createExclusive(path, content)) return true;
  const owner = ownerOf(await read(path));
  // An empty file is a lock being written right now: not stale.
  if (Number.isInteger(owner) && owner > 0 && !alive(owner)) await removeStale(path, content);
  return false;
}

/**
 * Removes the lock `path` if its owner is dead. Only one process at a time may do so (it holds
 * `path.takeover`), and it reads the lock, sees its owner dead, and reads it again unchanged
 * before it unlinks: a dead owner cannot release it any more, a live process cannot replace an
 * existing lock, and no other process removes one, so the file unlinked is the dead owner's.
 * A takeover guard is held for microseconds; one older than 5 s belongs to a process that died.
 */
async function removeStale(path: string, content: string): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await createExclusive(guard, content))) {
    const age = Date.now() - ((await stat(guard).catch(() => undefined))?.mtimeMs ?? Date.now());
    if (age > 5000) await unlink(guard).catch(() => {});
    return;
  }
  try {
    const first = await read(path);
    const owner = ownerOf(first);
    if (first === undefined || !Number.isInteger(owner) || owner <= 0 || alive(owner)) return;
    if ((await read(path)) === first) await unlink(path).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

/**
 * Runs `fn` while holding the lock file at `path`, waiting up to `timeoutMs` for it.
 *
 * @example
 * ```ts
 * await withFileLock("/run/hg/host.lock", async () => { ...observe, plan, apply... });
 * ```
 */
export async function withFileLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const content = `${process.pid} ${randomBytes(8).toString("hex")}\n`;
  const deadline = Date.now() + timeoutMs;
  let wait = 1;
  while (!(await tryAcquire(path, content))) {
    if (Date.now() > deadline) {
      const owner = (await read(path))?.split(" ")[0] ?? "?";
      throw new LockBusyError(
        `another process (pid ${owner}) holds ${path}; gave up after ${timeoutMs} ms`,
      );
    }
    // Jitter, so that many waiters do not retry in lockstep.
    await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
    wait = Math.min(wait * 2, 20);
  }
  const held: HeldLock = { path, stillHeld: async () => (await read(path)) === content };
  try {
    return await fn(held);
  } finally {
    if (await held.stillHeld()) await unlink(path).catch(() => {});
  }
}
