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

/** How a change reads the host through its `ip` process: all of it, or what its planner needs. */
export type Observe<S> = (session: IpSession) => Promise<S>;

/**
 * One `ip` process observes the host, `planner` plans, and the same process applies the plan.
 * The process may have been started before (while the caller waited for the host lock).
 */
async function observePlanApply<S, T extends { readonly plan: Plan }>(
  observe: Observe<S>,
  planner: (host: S) => T | Promise<T>,
  dryRun: boolean,
  session = IpSession.open(),
): Promise<T> {
  try {
    const planned = await planner(await observe(session));
    if (!dryRun) await applyPlan(planned.plan, session);
    return planned;
  } finally {
    await session.close();
  }
}

/**
 * Observes the host, plans with `planner`, and applies the plan unless `dryRun`.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { planPeerAdd } from "../peers/plan.ts";
 * const request = { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") };
 * const { plan } = await changeHost((host) => ({ plan: planPeerAdd(host, request).plan }));
 * ```
 */
export async function changeHost<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
  dryRun = false,
): Promise<T> {
  return await changeObserved(observeHost, planner, dryRun);
}

/**
 * {@link changeHost} for a planner that needs only part of the host, read by `observe` (a
 * container is planned from links and addresses: a host's routes cost more to read and parse
 * than the rest of `hg netns add`).
 *
 * @example
 * ```ts
 * import { observeHostLinks } from "../containers/observe.ts";
 * import { planNetnsDel } from "../containers/plan_del.ts";
 * await changeObserved(observeHostLinks, (host) => ({ plan: planNetnsDel(host, "web1", true) }));
 * ```
 */
export async function changeObserved<S, T extends { readonly plan: Plan }>(
  observe: Observe<S>,
  planner: (host: S) => T | Promise<T>,
  dryRun = false,
): Promise<T> {
  if (dryRun) return await observePlanApply(observe, planner, true);
  // `ip` starts while the lock is taken: the lock is held for the reads and writes only.
  const session = IpSession.open();
  try {
    return await withHostLock(() => observePlanApply(observe, planner, false, session));
  } finally {
    await session.close();
  }
}

/**
 * {@link changeHost} without the host lock, for a plan that only removes what belongs to one
 * caller and frees what it held (a CNI DEL deletes one container's veth, and with it its
 * address): nothing another command plans from can be handed out twice by it, and the kernel's
 * slow part of a veth's deletion (about 16 ms) then holds up no other container's ADD.
 *
 * @example
 * ```ts
 * import { planCniDel } from "../cni/plan_remove.ts";
 * import type { HgNetConf } from "../cni/request.ts";
 * declare const conf: HgNetConf;
 * const container = { id: "0123abcd", ifname: "eth0" };
 * await changeHostUnlocked((host) => ({ plan: planCniDel(host, conf, container) }));
 * ```
 */
export async function changeHostUnlocked<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
): Promise<T> {
  return await observePlanApply(observeHost, planner, false);
}

/**
 * {@link changeHost} for a daemon that checks its host often and changes it rarely (the agent):
 * it observes and plans without the host lock, and only a plan with steps is made again from a
 * fresh observation and applied under the lock, through the same `ip` process (started before
 * the lock is taken, so the lock is held for reads and writes only). Other hg commands on the
 * host never wait for a check that changes nothing. `lockHeldMs` says how long the lock was held
 * (0: not taken).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * import { planSetup } from "../setup/plan.ts";
 * const request = { subnet: parsePrefix("1.1.1.0/24"), bridge: "cni0" };
 * const { plan, lockHeldMs } = await changeHostWhenNeeded((host) => ({ plan: planSetup(host, request) }));
 * ```
 */
export async function changeHostWhenNeeded<T extends { readonly plan: Plan }>(
  planner: (host: HostState) => T | Promise<T>,
): Promise<T & { readonly lockHeldMs: number }> {
  const session = IpSession.open();
  try {
    const planned = await planner(await observeHost(session));
    if (planned.plan.length === 0) return { ...planned, lockHeldMs: 0 };
    return await withHostLock(async () => {
      const began = performance.now();
      const fresh = await planner(await observeHost(session));
      await applyPlan(fresh.plan, session);
      return { ...fresh, lockHeldMs: performance.now() - began };
    });
  } finally {
    await session.close();
  }
}
