/**
 * Plans the MTU that containers need once a peer is reached over VXLAN: the bridge and every
 * container's veth pair, both ends, go down to the VXLAN device's MTU. Both ends: a veth drops,
 * without a word, a packet longer than the MTU of the end that receives it. Pure.
 *
 * @module
 */
import { listContainers } from "../containers/list.ts";
import { containerNetns } from "../containers/where.ts";
import type { HostState } from "../host/state.ts";
import { ipStep, type Step } from "../plan/step.ts";

/**
 * The steps that bring `bridge` and the containers on it down to `mtu` (none goes up).
 * `present`: the host-side veths of containers whose namespace exists here (the others cannot
 * be entered).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // hg's bridge cni0 1.1.1.1/24, its container web1 (host veth hgv1234abcd), all at MTU 1500
 * planContainerMtu(state, "cni0", 1450, new Set(["hgv1234abcd"]));
 * // ip link set cni0 mtu 1450, ip link set hgv1234abcd mtu 1450, ip -n web1 link set eth0 mtu 1450
 * ```
 */
export function planContainerMtu(
  state: HostState,
  bridge: string,
  mtu: number,
  present: ReadonlySet<string>,
): Step[] {
  const steps: Step[] = [];
  const mtuOf = new Map(state.links.map((l) => [l.ifname, l.mtu]));
  const bridgeMtu = mtuOf.get(bridge);
  if (bridgeMtu !== undefined && bridgeMtu > mtu) {
    steps.push(ipStep(["link", "set", bridge, "mtu", String(mtu)]));
  }
  for (const c of listContainers(state)) {
    const netns = containerNetns(c);
    if ((mtuOf.get(c.hostVeth) ?? 0) <= mtu || netns === undefined || !present.has(c.hostVeth)) {
      continue;
    }
    steps.push(
      ipStep(["link", "set", c.hostVeth, "mtu", String(mtu)]),
      ipStep(["link", "set", c.ifname, "mtu", String(mtu)], netns),
    );
  }
  return steps;
}
