/**
 * Tests that need a tool hg does not ship (zsh, fish, openssl): on a developer's machine without
 * it they are skipped with the reason; under CI (`CI` or `HG_CI` set, as the workflow and
 * `.ci/run` do) a missing tool fails the run, since `.ci/install` installs it and a silent skip
 * would hide that nothing was tested.
 *
 * @module
 */
import { spawnSync } from "node:child_process";

/** Whether this run is CI's. */
export function underCi(env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(env.CI || env.HG_CI);
}

/**
 * `false` when `tool` runs (`tool ...probe` exits 0); otherwise the skip reason, or, under CI,
 * an error.
 *
 * @example
 * ```ts
 * const skipZsh = skipUnlessInstalled("zsh", ["-c", "exit 0"], "apt-get install zsh");
 * ```
 */
export function skipUnlessInstalled(
  tool: string,
  probe: readonly string[],
  install: string,
  env: Record<string, string | undefined> = process.env,
): string | false {
  if (spawnSync(tool, [...probe], { stdio: "ignore" }).status === 0) return false;
  const reason = `${tool} is not installed (${install})`;
  if (underCi(env)) throw new Error(`${reason}: .ci/install installs it; CI does not skip tests`);
  return reason;
}
