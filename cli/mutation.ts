/**
 * The observe → plan → apply path every mutating command follows: under this host's lock,
 * observe and plan; print the plan with --dry-run; otherwise apply it as one batch per
 * namespace. An empty plan changes nothing and says so.
 *
 * @module
 */
import type { HostState } from "../lib/host/state.ts";
import { changeHost } from "../lib/plan/change.ts";
import { renderPlan } from "../lib/plan/render.ts";
import type { Plan } from "../lib/plan/step.ts";
import type { Output } from "./output.ts";
import { requireRoot } from "./root.ts";

/** What a planner callback returns: the plan, a one-line summary, and extra JSON fields. */
export interface Planned {
  readonly plan: Plan;
  readonly summary: string;
  readonly result?: Record<string, unknown>;
  /** Lines to print before the summary (what was decided, in words). */
  readonly details?: readonly string[];
}

/**
 * Observes this host, plans with `planner` and applies the plan unless --dry-run. Observation
 * and this host's changes go through one `ip` process.
 *
 * @example
 * ```ts
 * await mutate(out, async (host) => ({ plan: planPeerAdd(host, req), summary: "peer 1.1.2.0/24 via 10.0.12.7" }));
 * ```
 */
export async function mutate(
  out: Output,
  planner: (host: HostState) => Planned | Promise<Planned>,
): Promise<void> {
  const { dryRun } = out.options;
  if (!dryRun) requireRoot();
  const planned = await changeHost(planner, dryRun);
  const commands = renderPlan(planned.plan);
  out.json({ changed: !dryRun && commands.length > 0, dryRun, commands, ...planned.result });
  if (dryRun) {
    for (const c of commands) out.line(c);
    if (commands.length === 0) out.note(`nothing to do: ${planned.summary}`);
    return;
  }
  for (const c of commands) out.detail(`+ ${c}`);
  for (const line of planned.details ?? []) out.line(line);
  out.line(
    commands.length === 0
      ? `nothing to do: ${planned.summary}`
      : `${planned.summary} (${commands.length} change${commands.length === 1 ? "" : "s"})`,
  );
}
