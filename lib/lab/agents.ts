/**
 * Agents in lab hosts: each lab host runs `hg agent` as a daemon (through nsenter, its log and
 * PID in the lab's directory), started with --release-on-exit so that stopping it is a host
 * leaving for good.
 *
 * @module
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { HgError } from "../errors.ts";
import { isRunning, startDaemon, stopDaemon } from "../exec/daemon.ts";
import { hostRegistryArgs, labDir } from "./registry.ts";
import type { LabHost } from "./topology.ts";

const pidFile = (name: string, host: string) => `${labDir(name)}/${host}.agent.pid`;

/** The lease TTL of lab agents unless `lab up --ttl` says otherwise (seconds). */
export const DEFAULT_AGENT_TTL = 60;

/**
 * The shortest lease TTL `lab up --ttl` takes: an agent renews every third of its TTL but at
 * most once a second, so 3 s still leaves it three tries before the lease runs out.
 */
export const MIN_AGENT_TTL = 3;

/**
 * The arguments of the agent of `host` (after hg's own argv): who it is in the registry, its
 * lease TTL, and `--release-on-exit`. The same for `lab up`, `add-node` and `start-agent`.
 *
 * @example
 * ```ts
 * import { labHost } from "./topology.ts";
 * labAgentArgs("hglab", labHost("hglab", 1), "etcd://10.0.12.2:2379", 60); // ["agent", "--store", ..., "--ttl", "60", "--release-on-exit"]
 * ```
 */
export function labAgentArgs(
  name: string,
  host: LabHost,
  url: string,
  ttlSeconds: number,
): string[] {
  return [
    "agent",
    ...hostRegistryArgs(name, host, url),
    "--ttl",
    String(ttlSeconds),
    "--release-on-exit",
  ];
}

/**
 * Starts the agent of `host` of the lab `name`, with `hg` the argv that runs hg; its output is
 * appended to `<lab dir>/HOST.agent.log`. Returns its PID (nsenter exec()s hg: the agent's own).
 *
 * @example
 * ```ts
 * import { labHost } from "./topology.ts";
 * await startLabAgent("hglab", labHost("hglab", 1), ["/usr/local/bin/hg"], "etcd://10.0.12.2:2379", 60);
 * ```
 */
export async function startLabAgent(
  name: string,
  host: LabHost,
  hg: readonly string[],
  url: string,
  ttlSeconds: number,
): Promise<number> {
  const pid = startDaemon(
    "nsenter",
    [`--net=/run/netns/${host.netns}`, "--", ...hg, ...labAgentArgs(name, host, url, ttlSeconds)],
    agentLogPath(name, host.netns),
  );
  await writeFile(pidFile(name, host.netns), String(pid));
  return pid;
}

/** Where the agent of a lab host logs. */
export function agentLogPath(name: string, host: string): string {
  return `${labDir(name)}/${host}.agent.log`;
}

/** The PID of the lab host's agent when it runs, else undefined. */
export async function labAgentPid(name: string, host: string): Promise<number | undefined> {
  const pid = Number(await readFile(pidFile(name, host), "utf8").catch(() => ""));
  return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
}

/**
 * Kills the agent of a lab host with SIGKILL and waits (5 s at most) until it is gone: unlike
 * SIGTERM, that leaves its lease in the registry and its routes in the host, as a crash would,
 * for an agent started again to take the lease back as its own.
 */
export async function killLabAgent(name: string, host: string): Promise<void> {
  const pid = await labAgentPid(name, host);
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone just now
    }
    const deadline = Date.now() + 5_000;
    while (isRunning(pid)) {
      if (Date.now() > deadline) {
        throw new HgError(`the agent of ${host} (pid ${pid}) is still there 5 s after SIGKILL`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await rm(pidFile(name, host), { force: true });
}

/**
 * Stops the agent of a lab host with SIGTERM (it releases its lease and removes its routes) and
 * waits for it to exit.
 */
export async function stopLabAgent(name: string, host: string): Promise<void> {
  const pid = await labAgentPid(name, host);
  // The lab must always come down: an agent that ignores SIGTERM is killed, and says so.
  if (pid !== undefined && await stopDaemon(pid, 10_000) === "killed") {
    throw new HgError(
      `the agent of ${host} (pid ${pid}) did not stop on SIGTERM within 10 s: killed it`,
    );
  }
  await rm(pidFile(name, host), { force: true });
}
