import { type NetState, readFdb, readNetState, readNetStateOnce } from "../ip/read.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import type { IpSession } from "../ip/session.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import type { HostState } from "./state.ts";

/**
 * Reads the state of the host this process runs on: links, addresses, routes and permanent
 * neighbours through one `ip` process (`session`, when the caller will apply a plan through it
 * too), the fdb of hg's VXLAN device, and the forwarding sysctls of both families.
 *
 * @example
 * ```ts
 * const state = await observeHost();
 * state.forwarding; // true when net.ipv4.ip_forward=1
 * ```
 */
export function observeHost(session?: IpSession): Promise<HostState> {
  return hostStateAround(session ? readNetState(session) : readNetStateOnce(), session?.netns);
}

/**
 * The host's state around `net`, its links, addresses, routes and permanent neighbours however
 * they were read (`hg status` reads them through one process of its own): the fdb of hg's VXLAN
 * device and the forwarding sysctls added, read while `net` is under way.
 *
 * @example
 * ```ts
 * import { readNetStateOnce } from "../ip/read.ts";
 * const state = await hostStateAround(readNetStateOnce());
 * state.forwarding6; // true when net.ipv6.conf.all.forwarding=1
 * ```
 */
export async function hostStateAround(net: Promise<NetState>, netns?: string): Promise<HostState> {
  const [state, forwarding, forwarding6] = await Promise.all([
    net,
    readSysctl("net.ipv4.ip_forward"),
    readSysctl("net.ipv6.conf.all.forwarding").catch(() => "0"),
  ]);
  // `ip -batch` knows no fdb: hg's VXLAN device's entries come from `bridge`, when it has one.
  const vxlan = findVxlanDevice(state);
  const fdb = vxlan ? await readFdb(vxlan.ifname, netns) : [];
  return { ...state, fdb, forwarding: forwarding === "1", forwarding6: forwarding6 === "1" };
}
