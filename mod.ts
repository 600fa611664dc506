/**
 * hg as a library: the typed pieces the `hg` command is built from, for programs that want to
 * observe a host, plan changes and apply them themselves.
 *
 * @example
 * ```ts
 * import { applyPlan, observeHost, parseAddress, parsePrefix, planPeerAdd, renderPlan } from "./mod.ts";
 * const { plan } = planPeerAdd(await observeHost(), { subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") });
 * console.log(renderPlan(plan)); // ["ip route replace 1.1.2.0/24 via 10.0.12.7 dev eth0 proto 104"]
 * await applyPlan(plan);
 * ```
 *
 * @module
 */
export * from "./lib/errors.ts";
export * from "./lib/net/mod.ts";
export * from "./lib/ip/mod.ts";
export type { HostState } from "./lib/host/state.ts";
export { observeHost } from "./lib/host/observe.ts";
export { findBridge } from "./lib/host/bridge.ts";
export { withHostLock } from "./lib/host/lock.ts";
export type { Plan, Step } from "./lib/plan/step.ts";
export { applyPlan } from "./lib/plan/apply.ts";
export { renderPlan, renderStep } from "./lib/plan/render.ts";
export type { SetupRequest } from "./lib/setup/request.ts";
export { planSetup } from "./lib/setup/plan.ts";
export { listContainers } from "./lib/containers/list.ts";
export { observeContainer } from "./lib/containers/observe.ts";
export { planNetnsAdd } from "./lib/containers/plan_add.ts";
export { planNetnsDel } from "./lib/containers/plan_del.ts";
export type { PeerRequest } from "./lib/peers/request.ts";
export { planPeerAdd, planPeerRemove } from "./lib/peers/plan.ts";
export { reconcilePeers } from "./lib/peers/reconcile.ts";
export { hgRoutes } from "./lib/peers/list.ts";
export { planTeardown } from "./lib/teardown/plan.ts";
export { buildStatus, type Status } from "./lib/status/status.ts";
export { takeSnapshot } from "./lib/doctor/collect.ts";
export { parseSnapshot, type SnapshotDocument } from "./lib/doctor/snapshot.ts";
export { diagnose, type Diagnosis, type DoctorRequest } from "./lib/doctor/diagnose.ts";
export type { Finding, FindingId, Severity } from "./lib/doctor/finding.ts";
export { diagnoseLive, type LiveRequest } from "./lib/doctor/live.ts";
export { judgeProbe } from "./lib/doctor/verdict.ts";
export { type ProbePlan, type ProbeResult, runProbe } from "./lib/probe/probe.ts";
export { type PathView, pathView, type Stop } from "./lib/probe/path.ts";
