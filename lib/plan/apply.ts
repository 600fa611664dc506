/**
 * Runs a plan: all `ip` steps of one namespace as one `ip -batch` process (namespaces in the
 * order they first appear, so a namespace is created before it is configured), then sysctls,
 * then firewall changes. The steps of `session`'s namespace go through that open session.
 *
 * @module
 */
import { runIptables } from "../firewall/iptables.ts";
import { ipBatch } from "../ip/exec.ts";
import type { IpSession } from "../ip/session.ts";
import { writeSysctl } from "../sysctl/sysctl.ts";
import type { Plan } from "./step.ts";

/**
 * Applies `plan`; an empty plan runs nothing.
 *
 * @example
 * ```ts
 * await applyPlan([ipStep(["route", "flush", "proto", "104"])]);
 * ```
 */
export async function applyPlan(plan: Plan, session?: IpSession): Promise<void> {
  const batches = new Map<string | undefined, (readonly string[])[]>();
  for (const step of plan) {
    if (step.kind !== "ip") continue;
    const lines = batches.get(step.netns) ?? [];
    lines.push(step.args);
    batches.set(step.netns, lines);
  }
  for (const [netns, lines] of batches) {
    if (session && netns === session.netns) await session.apply(lines);
    else await ipBatch(lines, netns);
  }
  // The session's namespace may have had nothing to change: end its process all the same.
  await session?.close();
  for (const step of plan) {
    if (step.kind === "sysctl") await writeSysctl(step.key, step.value);
  }
  for (const step of plan) {
    if (step.kind === "iptables") await runIptables(step.args);
  }
}
