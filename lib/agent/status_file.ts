/**
 * What a running agent tells `hg status`: a small JSON file per host (network namespace) in the
 * run directory, rewritten after every sync.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { runDir } from "../host/lock.ts";

/** The agent's report. */
export interface AgentReport {
  readonly pid: number;
  readonly node: string;
  readonly store: string;
  readonly subnet: string;
  readonly startedAt: string;
  /** When the routes were last made equal to the registry. */
  readonly lastSync: string | null;
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

/** Writes the report atomically. */
export async function writeReport(report: AgentReport): Promise<void> {
  const path = reportPath();
  await mkdir(runDir(), { recursive: true });
  const temp = `${path}.${randomBytes(4).toString("hex")}`;
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
