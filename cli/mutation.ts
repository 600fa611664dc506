/**
 * The observe → plan → apply path every mutating command follows: under this host's lock,
 * observe and plan; print the plan with --dry-run; otherwise apply it as one batch per
 * namespace. An empty plan changes nothing and says so.
 *
 * @module
 */
import { observeHost } from "../lib/host/observe.ts";
import type { HostState } from "../lib/host/state.ts";
import { changeObserved, type Observe } from "../lib/plan/change.ts";
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
  /**
   * What the command changed before this plan, outside the host (`setup --store`: this host's
   * entry in the registry), one line each: they count as changes too.
   */
  readonly changedBefore?: readonly string[];
}

/**
 * Observes this host (all of it, or what `observe` reads), plans with `planner` and applies the
 * plan unless --dry-run. Observation and this host's changes go through one `ip` process.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../lib/net/address.ts";
 * import { parsePrefix } from "../lib/net/prefix.ts";
 * import { planPeerAdd } from "../lib/peers/plan.ts";
 * import { Output } from "./output.ts";
 * declare const out: Output; // the command's output, with its --dry-run and --json
 * const req = { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") };
 * await mutate(out, (host) => ({ plan: planPeerAdd(host, req).plan, summary: "peer 1.1.2.0/24 via 10.0.12.7" }));
 * ```
 */
export function mutate(
  out: Output,
  planner: (host: HostState) => Planned | Promise<Planned>,
): Promise<void>;
export function mutate<S>(
  out: Output,
  planner: (host: S) => Planned | Promise<Planned>,
  observe: Observe<S>,
): Promise<void>;
export async function mutate<S>(
  out: Output,
  planner: (host: S) => Planned | Promise<Planned>,
  observe: Observe<S> = observeHost as Observe<unknown> as Observe<S>,
): Promise<void> {
  const { dryRun } = out.options;
  if (!dryRun) requireRoot();
  const planned = await changeObserved(observe, planner, dryRun);
  const changes = planned.plan.length;
  // The commands are rendered only to be shown: a big plan is otherwise rendered for nothing.
  const { json, verbose } = out.options;
  const commands = dryRun || json || verbose ? renderPlan(planned.plan) : [];
  const before = planned.changedBefore ?? [];
  out.json({
    changed: !dryRun && (changes > 0 || before.length > 0),
    dryRun,
    commands,
    ...planned.result,
  });
  if (dryRun) {
    // One write each: thousands of lines written one by one cost more than planning them.
    if (changes > 0) out.line(commands.join("\n"));
    else out.note(`nothing to do: ${planned.summary}`);
    return;
  }
  if (changes > 0) out.detail(commands.map((c) => `+ ${c}`).join("\n"));
  const details = [...before, ...planned.details ?? []];
  if (details.length > 0) out.line(details.join("\n"));
  out.line(
    changes > 0
      ? `${planned.summary} (${changes} change${changes === 1 ? "" : "s"})`
      : before.length > 0
      ? `nothing to do on the host: ${planned.summary}`
      : `nothing to do: ${planned.summary}`,
  );
}
