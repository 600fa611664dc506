/**
 * An exclusive lock held as a file created with O_EXCL and holding the owner's PID. A lock whose
 * owner is no longer alive (killed with SIGKILL, say) is stale and taken over.
 *
 * @module
 */
import { mkdir, open, readFile, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { HgError } from "../errors.ts";

/** The lock could not be taken in time: another live process holds it. */
export class LockBusyError extends HgError {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function tryAcquire(path: string): Promise<boolean> {
  try {
    const file = await open(path, "wx");
    await file.writeFile(String(process.pid));
    await file.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
  // An empty file is a lock being written right now; give its writer time before judging it.
  if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
    await unlink(path).catch(() => {});
  }
  return false;
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
  fn: () => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  while (!(await tryAcquire(path))) {
    if (Date.now() > deadline) {
      const owner = (await readFile(path, "utf8").catch(() => "?")).trim();
      throw new LockBusyError(
        `another process (pid ${owner}) holds ${path}; gave up after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 50);
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
