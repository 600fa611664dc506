/**
 * The lab's commands: each observes the lab, plans (`plan.ts`), and applies the plan unless it
 * is a dry run. Inside each host the lab runs hg's own commands (setup, netns add, peer add or
 * peer sync, or hg agent), as an operator would run them on real hosts.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import { withInterruptCleanup } from "../exec/signals.ts";
import { applyLabPlan, type LabRunner, PlanRun, undoLabUp } from "./apply.ts";
import { labShape, observeLab } from "./observe.ts";
import {
  hostIndexes,
  labAsObserved,
  type LabPlan,
  type LabUpRequest,
  planAddNode,
  planLabDown,
  planLabUp,
  planMoveNode,
  planRemoveNode,
  planStartAgent,
} from "./plan.ts";
import { labDir } from "./registry.ts";
import {
  type LabBackend,
  type LabFamily,
  type LabHost,
  type LabShape,
  labTopology,
} from "./topology.ts";
import { planUndo } from "./undo.ts";

export type { HgInHost, LabRunner } from "./apply.ts";

/** Where to look when agents do not come up. */
const logHint = (name: string) => `; see ${labDir(name)}/*.agent.log`;

/** How long an interrupt waits for the step in flight before taking the lab back. */
const SETTLE_MS = 3_000;

/** The lab `lab up` builds: its name, its hosts, and the shape asked for (else the lab's). */
export interface LabUpSpec extends Partial<LabShape> {
  readonly name: string;
  readonly nodes: number;
}

/**
 * Builds the lab (only what is missing, so a second run changes nothing), or with `dryRun` only
 * plans it; returns the plan. Segments and backend not given are the lab's when it is there
 * (see `labShape`). A run that fails, or is interrupted (SIGINT, SIGTERM, SIGHUP),
 * removes what it made before it reports: the namespaces, agents and etcd it started, and the
 * lab's directory when it made it (a directory that was there gets its records back). The error
 * then says where the logs were kept.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hg = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * await labUp({ name: "hglab", nodes: 4, segments: 2 }, { hg, hgArgv: ["hg"], log: console.log }, { kind: "etcd" });
 * ```
 */
