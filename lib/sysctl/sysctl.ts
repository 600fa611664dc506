/**
 * Reads and writes kernel settings under /proc/sys. Network settings are per network namespace:
 * these act on the namespace this process runs in.
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { EnvironmentError } from "../errors.ts";

function pathOf(key: string): string {
  return "/proc/sys/" + key.replaceAll(".", "/");
}

/**
 * The value of a sysctl such as `net.ipv4.ip_forward`, or undefined when the key does not exist.
 *
 * @example
 * ```ts
 * await readSysctl("net.ipv4.ip_forward"); // "1"
 * ```
 */
export async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(pathOf(key), "utf8")).trim();
  } catch {
    return undefined;
  }
}

/** Sets a sysctl (`sysctl -w key=value`). */
export async function writeSysctl(key: string, value: string): Promise<void> {
  try {
    await writeFile(pathOf(key), value + "\n");
  } catch (e) {
    throw new EnvironmentError(`cannot set ${key}=${value}: ${(e as Error).message}`);
  }
}
