/**
 * Agent convergence benchmark, on both stores: a lab of 3 hosts running `hg agent`
 * (`hg lab up --agent --name hgbench`), then `HGBENCH_JOINS` (default 50) new hosts' leases
 * written to the registry one after another, and later released, by `bench/agent_joins.ts` in the
 * lab's underlay namespace. For each: the time from the start of the registry write until the
 * route is in (or gone from) every lab host, next to the time until the registry's own watch
 * told a bare watcher in the same process (the floor an agent cannot beat). Also the agents'
 * memory (VmRSS before and after, VmHWM).
 *
 * Run as root: `deno run -A bench/agent_bench.ts` (or `bun bench/agent_bench.ts`). The agents
 * are the compiled `dist/hg` when present (or `HG_BIN`), otherwise hg from source. The lab's
 * namespaces are `hgbench-*`; the lab (agents, etcd, namespaces) is taken down at the end.
 *
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Sample } from "./agent_joins.ts";
import {
  checkpoint,
  fmtMs,
  hgCommand,
  inNetns,
  machineLine,
  markdownTable,
  median,
  must,
  percentile,
  ROOT,
  scriptArgv,
  timed,
  withNamespaces,
} from "./bench_util.ts";

const LAB = "hgbench";
const HOSTS = [1, 2, 3].map((i) => `${LAB}-h${i}`);
const JOINS = Number(process.env.HGBENCH_JOINS ?? 50);
const WORKER = join(ROOT, "bench", "agent_joins.ts");
const NAMESPACES = [`${LAB}-ul`, ...HOSTS, ...HOSTS.map((h) => `${h}-c1`)];

/** Kilobytes of `field` (VmRSS, VmHWM) of process `pid`. */
function memoryKb(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1]);
}

interface Result {
  readonly store: string;
  readonly joined: readonly Sample[];
  readonly left: readonly Sample[];
  readonly rssBeforeKb: number[];
  readonly rssAfterKb: number[];
  readonly hwmKb: number[];
}

/** One lab on `store`, its joins and leaves measured. */
function run(store: "etcd" | "file", hg: readonly string[], env: Record<string, string>): Result {
  const [cmd, ...rest] = hg;
  must(
    cmd,
    [...rest, "lab", "up", "--nodes", "3", "--agent", "--store", store, "--name", LAB],
    "",
    env,
  );
  try {
    const dir = join(env.HG_RUN_DIR, `lab-${LAB}`);
    const { url } = JSON.parse(readFileSync(join(dir, "registry.json"), "utf8"));
    const pids = HOSTS.map((h) => Number(readFileSync(join(dir, `${h}.agent.pid`), "utf8")));
    const rssBeforeKb = pids.map((pid) => memoryKb(pid, "VmRSS"));
    const [wcmd, wargs] = inNetns(`${LAB}-ul`, [
      ...scriptArgv(WORKER),
      url,
      String(JOINS),
      ...HOSTS,
    ]);
    const { joined, left } = JSON.parse(must(wcmd, wargs, "", env).stdout);
    return {
      store,
      joined,
      left,
      rssBeforeKb,
      rssAfterKb: pids.map((pid) => memoryKb(pid, "VmRSS")),
      hwmKb: pids.map((pid) => memoryKb(pid, "VmHWM")),
    };
  } finally {
    must(cmd, [...rest, "lab", "down", "--name", LAB], "", env);
  }
}

function rows(r: Result): string[][] {
  return ([["join", r.joined], ["leave", r.left]] as const).map(([what, samples]) => {
    const converged = samples.map((s) => Math.max(...s.hostMs));
    const notified = samples.map((s) => s.notifiedMs);
    return [
      r.store,
      what,
      String(samples.length),
      fmtMs(median(samples.map((s) => s.writeMs))),
      `${fmtMs(percentile(notified, 50))} / ${fmtMs(percentile(notified, 99))}`,
      `**${fmtMs(percentile(converged, 50))}** / **${fmtMs(percentile(converged, 99))}**`,
      fmtMs(Math.max(...converged)),
      `${fmtMs(percentile(converged.map((c, i) => c - notified[i]), 50))} / ${
        fmtMs(percentile(converged.map((c, i) => c - notified[i]), 99))
      }`,
    ];
  });
}

const mb = (kb: number[]) => kb.map((k) => (k / 1024).toFixed(1)).join(", ");

const hg = hgCommand(["lab", "add-node"]);
const runDir = mkdtempSync(join(tmpdir(), "hgbench-run-"));
const env = { HG_RUN_DIR: runDir };
const results: Result[] = [];
try {
  await withNamespaces(NAMESPACES, async () => {
    // A lab left by a killed run: take it down properly first (agents, etcd).
    timed(hg.argv[0], [...hg.argv.slice(1), "lab", "down", "--name", LAB], "", env);
    for (const store of ["etcd", "file"] as const) {
      await checkpoint();
      results.push(run(store, hg.argv, env));
    }
  });
} finally {
  rmSync(runDir, { recursive: true, force: true });
}

console.log(`# Agent convergence (${JOINS} joins and leaves, 3 hosts)\n`);
console.log(machineLine());
console.log(`agents: ${hg.what}\n`);
console.log(markdownTable(
  [
    "store",
    "change",
    "n",
    "write p50 (ms)",
    "registry watch p50 / p99 (ms)",
    "routes on every host p50 / p99 (ms)",
    "max (ms)",
    "agent's share p50 / p99 (ms)",
  ],
  results.flatMap(rows),
));
console.log("\nAgent memory (MB, one value per host):\n");
console.log(markdownTable(
  ["store", "VmRSS at start", `VmRSS after ${JOINS} joins + leaves`, "VmHWM (peak)"],
  results.map((r) => [r.store, mb(r.rssBeforeKb), mb(r.rssAfterKb), mb(r.hwmKb)]),
));