export async function labUp(
  spec: LabUpSpec,
  runner: LabRunner,
  request?: LabUpRequest,
  dryRun = false,
): Promise<LabPlan> {
  const { name } = spec;
  const members = request?.kind === "etcd" ? request.etcdMembers ?? 1 : undefined;
  const obs = await observeLab(name, members);
  const topology = labTopology(name, spec.nodes, labShape(obs, spec));
  const plan = planLabUp(obs, topology, request);
  if (dryRun) return plan;
  const undo = planUndo(obs, plan);
  const run = new PlanRun();
  let undoing: Promise<string | undefined> | undefined;
  const undoOnce = (keepLogs: boolean) => undoing ??= undoLabUp(undo, runner, keepLogs);
  await withInterruptCleanup(async () => {
    run.aborted = true;
    await run.settled(SETTLE_MS);
    await undoOnce(false);
  }, async () => {
    try {
      // No hint at the agents' logs: the undo keeps them elsewhere, and the error says where.
      await applyLabPlan(plan, runner, run);
    } catch (error) {
      // Interrupted: the signal's handler takes the lab back and ends the process.
      if (run.aborted) return await new Promise<never>(() => {});
      let note = "";
      try {
        const kept = await undoOnce(true);
        note = kept === undefined ? "" : ` (logs kept in ${kept})`;
      } catch (undoError) {
        note = `; removing what lab up made failed too: ${messageOf(undoError)}`;
      }
      throw withNote(error, note);
    }
  });
  return plan;
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/** `error` with `note` added to its message, of the same class when it is one of hg's. */
function withNote(error: unknown, note: string): unknown {
  if (note === "") return error;
  if (error instanceof HgError) {
    const Kind = error.constructor as new (message: string) => HgError;
    return new Kind(error.message + note);
  }
  return new Error(messageOf(error) + note);
}

/**
 * Adds a host to a running registry lab, the same way `lab up` made the others (or with
 * `dryRun` only plans it). It is numbered after the highest number the lab ever used (a removed
 * host's number is not given again), and only it is built. Returns the new host's namespace.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hg = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * (await labAddNode("hglab", { hg, hgArgv: ["hg"], log: console.log })).host; // "hglab-h4"
 * ```
 */
export async function labAddNode(
  name: string,
  runner: LabRunner,
  dryRun = false,
): Promise<{ host: string; plan: LabPlan }> {
  const planned = planAddNode(await observeLab(name));
  if (!dryRun) await applyLabPlan(planned.plan, runner, new PlanRun(), logHint(name));
  return planned;
}

/**
 * Starts the agent of `hostNetns` again after it stopped (it was killed, say), exactly as
 * `lab up` started it (same flags, its log appended to), and waits until it has set its host up
 * and every host whose agent runs routes to every other. Returns the agent's PID (undefined for
 * a dry run) and the plan.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hg = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * (await labStartAgent("hglab", "hglab-h2", { hg, hgArgv: ["hg"], log: console.log })).pid; // 12345
 * ```
 */
export async function labStartAgent(
  name: string,
  hostNetns: string,
  runner: LabRunner,
  dryRun = false,
): Promise<{ pid?: number; plan: LabPlan }> {
  const plan = planStartAgent(await observeLab(name), hostNetns);
  if (dryRun) return { plan };
  const run = new PlanRun();
  await applyLabPlan(plan, runner, run, logHint(name));
  return { pid: run.started.get(hostNetns), plan };
}

/**
 * Removes a host from a running registry lab for good (or with `dryRun` only plans it): its
 * agent stops with --release-on-exit (or, without agents, its lease is released and the others
 * sync), then its namespaces go. Returns the plan.
 */
export async function labRemoveNode(
  name: string,
  hostNetns: string,
  runner: LabRunner,
  dryRun = false,
): Promise<LabPlan> {
  const plan = planRemoveNode(await observeLab(name), hostNetns);
  if (!dryRun) await applyLabPlan(plan, runner);
  return plan;
}

/**
 * Moves host `host` (its number or namespace) of the lab `name` to segment `segment`, and tells
 * the other hosts the way the lab set it up (see `planMoveNode`); with `dryRun` only plans it.
 * Returns the host as it is after the move and the plan (empty: it is on that segment already).
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hg = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * (await labMoveNode("hglab", "2", 0, { hg, hgArgv: ["hg"], log: console.log })).host.address; // 10.0.12.12
 * ```
 */
export async function labMoveNode(
  name: string,
  host: string,
  segment: number,
  runner: LabRunner,
  dryRun = false,
): Promise<{ host: LabHost; plan: LabPlan; note?: string }> {
  const planned = planMoveNode(await observeLab(name), host, segment);
  if (!dryRun) await applyLabPlan(planned.plan, runner, new PlanRun(), logHint(name));
  return planned;
}

/**
 * Where a lab's hosts are: their segments, how many there are, the lab's backend and its
 * address families.
 */
export interface LabLayout {
  readonly segments: number;
  readonly backend: LabBackend;
  readonly family: LabFamily;
  /** Each host's segment, by its namespace. */
  readonly hosts: ReadonlyMap<string, number>;
}

/**
 * Where the hosts of the lab `name` are now (read without changing anything).
 *
 * @example
 * ```ts
 * (await labLayout("hglab")).hosts.get("hglab-h2"); // 1 in a lab of two segments
 * ```
 */
export async function labLayout(name: string): Promise<LabLayout> {
  const obs = await observeLab(name);
  const lab = labAsObserved(obs, hostIndexes(name, obs.namespaces));
  return {
    segments: lab.segments.length,
    backend: lab.backend,
    family: lab.family,
    hosts: new Map(lab.hosts.map((h) => [h.netns, h.segment])),
  };
}

/**
 * Removes the lab `name` (or with `dryRun` only plans it): its agents stop, `hg teardown` runs in
 * each host (so containers made there by hand go too), then every namespace of the lab goes, and
 * with them every link, route and rule inside; then its etcd and its directory. Returns the
 * namespaces it removes and the plan (empty: there is no such lab).
 */
export async function labDown(
  name: string,
  runner: LabRunner,
  dryRun = false,
): Promise<{ removed: string[]; plan: LabPlan }> {
  const obs = await observeLab(name);
  const plan = planLabDown(obs);
  if (!dryRun) await applyLabPlan(plan, runner);
  return { removed: [...obs.namespaces], plan };
}
