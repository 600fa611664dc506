/**
 * Running one job per lab host (or per container pair) with a bound on how many run at once: a
 * lab of 50 hosts would otherwise start 50 hg processes, or thousands of pings, together, and on
 * a small machine they only slow each other down.
 *
 * @module
 */

/** How many hg processes the lab runs at once (each is mostly CPU: starting the runtime). */
export const HG_JOBS = 4;

/** How many light processes (ip, ping) the lab runs at once. */
export const LIGHT_JOBS = 16;

/**
 * Maps `items` through `job`, at most `limit` jobs at a time, and resolves with the results in
 * the items' order. The first failure rejects, once the jobs already started have ended (none is
 * left running behind the caller's back); no job starts after a failure.
 *
 * @example
 * ```ts
 * const sizes = await inParallel(["a", "bb", "ccc"], 2, (s) => Promise.resolve(s.length)); // [1, 2, 3]
 * ```
 */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  job: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await job(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
