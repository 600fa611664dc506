/**
 * What a running agent tells `hg status`: a small JSON file per host (network namespace) in the
 * run directory, rewritten after every sync.
 *
 * @module
 */
import { randomHex } from "../random_hex.ts";
import { readlinkSync } from "node:fs";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { runDir } from "../host/lock.ts";

/** The agent's report. */
export interface AgentReport {
  readonly pid: number;
  readonly node: string;
  readonly store: string;
  readonly subnet: string;
  /** A dual-stack lease's IPv6 subnet; null otherwise. */
  readonly ipv6Subnet: string | null;
  readonly startedAt: string;
  /** When the routes were last made equal to the registry. */
  readonly lastSync: string | null;
  /** When the lease was last renewed (or claimed again). */
  readonly leaseRenewedAt: string | null;
  /**
   * How many times the agent changed the host (it takes the host lock only then), and the
   * longest it held the lock for one change (ms): what another hg command may wait for it.
   */
  readonly hostChanges: number;
  readonly longestLockMs: number;
  /** The registry revision the agent has seen. */
  readonly revision: string | null;
  /** Whether the registry answered the last time the agent asked. */
  readonly storeReachable: boolean;
  readonly refused: readonly { readonly key: string; readonly reason: string }[];
}

/** This host's agent report file. */
export function reportPath(): string {
  const id = readlinkSync("/proc/self/ns/net").replace(/\D/g, "");
  return `${runDir()}/agent-${id}.json`;
}

/**
 * The agent report file of another host, named by the inode of its network namespace (what
 * `stat` gives for `/run/netns/NAME`), for a program that watches many hosts at once, such as
 * the lab, without entering each one.
 *
 * @example
 * ```ts
 * import { statSync } from "node:fs";
 * reportPathOfNetns(statSync("/run/netns/hglab-h1").ino); // "/run/hg/agent-4026532246.json"
 * ```
 */
export function reportPathOfNetns(inode: number | bigint): string {
  return `${runDir()}/agent-${inode}.json`;
}

/** Writes the report atomically. */
export async function writeReport(report: AgentReport): Promise<void> {
  const path = reportPath();
  await mkdir(runDir(), { recursive: true });
  const temp = `${path}.${randomHex(4)}`;
  await writeFile(temp, JSON.stringify(report));
  await rename(temp, path);
}

/** Removes the report (the agent stopped). */
export async function removeReport(): Promise<void> {
  await unlink(reportPath()).catch(() => {});
}

/** The report of this host's running agent, or undefined when none runs. */
export async function readReport(): Promise<AgentReport | undefined> {
  const text = await readFile(reportPath(), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const report = JSON.parse(text) as AgentReport;
    process.kill(report.pid, 0);
    return report;
  } catch {
    return undefined; // unreadable, or its agent is gone
  }
}
