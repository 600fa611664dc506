import { readFdb, readNetState, readNetStateOnce } from "../ip/read.ts";
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
export async function observeHost(session?: IpSession): Promise<HostState> {
  const [net, forwarding, forwarding6] = await Promise.all([
    session ? readNetState(session) : readNetStateOnce(),
    readSysctl("net.ipv4.ip_forward"),
    readSysctl("net.ipv6.conf.all.forwarding").catch(() => "0"),
  ]);
  // `ip -batch` knows no fdb: hg's VXLAN device's entries come from `bridge`, when it has one.
  const vxlan = findVxlanDevice(net);
  const fdb = vxlan ? await readFdb(vxlan.ifname, session?.netns) : [];
  return { ...net, fdb, forwarding: forwarding === "1", forwarding6: forwarding6 === "1" };
}
