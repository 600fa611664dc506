import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The argv that starts this same hg again (for running hg inside lab hosts): the compiled
 * executable itself, or the runtime with this source tree's entry point. `HG_SELF` overrides it
 * (a path to an hg executable).
 */
export function selfCommand(): string[] {
  if (process.env.HG_SELF) return [process.env.HG_SELF];
  const entry = () => `${dirname(fileURLToPath(import.meta.url))}/main.ts`;
  // A compiled Bun executable runs its main module from the virtual "$bunfs" file system
  // (import.meta.url is fixed at build time there, so ask Bun.main).
  const bun = (globalThis as { Bun?: { main: string } }).Bun;
  if (bun) return bun.main.includes("$bunfs") ? [process.execPath] : [process.execPath, entry()];
  // A compiled Deno executable is not named deno.
  if ("Deno" in globalThis && basename(process.execPath).startsWith("deno")) {
    return [process.execPath, "run", "-A", entry()];
  }
  return [process.execPath];
}
