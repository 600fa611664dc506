/**
 * Where a test may hold a file-store writer still, to kill it there:
 * `HG_TEST_HOLD_WRITE=POINT:MS` makes a writer sleep MS milliseconds at POINT:
 *
 * - `lock-created`: the lock file exists but its owner line is not written yet (empty);
 * - `before-rename`: lock held, the new registry written to its temp file and synced;
 * - `after-rename`: lock held, the new registry in place.
 *
 * @module
 */

/** The points a writer may be held at. */
export type HoldPoint = "lock-created" | "before-rename" | "after-rename";

/**
 * A sleep when `HG_TEST_HOLD_WRITE` names `point`, else undefined (no delay, not even a tick).
 *
 * @example
 * ```ts
 * await testHold("before-rename"); // HG_TEST_HOLD_WRITE=before-rename:20000 sleeps 20 s here
 * ```
 */
export function testHold(point: HoldPoint): Promise<void> | undefined {
  const [where, ms] = (process.env.HG_TEST_HOLD_WRITE ?? "").split(":");
  return where === point ? new Promise((r) => setTimeout(r, Number(ms))) : undefined;
}
