import { existsSync } from "node:fs";
import type { AddressedLink } from "../ip/addr.ts";
import { readNetStateOnce } from "../ip/read.ts";
import type { Route } from "../ip/route.ts";

/** What hg reads inside a container's namespace. */
export interface ContainerState {
  readonly addresses: readonly AddressedLink[];
  readonly routes: readonly Route[];
}

/** Whether a named network namespace exists (`/run/netns/NAME`). */
export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/**
 * Reads a container's interfaces and routes (both families), or undefined when its namespace is gone.
 *
 * @example
 * ```ts
 * (await observeContainer("web1"))?.routes; // [default via 1.1.1.1 dev eth0, ...]
 * ```
 */
export async function observeContainer(name: string): Promise<ContainerState | undefined> {
  if (!netnsExists(name)) return undefined;
  const { addresses, routes } = await readNetStateOnce(name);
  return { addresses, routes };
}
