import { readNetState, readNetStateOnce } from "../ip/read.ts";
import type { IpSession } from "../ip/session.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import type { HostState } from "./state.ts";

/**
 * Reads the state of the host this process runs on: links, addresses and routes through one `ip`
 * process (`session`, when the caller will apply a plan through it too), and the forwarding sysctl.
 *
 * @example
 * ```ts
 * const state = await observeHost();
 * state.forwarding; // true when net.ipv4.ip_forward=1
 * ```
 */
export async function observeHost(session?: IpSession): Promise<HostState> {
  const [net, forwarding] = await Promise.all([
    session ? readNetState(session) : readNetStateOnce(),
    readSysctl("net.ipv4.ip_forward"),
  ]);
  return { ...net, forwarding: forwarding === "1" };
}
