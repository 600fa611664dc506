/**
 * An exclusive lock held as a file created with O_EXCL, holding the owner's PID and a random
 * token. A lock whose owner is no longer alive (killed with SIGKILL, say) is stale and taken
 * over; the holder can check it still owns the lock right before it commits anything.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
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

async function tryAcquire(path: string, content: string): Promise<boolean> {
  try {
    const file = await open(path, "wx");
    await file.writeFile(content);
    await file.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const seen = await read(path);
  const owner = Number(seen?.split(" ")[0]);
  // An empty file is a lock being written right now: not stale.
  if (seen && Number.isInteger(owner) && owner > 0 && !alive(owner)) await removeStale(path, seen);
  return false;
}

/**
 * Removes the stale lock `path` whose content was `seen`: move it aside first, so that only
 * one process removes it, and put it back if what was moved is not the stale lock after all.
 */
async function removeStale(path: string, seen: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch {
    return; // someone else moved it first
  }
  if ((await read(aside)) !== seen) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
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
