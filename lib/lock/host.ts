/**
 * This machine's name as a lock file names it, so that a lock on shared storage says which host
 * holds it (in messages, and to tell another host's lock apart where /proc cannot give a boot id).
 *
 * @module
 */
import { hostname } from "node:os";

/**
 * `name` (by default this host's name) in the characters a lock line allows: letters, digits,
 * `.`, `_` and `-`, anything else as `_`, at most 64 characters; undefined when empty.
 *
 * @example
 * ```ts
 * lockHostName("node1.example.com"); // "node1.example.com"
 * lockHostName("odd name\n"); // "odd_name_"
 * ```
 */
export function lockHostName(name: string = hostname()): string | undefined {
  const clean = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
  return clean === "" ? undefined : clean;
}
