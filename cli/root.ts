import { EnvironmentError } from "../lib/errors.ts";

/**
 * Refuses to go on unless running as root; `why` completes "hg must run as root ...".
 *
 * @example
 * ```ts
 * requireRoot("to read the firewall and the containers' namespaces");
 * ```
 */
export function requireRoot(why = "to change links, routes and namespaces"): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new EnvironmentError(`hg must run as root ${why} (try sudo)`);
  }
}
