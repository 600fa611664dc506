import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The argv that starts this same hg again (for running hg inside lab hosts): the compiled
 * executable itself, or the runtime with this source tree's entry point. `HG_SELF` overrides it
 * (a path to an hg executable).
 */
export function selfCommand(): string[] {
  if (process.env.HG_SELF) return [process.env.HG_SELF];
  const runtime = basename(process.execPath);
  if (runtime !== "deno" && runtime !== "bun") return [process.execPath];
  const entry = `${dirname(fileURLToPath(import.meta.url))}/main.ts`;
  return runtime === "deno" ? [process.execPath, "run", "-A", entry] : [process.execPath, entry];
}
