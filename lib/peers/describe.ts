import type { Step } from "../plan/step.ts";

/** What {@link describeChanges} knows of each routed peer. */
interface DescribedPeer {
  readonly subnet: string;
  readonly via: string;
  readonly node?: string;
  readonly mode?: "host-gw" | "vxlan";
}

/**
 * One line per route change, in words: `route add 1.1.3.0/24 via 10.0.12.13 (node3)`,
 * `route add 1.1.5.0/24 over vxlan to 10.0.20.12 (node5)`, `route del 1.1.4.0/24`, and the
 * VXLAN entries: `vxlan neighbour 1.1.5.0 -> 0e:56:0a:00:14:0c`, `vxlan fdb 0e:56:0a:00:14:0c ->
 * 10.0.20.12`. `peers` names the node behind each subnet.
 *
 * @example
 * ```ts
 * import { ipStep } from "../plan/step.ts";
 * describeChanges([ipStep(["route", "replace", "1.1.3.0/24", "via", "10.0.12.13", "dev", "eth0", "proto", "104"])],
 *   [{ subnet: "1.1.3.0/24", via: "10.0.12.13", node: "node3" }]); // ["route add 1.1.3.0/24 via 10.0.12.13 (node3)"]
 * ```
 */
export function describeChanges(
  plan: readonly Step[],
  peers: readonly DescribedPeer[],
): string[] {
  // Only the peers whose route the plan adds are named: a sync of 10,000 peers that changes one
  // route looks up one, not a map of all of them.
  const added = new Set<string>();
  for (const step of plan) {
    if (step.kind === "ip" && step.args[0] === "route" && step.args[1] !== "del") {
      added.add(step.args[2]);
    }
  }
  const bySubnet = new Map<string, DescribedPeer>();
  if (added.size > 0) {
    for (const p of peers) if (added.has(p.subnet)) bySubnet.set(p.subnet, p); // the last, as before
  }
  return plan.flatMap((step) => {
    if (step.kind !== "ip" && step.kind !== "bridge") return [];
    const [object, verb, first, , second] = step.args;
    if (step.kind === "bridge" && object === "fdb") {
      return [verb === "del" ? `vxlan fdb del ${first}` : `vxlan fdb ${first} -> ${step.args[6]}`];
    }
    if (step.kind !== "ip") return [];
    if (object === "neigh" && step.args.includes("permanent")) {
      return [`vxlan neighbour ${first} -> ${second}`];
    }
    if (object === "neigh" && verb === "del") return [`vxlan neighbour del ${first}`];
    if (object !== "route") return [];
    if (verb === "del") return [`route del ${first}`];
    const peer = bySubnet.get(first);
    const node = peer?.node ? ` (${peer.node})` : "";
    return peer?.mode === "vxlan"
      ? [`route add ${first} over vxlan to ${peer.via}${node}`]
      : [`route add ${first} via ${second}${node}`];
  });
}
