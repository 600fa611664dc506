/**
 * Running a lab plan (see `plan.ts`) stage by stage, and taking a failed or interrupted
 * `lab up` back (see `undo.ts`).
 *
 * @module
 */
import { cp, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { HgError } from "../errors.ts";
import { stopDaemon } from "../exec/daemon.ts";
import { runInNetns } from "../exec/netns.ts";
import type { ProcessResult } from "../exec/run.ts";
import { applyPlan } from "../plan/apply.ts";
import { ipStep } from "../plan/step.ts";
import { agentLogPath, killLabAgent, startLabAgent, stopLabAgent } from "./agents.ts";
import { waitForRoutes, waitForSync } from "./convergence.ts";
import { writeHostNumbers } from "./host_numbers.ts";
import { listNetns } from "./netns_dir.ts";
import { writePeersFile } from "./peers_file.ts";
import { HG_JOBS, inParallel, LIGHT_JOBS } from "./parallel.ts";
import type { HostCommand, LabPlan, LabStage } from "./plan.ts";
import { labDir, readLabRegistry, startLabRegistry, stopLabRegistry } from "./registry.ts";
import { agentLine, FORWARDING_ARGV, NO_DAD_ARGV } from "./render.ts";
import type { LabUndo } from "./undo.ts";

/** Runs `hg ARGS...` inside a lab host's network namespace. */
export type HgInHost = (hostNetns: string, args: readonly string[]) => Promise<ProcessResult>;

/** What a lab plan runs with. */
export interface LabRunner {
  /** Runs hg inside a host. */
  readonly hg: HgInHost;
  /** The argv of hg itself, for the agents it starts. */
  readonly hgArgv: readonly string[];
  /** Progress: one line per hg command run, agent started or stopped. */
  readonly log: (line: string) => void;
}

/** One run of a plan: what it started, and whether it was told to stop. */
export class PlanRun {
  /** The PIDs of the agents this run started, by host. */
  readonly started = new Map<string, number>();
  /** Set by an interrupt: no further step starts. */
  aborted = false;
  /** The stage that may be making something right now (waits make nothing: not tracked). */
  current: Promise<unknown> = Promise.resolve();

  /** Waits (at most `ms`) for the stage in flight to end, so that an undo comes after it. */
  async settled(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.current.catch(() => {}),
      new Promise((r) => timer = setTimeout(r, ms)),
    ]);
    clearTimeout(timer);
  }

  /** Throws once the run was interrupted. */
  check(): void {
    if (this.aborted) throw new HgError("interrupted");
  }
}

/**
 * Runs hg in a host and returns its last line of output; its first error line on failure. A
 * command expected to be refused returns hg's refusal (exit 2) instead of failing on it.
 */
async function hgOrFail(hg: HgInHost, command: HostCommand): Promise<string> {
  const result = await hg(command.netns, command.args);
  if (command.refused !== undefined && result.code === 2) {
    const why = result.stderr.trim().split("\n")[0].replace(/^hg: /, "");
    return `refused, as expected: ${why}`;
  }
  if (result.code !== 0) {
    throw new HgError(
      `"hg ${command.args.join(" ")}" in ${command.netns} failed: ${
        result.stderr.trim().split("\n")[0]
      }`,
    );
  }
  return result.stdout.trim().split("\n").pop() ?? "";
}

/** Runs hg commands: a few hosts at a time, each host's in order, one line each as it is done. */
async function runCommands(
  commands: readonly HostCommand[],
  runner: LabRunner,
  run: PlanRun,
): Promise<void> {
  const byHost = new Map<string, HostCommand[]>();
  for (const c of commands) byHost.set(c.netns, [...(byHost.get(c.netns) ?? []), c]);
  await inParallel([...byHost.values()], HG_JOBS, async (own) => {
    for (const command of own) {
      run.check();
      const summary = await hgOrFail(runner.hg, command);
      runner.log(
        `${command.netns}: hg ${command.args.join(" ")}${summary ? `  # ${summary}` : ""}`,
      );
    }
  });
}

