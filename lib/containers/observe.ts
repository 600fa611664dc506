import { existsSync } from "node:fs";
import type { HostState } from "../host/state.ts";
import { type AddressedLink, parseAddresses } from "../ip/addr.ts";
import { parseLinks } from "../ip/link.ts";
import { readNetStateOnce } from "../ip/read.ts";
import type { Route } from "../ip/route.ts";
import type { IpSession } from "../ip/session.ts";

/**
 * What containers are planned from: the host's links (the bridge, the veths and hg's marks on
 * them, which hold the addresses taken) and their addresses (the bridge's gateways).
 */
export type HostLinks = Pick<HostState, "links" | "addresses">;

/**
 * Reads the host's links and addresses through `session` in one exchange: what `hg netns add`
 * and `del` plan from. Routes, neighbours and settings are not read: the IPv6 routes alone take
 * a second `ip` process, and with a link-local route per veth, parsing the routes cost more than
 * the rest of `hg netns add` on a host with 40 containers.
 *
 * @example
 * ```ts
 * import { IpSession } from "../ip/session.ts";
 * const host = await observeHostLinks(IpSession.open());
 * host.links.length; // 3
 * ```
 */
export async function observeHostLinks(session: IpSession): Promise<HostLinks> {
  const [links, addresses] = await session.read([["link", "show"], ["addr", "show"]]);
  return { links: parseLinks(links), addresses: parseAddresses(addresses) };
}

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
