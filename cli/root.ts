import { EnvironmentError } from "../lib/errors.ts";

/** Refuses to go on unless running as root: changing links, routes and namespaces needs it. */
export function requireRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new EnvironmentError(
      "hg must run as root to change links, routes and namespaces (try sudo)",
    );
  }
}
