import { readlinkSync } from "node:fs";
import { withFileLock } from "../lock/file_lock.ts";

/** Where hg keeps its lock files; `HG_RUN_DIR` moves it (tests). */
export function runDir(): string {
  return process.env.HG_RUN_DIR ?? "/run/hg";
}

/**
 * Runs `fn` holding this host's change lock, so two hg commands on one host never plan from the
 * same observation (two `netns add` would otherwise pick the same address). The host is the
 * network namespace this process runs in, named by its inode, since several lab hosts share
 * one file system.
 *
 * @example
 * ```ts
 * import { applyPlan } from "../plan/apply.ts";
 * import type { Plan } from "../plan/step.ts";
 * const plan: Plan = [];
 * await withHostLock(() => applyPlan(plan));
 * ```
 */
export function withHostLock<T>(fn: () => Promise<T>): Promise<T> {
  const id = readlinkSync("/proc/self/ns/net").replace(/\D/g, "");
  return withFileLock(`${runDir()}/host-${id}.lock`, fn);
}
