/**
 * What `hg status` reads of this host: the state `observeHost` (lib/host/observe.ts) reads,
 * with links, addresses, neighbours and routes through one `ip` process instead of three, since
 * status applies nothing through a session. Start-up is most of what status costs.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { readFdb } from "../ip/read.ts";
import { readNetStateInOneProcess } from "../ip/one_read.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import { findVxlanDevice } from "../vxlan/device.ts";

/**
 * This host's state, equal to what `observeHost()` reads.
 *
 * @example
 * ```ts
 * const state = await observeStatusHost();
 * state.forwarding; // true when net.ipv4.ip_forward=1
 * ```
 */
export async function observeStatusHost(): Promise<HostState> {
  const [net, forwarding, forwarding6] = await Promise.all([
    readNetStateInOneProcess(),
    readSysctl("net.ipv4.ip_forward"),
    readSysctl("net.ipv6.conf.all.forwarding").catch(() => "0"),
  ]);
  // `ip -batch` knows no fdb: hg's VXLAN device's entries come from `bridge`, when it has one.
  const vxlan = findVxlanDevice(net);
  const fdb = vxlan ? await readFdb(vxlan.ifname) : [];
  return { ...net, fdb, forwarding: forwarding === "1", forwarding6: forwarding6 === "1" };
}
