/**
 * What `hg status` reads of this host: the state `observeHost` (lib/host/observe.ts) reads,
 * with links, addresses, neighbours and routes through one `ip` process instead of three, since
 * status applies nothing through a session. Start-up is most of what status costs.
 *
 * @module
 */
import { hostStateAround } from "../host/observe.ts";
import type { HostState } from "../host/state.ts";
import { readNetStateInOneProcess } from "../ip/one_read.ts";

/**
 * This host's state, equal to what `observeHost()` reads.
 *
 * @example
 * ```ts
 * const state = await observeStatusHost();
 * state.forwarding; // true when net.ipv4.ip_forward=1
 * ```
 */
export function observeStatusHost(): Promise<HostState> {
  return hostStateAround(readNetStateInOneProcess());
}
