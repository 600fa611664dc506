/**
 * Work that must be undone even when the user interrupts: a cleanup that runs on SIGINT,
 * SIGTERM or SIGHUP before the process exits with the signal's conventional status (128 + n).
 * Nothing can run on SIGKILL: what is left then is for the next run to find and remove.
 *
 * @module
 */

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Runs `body`; if a signal arrives meanwhile, runs `cleanup` and exits. The handlers are removed
 * when `body` settles (the caller cleans up itself on the normal path).
 *
 * @example
 * ```ts
 * declare function removeTables(): Promise<void>;
 * declare function runProbe(): Promise<number>;
 * const answered = await withInterruptCleanup(removeTables, runProbe);
 * ```
 */
export async function withInterruptCleanup<T>(
  cleanup: () => Promise<void>,
  body: () => Promise<T>,
): Promise<T> {
  const handlers = Object.entries(SIGNALS).map(([name, number]) => {
    const handler = () => {
      cleanup().catch(() => {}).finally(() => process.exit(128 + number));
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  try {
    return await body();
  } finally {
    for (const off of handlers) off();
  }
}
