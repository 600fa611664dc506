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
  // A loop and one function per step, not flatMap's array per step: at 10,000 routes that
  // allocation and the destructuring cost a one-shot sync 35-40 ms of CPU.
  const lines: string[] = [];
  for (const step of plan) {
    const line = describeStep(step, bySubnet);
    if (line !== undefined) lines.push(line);
  }
  return lines;
}

/** The words for one step, undefined for a step that is not a route or VXLAN entry. */
function describeStep(step: Step, bySubnet: Map<string, DescribedPeer>): string | undefined {
  if (step.kind === "bridge") {
    const args = step.args;
    if (args[0] !== "fdb") return undefined;
    return args[1] === "del" ? `vxlan fdb del ${args[2]}` : `vxlan fdb ${args[2]} -> ${args[6]}`;
  }
  if (step.kind !== "ip") return undefined;
  const args = step.args;
  const object = args[0];
  if (object === "route") {
    if (args[1] === "del") return `route del ${args[2]}`;
    const peer = bySubnet.get(args[2]);
    const node = peer?.node ? ` (${peer.node})` : "";
    return peer?.mode === "vxlan"
      ? `route add ${args[2]} over vxlan to ${peer.via}${node}`
      : `route add ${args[2]} via ${args[4]}${node}`;
  }
  if (object !== "neigh") return undefined;
  if (args.includes("permanent")) return `vxlan neighbour ${args[2]} -> ${args[4]}`;
  return args[1] === "del" ? `vxlan neighbour del ${args[2]}` : undefined;
}
