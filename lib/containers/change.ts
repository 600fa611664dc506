/**
 * The observe → plan → apply cycle of `hg netns add` and `del`: lib/plan/change.ts's changeHost
 * (the host lock, one `ip` process that observes and then applies the host's lines), observing
 * only what containers are planned from (links and addresses, see observe.ts).
 *
 * @module
 */
import { withHostLock } from "../host/lock.ts";
import { IpSession } from "../ip/session.ts";
import { applyPlan } from "../plan/apply.ts";
import type { Plan } from "../plan/step.ts";
import { type HostLinks, observeHostLinks } from "./observe.ts";

/**
 * Observes the host's links and addresses, plans with `planner`, and applies the plan unless
 * `dryRun` (which needs neither root nor the lock).
 *
 * @example
 * ```ts
 * import { planNetnsDel } from "./plan_del.ts";
 * await changeContainers((host) => ({ plan: planNetnsDel(host, "web1", true) }), false);
 * ```
 */
export async function changeContainers<T extends { readonly plan: Plan }>(
  planner: (host: HostLinks) => T | Promise<T>,
  dryRun: boolean,
): Promise<T> {
  // `ip` starts while the lock is taken: the lock is held for the reads and writes only.
  const session = IpSession.open();
  const cycle = async () => {
    const planned = await planner(await observeHostLinks(session));
    if (!dryRun) await applyPlan(planned.plan, session);
    return planned;
  };
  try {
    return dryRun ? await cycle() : await withHostLock(cycle);
  } finally {
    await session.close();
  }
}
