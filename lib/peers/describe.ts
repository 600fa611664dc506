import type { Step } from "../plan/step.ts";

/**
 * One line per route change, in words: `route add 1.1.3.0/24 via 10.0.12.13 (node3)`,
 * `route del 1.1.4.0/24`. `peers` names the node behind each subnet.
 *
 * @example
 * ```ts
 * describeChanges([ipStep(["route", "replace", "1.1.3.0/24", "via", "10.0.12.13", "dev", "eth0", "proto", "104"])],
 *   [{ subnet: "1.1.3.0/24", via: "10.0.12.13", node: "node3" }]); // ["route add 1.1.3.0/24 via 10.0.12.13 (node3)"]
 * ```
 */
export function describeChanges(
  plan: readonly Step[],
  peers: readonly { readonly subnet: string; readonly node?: string }[],
): string[] {
  const nodes = new Map(peers.map((p) => [p.subnet, p.node]));
  return plan.flatMap((step) => {
    if (step.kind !== "ip" || step.args[0] !== "route") return [];
    const [, verb, dst, , via] = step.args;
    if (verb === "del") return [`route del ${dst}`];
    const node = nodes.get(dst);
    return [`route add ${dst} via ${via}${node ? ` (${node})` : ""}`];
  });
}
