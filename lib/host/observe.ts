import { readAddresses, readLinks, readRoutes } from "../ip/read.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import type { HostState } from "./state.ts";

/**
 * Reads the state of the host this process runs on: three `ip -j` reads in parallel and the
 * forwarding sysctl.
 *
 * @example
 * ```ts
 * const state = await observeHost();
 * state.forwarding; // true when net.ipv4.ip_forward=1
 * ```
 */
export async function observeHost(): Promise<HostState> {
  const [links, addresses, routes, forwarding] = await Promise.all([
    readLinks(),
    readAddresses(),
    readRoutes(4),
    readSysctl("net.ipv4.ip_forward"),
  ]);
  return { links, addresses, routes, forwarding: forwarding === "1" };
}
