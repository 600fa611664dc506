/**
 * The observe → plan → apply cycle on this host, for every caller that changes it (the CLI's
 * commands and the agent): under this host's lock, one `ip` process observes the host and then
 * applies the plan. A dry run observes and plans only, and needs neither root nor the lock.
 *
 * @module
 */
import { withHostLock } from "../host/lock.ts";
import { observeHost } from "../host/observe.ts";
import type { HostState } from "../host/state.ts";
import { IpSession } from "../ip/session.ts";
import { applyPlan } from "./apply.ts";
import type { Plan } from "./step.ts";

/**
 * Observes the host, plans with `planner`, and applies the plan unless `dryRun`.
 *
 * @example
 * ```ts
 * const { plan } = await changeHost((host) => ({ plan: planPeerAdd(host, request) }));
 * ```
 */
export async function changeHost<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
  dryRun = false,
): Promise<T> {
  const run = async () => {
    const session = IpSession.open();
    try {
      const planned = await planner(await observeHost(session));
      if (!dryRun) await applyPlan(planned.plan, session);
      return planned;
    } finally {
      await session.close();
    }
  };
  return dryRun ? await run() : await withHostLock(run);
}

/**
 * {@link changeHost} for a daemon that checks its host often and changes it rarely (the agent):
 * it observes and plans without the host lock, and only a plan with steps is made again and
 * applied under the lock. Other hg commands on the host never wait for a check that changes
 * nothing.
 *
 * @example
 * ```ts
 * const { plan } = await changeHostWhenNeeded((host) => ({ plan: planSetup(host, request) }));
 * ```
 */
export async function changeHostWhenNeeded<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
): Promise<T> {
  const planned = await planner(await observeHost());
  return planned.plan.length === 0 ? planned : await changeHost(planner);
}
