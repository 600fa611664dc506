/**
 * The temporary files a writer of the registry `DIR/NAME` writes its new copy to before renaming
 * it into place: `DIR/.NAME.PID.START.RANDOM.tmp`, so that they are recognisably this registry's
 * (never another file of the directory) and name the writer (PID and start time, as in a lock
 * file), and the ones of writers that died can be removed.
 *
 * @module
 */
import { randomHex } from "../../random_hex.ts";
import { readdir, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { processState, thisProcess } from "../../exec/process_state.ts";
import { ownerGone } from "../../lock/staleness.ts";
import type { ProcessProbe } from "../../exec/process_state.ts";

/** The writer a temp file names. */
export interface TempWriter {
  readonly pid: number;
  readonly startTime?: string;
}

/**
 * A new temp file path for the registry at `registry`, named for this process.
 *
 * @example
 * ```ts
 * tempPathFor("/var/lib/hg/subnets.json");
 * // "/var/lib/hg/.subnets.json.4711.1234567.a1b2c3d4e5f6.tmp"
 * ```
 */
export function tempPathFor(registry: string): string {
  const self = thisProcess();
  const name = `.${basename(registry)}.${self.pid}.${self.startTime ?? "-"}.${randomHex(6)}.tmp`;
  return join(dirname(registry), name);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The writer of `name` if it is one of the temp files of the registry named `registryName`.
 *
 * @example
 * ```ts
 * tempWriterOf("subnets.json", ".subnets.json.4711.1234567.a1b2c3d4e5f6.tmp");
 * // { pid: 4711, startTime: "1234567" }
 * tempWriterOf("subnets.json", ".other.json.4711.1234567.a1b2c3d4e5f6.tmp"); // undefined
 * ```
 */
export function tempWriterOf(registryName: string, name: string): TempWriter | undefined {
  const pattern = new RegExp(
    `^\\.${escape(registryName)}\\.([1-9]\\d{0,9})\\.(\\d{1,20}|-)\\.[0-9a-f]{12}\\.tmp$`,
  );
  const match = pattern.exec(name);
  if (!match) return undefined;
  return match[2] === "-"
    ? { pid: Number(match[1]) }
    : { pid: Number(match[1]), startTime: match[2] };
}

/**
 * Removes the temp files of `registry` whose writers are gone (dead, or their PID reused), and
 * returns their paths. Call it holding the registry's lock: a live writer only has a temp file
 * while it holds the lock, so the files left are those of writers killed mid-write. Best effort:
 * a directory that cannot be listed or a file that cannot be removed changes nothing else.
 *
 * @example
 * ```ts
 * await removeOrphanTemps("/var/lib/hg/subnets.json"); // ["/var/lib/hg/.subnets.json.99.5.a1b2c3d4e5f6.tmp"]
 * ```
 */
export async function removeOrphanTemps(
  registry: string,
  probe: ProcessProbe = processState,
): Promise<string[]> {
  const dir = dirname(registry);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const writer = tempWriterOf(basename(registry), name);
    if (!writer || ownerGone(writer, probe) === undefined) continue;
    const path = join(dir, name);
    if (await unlink(path).then(() => true, () => false)) removed.push(path);
  }
  return removed;
}
