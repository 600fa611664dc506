/**
 * Plans `hg teardown`: removes what hg created on this host (its containers, its routes, its
 * bridge or the address it added to a bridge it found, its masquerade rules) and nothing else.
 * Forwarding is left as it is: other software may rely on it. Runtime containers (CNI) are the
 * runtime's: teardown refuses while they use the bridge, and with `force` cuts their veths (the
 * runtime's later DEL finds nothing left and succeeds).
 *
 * @module
 */
import { listContainers } from "../containers/list.ts";
import { addressLabel, BRIDGE_ALIAS } from "../host/marks.ts";
import { isVxlanDevice } from "../vxlan/device.ts";
import { addressEquals, formatAddress } from "../net/address.ts";
import { firstHost } from "../net/prefix.ts";
import type { InterfaceAddress } from "../ip/addr.ts";
import type { HostState } from "../host/state.ts";
import { HgError } from "../errors.ts";
import { planHgRoutesRemoval } from "../peers/list.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { hgRules } from "../setup/masquerade.ts";

/**
 * The steps that remove hg's footprint. `present` holds the host-side veths of the containers
 * whose namespace is still there (`presentContainers`); `natRules` are
 * `iptables -t nat -S POSTROUTING` lines.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // hg's bridge cni0 1.1.1.1/24, its container web1 (host veth hgv1234abcd), hg's routes
 * planTeardown(state, new Set(["hgv1234abcd"]), []); // [ip netns del web1, ip route flush proto 104, ip link del cni0]
 * ```
 */
export function planTeardown(
  state: HostState,
  present: ReadonlySet<string>,
  natRules: readonly string[],
  force = false,
): Plan {
  const containers = listContainers(state);
  const runtime = containers.filter((c) => c.kind === "cni");
  if (runtime.length > 0 && !force) {
    const one = runtime.length === 1;
    const names = runtime.slice(0, 3).map((c) => c.name).join(", ") +
      (runtime.length > 3 ? ", ..." : "");
    throw new RuntimeContainersError(
      `${runtime.length} runtime container${one ? "" : "s"} (${names}) still use${
        one ? "s" : ""
      } hg's network: remove ${one ? "it" : "them"} with the runtime first, or ` +
        `"hg teardown --force" to cut ${one ? "it" : "them"} off`,
    );
  }
  const steps: Step[] = containers.map((c) =>
    c.kind === "netns" && present.has(c.hostVeth)
      ? ipStep(["netns", "del", c.name])
      : ipStep(["link", "del", c.hostVeth])
  );
  steps.push(...planHgRoutesRemoval(state));
  for (const link of state.links) {
    // hg's VXLAN device goes with its neighbour and fdb entries (its routes went just before).
    if (link.alias === BRIDGE_ALIAS || isVxlanDevice(link)) {
      steps.push(ipStep(["link", "del", link.ifname]));
      continue;
    }
    // A bridge hg found: only the addresses hg added to it go. IPv4 ones carry hg's label; IPv6
    // addresses take no label: beside hg's IPv4 one, hg's is its subnet's first host, added
    // without DAD. (An IPv6-only bridge hg did not make keeps its address: nothing marks it.)
    const label = addressLabel(link.ifname);
    const addresses = state.addresses.find((a) => a.ifname === link.ifname)?.addresses ?? [];
    const labelled = (a: InterfaceAddress) => label !== undefined && a.label === label;
    const marked = addresses.some(labelled);
    const added = (a: InterfaceAddress) =>
      a.address.family === 4 ? labelled(a) : marked && a.scope === "global" &&
        a.flags?.includes("nodad") === true && addressEquals(firstHost(a.prefix), a.address);
    for (const a of addresses.filter(added)) {
      const text = `${formatAddress(a.address)}/${a.prefix.length}`;
      steps.push(ipStep(["addr", "del", text, "dev", link.ifname]));
    }
  }
  for (const rule of hgRules(natRules)) {
    steps.push({ kind: "iptables", args: ["-t", "nat", "-D", "POSTROUTING", ...rule] });
  }
  return steps;
}

/** Teardown would cut off containers a runtime still runs. Exit 1. */
export class RuntimeContainersError extends HgError {}
