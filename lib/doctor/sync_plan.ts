/**
 * What `hg peer sync` would do on this host with the registry's every lease, planned once per
 * context and node: the registry routes' check and the VXLAN facts both ask it, and on 10,000
 * leases the plan is the dearest part of the diagnosis.
 *
 * @module
 */
import { planPeerSync } from "../peers/sync.ts";
import { type DoctorContext, syncView } from "./context.ts";

type SyncPlan = ReturnType<typeof planPeerSync>;

const plans = new WeakMap<DoctorContext, Map<string | undefined, SyncPlan>>();

/**
 * The sync's plan for every lease of the context's registry, with this host's node name `node`
 * (undefined: the lease its bridge's address lies in); undefined without a registry.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "./context.ts";
 * declare const ctx: DoctorContext;
 * syncPlan(ctx, ctx.obs.node)?.peers.length;
 * ```
 */
export function syncPlan(ctx: DoctorContext, node: string | undefined): SyncPlan | undefined {
  const registry = ctx.registry;
  if (!registry) return undefined;
  let byNode = plans.get(ctx);
  if (!byNode) plans.set(ctx, byNode = new Map());
  let plan = byNode.get(node);
  if (!plan) {
    plan = planPeerSync(syncView(ctx), registry.config, registry.entries, {
      node,
      bridge: ctx.obs.bridge,
    });
    byNode.set(node, plan);
  }
  return plan;
}