/** Runs one stage; `failures` collects agents that had to be killed (reported at the end). */
async function applyStage(
  stage: LabStage,
  runner: LabRunner,
  run: PlanRun,
  hint: string,
  failures: unknown[],
): Promise<void> {
  switch (stage.kind) {
    case "numbers":
      return writeHostNumbers(stage.name, stage.numbers);
    case "ip":
      return applyPlan(stage.plan);
    case "forwarding": {
      // Inside the namespace, by a process there: /proc/sys/net is per network namespace.
      const result = await runInNetns(stage.netns, FORWARDING_ARGV);
      if (result.code !== 0) {
        throw new HgError(
          `turning forwarding on in ${stage.netns} failed: ${result.stderr.trim().split("\n")[0]}`,
        );
      }
      return;
    }
    case "no-dad":
      // Each namespace's own /proc/sys/net, before anything is made in it (see NO_DAD_SYSCTLS).
      await inParallel(stage.namespaces, LIGHT_JOBS, async (netns) => {
        const result = await runInNetns(netns, NO_DAD_ARGV);
        if (result.code !== 0) {
          throw new HgError(
            `turning IPv6 DAD off in ${netns} failed: ${result.stderr.trim().split("\n")[0]}`,
          );
        }
      });
      return;
    case "registry": {
      const registry = await startLabRegistry(stage.topology, stage.options);
      if (registry.url !== stage.url) {
        throw new HgError(`the lab's registry is at ${registry.url}, not ${stage.url} as planned`);
      }
      return;
    }
    case "peers":
      return writePeersFile(stage.path, stage.peers);
    case "hg":
      return runCommands(stage.commands, runner, run);
    case "agents":
      for (const host of stage.hosts) {
        run.check();
        run.started.set(
          host.netns,
          await startLabAgent(stage.name, host, runner.hgArgv, stage.url, stage.ttl),
        );
        runner.log(agentLine(stage.name, host, stage.url, stage.ttl));
      }
      return;
    case "wait-sync":
      return waitForSync(
        stage.hosts.map((host) => ({
          host,
          pid: run.started.get(host.netns),
          log: agentLogPath(stage.name, host.netns),
        })),
        stage.budgetMs,
        hint,
      );
    case "wait-routes":
      return waitForRoutes(stage.required, stage.others, stage.backend, stage.budgetMs, hint);
    case "kill-agent":
      await killLabAgent(stage.name, stage.netns);
      runner.log(`${stage.netns}: agent killed (pid ${stage.pid}; its lease and routes stay)`);
      return;
    case "stop-agents": {
      // Every agent is stopped (or killed) whatever else fails; the lab goes on coming down.
      const stopped = await Promise.allSettled(stage.agents.map(async (a) => {
        await stopLabAgent(stage.name, a.netns);
        if (a.pid !== undefined) {
          runner.log(`${a.netns}: agent stopped (lease released, routes removed)`);
        }
      }));
      for (const r of stopped) if (r.status === "rejected") failures.push(r.reason);
      return;
    }
    case "remove-netns": {
      const there = new Set(await listNetns());
      return applyPlan(
        stage.namespaces.filter((ns) => there.has(ns)).map((ns) => ipStep(["netns", "del", ns])),
      );
    }
    case "remove-dir":
      return stopLabRegistry(stage.name);
  }
}

/**
 * Applies a lab plan stage by stage. `hint` ends the message of an agent that does not come up.
 * An agent that had to be killed fails the run once every stage has run.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * import { observeLab } from "./observe.ts";
 * import { planLabDown } from "./plan.ts";
 * const hg = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * await applyLabPlan(planLabDown(await observeLab("hglab")), { hg, hgArgv: ["hg"], log: console.log });
 * ```
 */
export async function applyLabPlan(
  plan: LabPlan,
  runner: LabRunner,
  run: PlanRun = new PlanRun(),
  hint = "",
): Promise<void> {
  const failures: unknown[] = [];
  for (const stage of plan) {
    run.check();
    const done = applyStage(stage, runner, run, hint, failures);
    if (stage.kind !== "wait-sync" && stage.kind !== "wait-routes") run.current = done;
    await done;
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * Takes a `lab up` back: stops the agents it started, releases its new hosts' leases in a
 * registry that stays, removes the namespaces it made, and removes the lab's directory it made
 * (with its etcd) or puts the one that was there back as it was. With `keepLogs`, the logs the
 * run wrote (etcd's, the agents') are first copied to a new directory under the system's
 * temporary directory, whose path it returns (undefined when there were none). Best effort:
 * every part is tried; the first failure is thrown at the end.
 */
export async function undoLabUp(
  undo: LabUndo,
  runner: LabRunner,
  keepLogs: boolean,
): Promise<string | undefined> {
  const failures: unknown[] = [];
  const attempt = async (work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (error) {
      failures.push(error);
    }
  };
  let kept: string | undefined;
  if (keepLogs) await attempt(async () => kept = await keepLogFiles(undo.name));
  await Promise.all(undo.agents.map((host) => attempt(() => stopLabAgent(undo.name, host))));
  const there = new Set(await listNetns());
  // A host whose setup never ran holds no lease: the release may well find none.
  await Promise.all(
    undo.releases.filter((c) => there.has(c.netns)).map((c) => runner.hg(c.netns, c.args)),
  );
  await attempt(() =>
    applyPlan(
      undo.namespaces.filter((ns) => there.has(ns)).map((ns) => ipStep(["netns", "del", ns])),
    )
  );
  const dir = labDir(undo.name);
  if (undo.dir.remove) {
    await attempt(() => stopLabRegistry(undo.name));
  } else {
    const before = undo.dir;
    await attempt(async () => {
      const now = await readLabRegistry(undo.name);
      const started = (now?.etcdPids ?? []).filter((pid) => !before.etcdPids.includes(pid));
      await Promise.all(started.map((pid) => stopDaemon(pid, 5000)));
    });
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      if (!before.entries.includes(entry)) {
        await attempt(() => rm(`${dir}/${entry}`, { recursive: true, force: true }));
      }
    }
    for (const file of before.files) {
      await attempt(() =>
        file.text === undefined ? rm(file.path, { force: true }) : writeFile(file.path, file.text)
      );
    }
  }
  if (failures.length > 0) throw failures[0];
  return kept;
}

/** Copies the logs of the lab's directory somewhere they outlive it; undefined when it has none. */
async function keepLogFiles(name: string): Promise<string | undefined> {
  const dir = labDir(name);
  const logs = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".log"));
  if (logs.length === 0) return undefined;
  const kept = await mkdtemp(`${tmpdir()}/hg-lab-${name}-`);
  for (const log of logs) await cp(`${dir}/${log}`, `${kept}/${log}`);
  return kept;
}
