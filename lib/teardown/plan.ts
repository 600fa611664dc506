/**
 * Plans `hg teardown`: removes what hg created on this host (its containers, its routes, its
 * bridge or the address it added to a bridge it found, its masquerade rules) and nothing else. Forwarding is left as it is: other software
 * may rely on it.
 *
 * @module
 */
import { listContainers } from "../containers/list.ts";
import { addressLabel, BRIDGE_ALIAS } from "../host/marks.ts";
import { formatAddress } from "../net/address.ts";
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { hgRoutes } from "../peers/list.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { hgRules } from "../setup/masquerade.ts";

/**
 * The steps that remove hg's footprint. `existingNetns` tells which container namespaces are
 * still there; `natRules` are `iptables -t nat -S POSTROUTING` lines.
 *
 * @example
 * ```ts
 * planTeardown(state, new Set(["web1"]), []); // [ip netns del web1, ip route flush proto 104, ip link del cni0]
 * ```
 */
export function planTeardown(
  state: HostState,
  existingNetns: ReadonlySet<string>,
  natRules: readonly string[],
): Plan {
  const steps: Step[] = listContainers(state).map((c) =>
    existingNetns.has(c.name)
      ? ipStep(["netns", "del", c.name])
      : ipStep(["link", "del", c.hostVeth])
  );
  if (hgRoutes(state).length > 0) {
    steps.push(ipStep(["route", "flush", "proto", String(HG_ROUTE_PROTOCOL)]));
  }
  for (const link of state.links) {
    if (link.alias === BRIDGE_ALIAS) {
      steps.push(ipStep(["link", "del", link.ifname]));
      continue;
    }
    // A bridge hg found: only the address hg added to it goes.
    const label = addressLabel(link.ifname);
    const addresses = state.addresses.find((a) => a.ifname === link.ifname)?.addresses ?? [];
    for (const a of addresses.filter((a) => label !== undefined && a.label === label)) {
      const text = `${formatAddress(a.address)}/${a.prefix.length}`;
      steps.push(ipStep(["addr", "del", text, "dev", link.ifname]));
    }
  }
  for (const rule of hgRules(natRules)) {
    steps.push({ kind: "iptables", args: ["-t", "nat", "-D", "POSTROUTING", ...rule] });
  }
  return steps;
}
