/**
 * Runs a plan: all `ip` steps of one namespace as one `ip -batch` process (namespaces in the
 * order they first appear, so a namespace is created before it is configured), then the `bridge`
 * steps of each namespace as one `bridge -batch` (fdb entries need their device), then sysctls,
 * then firewall changes. The steps of `session`'s namespace go through that open session.
 *
 * A failing line stops everything after it: ip stops at that line (the lines before it in its
 * batch stay applied), no later namespace's batch and no bridge, sysctl or firewall step runs,
 * and the error names the line and what ip said.
 *
 * @module
 */
import { runIptables } from "../firewall/iptables.ts";
import { existsSync } from "node:fs";
import { netnsPath } from "../exec/netns.ts";
import { ipBatch, type PendingBatch, startIpBatch } from "../ip/exec.ts";
import type { IpSession } from "../ip/session.ts";
import { writeSysctl } from "../sysctl/sysctl.ts";
import type { Plan } from "./step.ts";

/**
 * Applies `plan`; an empty plan runs nothing (and ends `session`).
 *
 * @example
 * ```ts
 * import { ipStep } from "./step.ts";
 * await applyPlan([ipStep(["route", "flush", "proto", "104"])]);
 * ```
 */
export async function applyPlan(plan: Plan, session?: IpSession): Promise<void> {
  const batches = linesByNamespace(plan, "ip");
  // The `ip` of a namespace that exists already starts now, while the ones before it apply.
  const early = new Map<string, PendingBatch>();
  for (const netns of batches.keys()) {
    if (netns === undefined || netns === session?.netns) continue;
    if (existsSync(netnsPath(netns))) early.set(netns, startIpBatch(netns));
  }
  try {
    for (const [netns, lines] of batches) {
      const pending = netns === undefined ? undefined : early.get(netns);
      if (netns !== undefined) early.delete(netns);
      if (session && netns === session.netns) await session.apply(lines);
      else if (pending) await pending.run(lines);
      else await ipBatch(lines, netns);
    }
  } finally {
    for (const pending of early.values()) await pending.cancel();
  }
  // The session's namespace may have had nothing to change: end its process all the same.
  await session?.close();
  for (const [netns, lines] of linesByNamespace(plan, "bridge")) {
    await ipBatch(lines, netns, "bridge");
  }
  for (const step of plan) {
    if (step.kind === "sysctl") await writeSysctl(step.key, step.value);
  }
  for (const step of plan) {
    if (step.kind === "iptables") await runIptables(step.args);
  }
}

/** The `kind` steps' lines by namespace, namespaces in the order they first appear. */
function linesByNamespace(
  plan: Plan,
  kind: "ip" | "bridge",
): Map<string | undefined, (readonly string[])[]> {
  const batches = new Map<string | undefined, (readonly string[])[]>();
  for (const step of plan) {
    if (step.kind !== kind) continue;
    const lines = batches.get(step.netns) ?? [];
    lines.push(step.args);
    batches.set(step.netns, lines);
  }
  return batches;
}
