/**
 * A container as one row of the tables `hg netns ls` and `hg status` print, in a module of its
 * own so that status loads no part of netns's planners.
 *
 * @module
 */
import type { ContainerStatus } from "../lib/status/status.ts";

/** A container's health in one word for tables. */
export function containerState(c: ContainerStatus): string {
  if (!c.present) return "namespace-missing";
  if (!c.attached) return "detached";
  return c.up ? "up" : "down";
}

/**
 * A container's table row: name, address, veth, state, and the runtime's id (12 characters, as
 * runtimes print it).
 *
 * @example
 * ```ts
 * import type { ContainerStatus } from "../lib/status/status.ts";
 * declare const web1: ContainerStatus;
 * containerRow(web1); // ["web1", "1.1.1.2/24", "veth...", "up", "-"]
 * ```
 */
export function containerRow(c: ContainerStatus): string[] {
  const address = c.ipv6Address ? `${c.address} ${c.ipv6Address}` : c.address;
  return [c.name, address, c.hostVeth, containerState(c), c.containerId?.slice(0, 12) ?? "-"];
}
