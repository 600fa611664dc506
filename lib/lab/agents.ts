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

/**
 * Starts the agent of `host` of the lab `name`, with `hg` the argv that runs hg.
 *
 * @example
 * ```ts
 * await startLabAgent("hglab", host, ["/usr/local/bin/hg"], "etcd://10.0.12.2:2379");
 * ```
 */
export async function startLabAgent(
  name: string,
  host: LabHost,
  hg: readonly string[],
  url: string,
): Promise<void> {
  const dir = labDir(name);
  const pid = startDaemon("nsenter", [
    `--net=/run/netns/${host.netns}`,
    "--",
    ...hg,
    "agent",
    ...hostRegistryArgs(name, host, url),
    "--ttl",
    "60",
    "--release-on-exit",
  ], `${dir}/${host.netns}.agent.log`);
  await writeFile(pidFile(name, host.netns), String(pid));
}

/** Whether the lab host runs an agent. */
export async function labAgentPid(name: string, host: string): Promise<number | undefined> {
  const pid = Number(await readFile(pidFile(name, host), "utf8").catch(() => ""));
  return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
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
