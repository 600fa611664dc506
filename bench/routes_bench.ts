/**
 * Route installation benchmark (issue 15: 1,000 and 10,000 peer routes within 1.3× and 2× of a
 * raw `ip -batch`). The routes are the first N /24s of 100.64.0.0/10 via 10.0.12.12, proto 104,
 * installed in a scratch namespace; in the same run, the ways alternating:
 *
 * - hg in-process: observe + plan + apply (bench/hg_install_routes.ts N), as before;
 * - the whole command as a user runs it: the hg binary (`HG_BIN`, else dist/hg) running
 *   `hg peer sync --store FILE` with a file registry of N leases (process start-up and
 *   registry read included), in CPU time (user+sys, its `ip` processes included) and wall;
 * - `hg --version` (the binary's start-up alone) and the in-process phases of the same sync
 *   (bench/hg_install_routes.ts --sync FILE: registry read, observe, plan, apply);
 * - one `ip route add` process per route;
 * - the raw batch: one `ip -batch -` process fed the N `route add` lines (CPU and wall);
 * - what hg's session does differently, one thing at a time with plain `ip`: `route replace`
 *   lines, then also hg's flags `-N -d -j`, then also a pipe for its standard output.
 *
 * Run as root: `HG_BIN=/tmp/you/hg bun bench/routes_bench.ts` (or `deno run -A ...`; the
 * in-process helpers run under the runtime running this). `HGBENCH_REPS` (default 5) sets the
 * repetitions, `HGBENCH_PER_PROCESS=0` leaves out one process per route (30 s a run at 10,000).
 * With `HGBENCH_BASE_BIN=/tmp/you/hg-before`, an earlier build runs the same whole command and
 * `--version` in the same run, alternating with the others ("before" rows).
 * Everything happens in the namespaces `hgbench-ap-r` and `hgbench-ap-p` (`HGBENCH_NETNS=NAME`:
 * `NAME-r` and `NAME-p`, for benchmarks running side by side), deleted at the end; the registry
 * files go to a temporary directory, removed at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { formatPrefix } from "../lib/net/mod.ts";
import {
  buildUplinkPair,
  checkpoint,
  type CpuCost,
  fmtMs,
  hgCommand,
  inNetns,
  machineLine,
  markdownTable,
  median,
  must,
  mustCpu,
  ROOT,
  scriptArgv,
  timed,
  withNamespaces,
} from "./bench_util.ts";
import {
  benchRequests,
  type InstallResult,
  PEER_GATEWAY,
  SYNC_SELF,
  type SyncPhases,
  writeBenchRegistry,
} from "./hg_install_routes.ts";

/** The namespaces' common name (they must start with `hgbench-`, see bench_util.ts). */
const NETNS = process.env.HGBENCH_NETNS ?? "hgbench-ap";
const ROUTER = `${NETNS}-r`;
const PEER = `${NETNS}-p`;
/** An earlier build, timed the same way in the same run. */
const BASE_BIN = process.env.HGBENCH_BASE_BIN;
const SIZES = [1_000, 10_000] as const;
/** The issue's targets: hg's cost over the raw batch's, by N. */
const TARGET: Record<number, number> = { 1_000: 1.3, 10_000: 2 };
/** Repetitions per measurement; `HGBENCH_REPS` lowers it for a quick try. */
const REPS = Number(process.env.HGBENCH_REPS ?? 5);
if (!Number.isInteger(REPS) || REPS < 1) {
  throw new Error(`HGBENCH_REPS must be a whole number >= 1`);
}
const PER_PROCESS = process.env.HGBENCH_PER_PROCESS !== "0";
/** One `ip` process per route costs ~3 ms, so 10,000 routes take half a minute a run: fewer runs. */
const PER_PROCESS_REPS_10K = Math.min(REPS, 3);
const HELPER = join(ROOT, "bench", "hg_install_routes.ts");
/** The host lock of the benchmark's hg runs: a directory of its own, not /run/hg. */
const RUN_DIR = mkdtempSync(join(tmpdir(), `${NETNS}-run-`));

type Way =
  | "hg"
  | "hgWall"
  | "hgRerun"
  | "hgRerunWall"
  | "perProcess"
  | "batch";

const LABELS: Record<Way, string> = {
  hg: "hg in-process (observe+plan+apply)",
  hgWall: "hg helper process wall (runtime start-up + observe+plan+apply)",
  hgRerun: "hg re-run, 0 steps planned (observe+plan)",
  hgRerunWall: "hg re-run process wall",
  perProcess: "`ip route add`, one process per route",
  batch: "raw `ip -batch -` (one process)",
};

/** The `ip` arguments the non-hg ways install a route with. */
function addArgs(dst: string): string[] {
  return ["route", "add", dst, "via", PEER_GATEWAY, "dev", "eth0", "proto", "104"];
}

/** The destinations of the proto 104 routes in the router namespace. */
function hgRouteDsts(): string[] {
  const out = must("ip", ["-n", ROUTER, "-j", "route", "show", "proto", "104"]).stdout;
  return (JSON.parse(out || "[]") as { dst: string }[]).map((r) => r.dst);
}

function flush(): void {
  must("ip", ["-n", ROUTER, "route", "flush", "proto", "104"]);
  const left = hgRouteDsts().length;
  if (left !== 0) throw new Error(`flush left ${left} proto 104 routes in ${ROUTER}`);
}

/** Fails loudly unless the router namespace has exactly the `expected` proto 104 routes. */
function verify(expected: readonly string[], way: string): void {
  const got = hgRouteDsts();
  const want = new Set(expected);
  const missing = expected.length - got.filter((d) => want.has(d)).length;
  if (got.length !== expected.length || missing !== 0) {
    throw new Error(
      `${way}: expected exactly ${expected.length} proto 104 routes in ${ROUTER}, found ${got.length} (${missing} missing)`,
    );
  }
}

/** Runs the in-process helper inside the router namespace; returns its last line and the wall. */
function runHelper<T>(args: readonly string[]): { result: T; wallMs: number } {
  const [cmd, argv] = inNetns(ROUTER, [...scriptArgv(HELPER), ...args]);
  const r = must(cmd, argv);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  return { result: JSON.parse(last) as T, wallMs: r.ms };
}

async function main(): Promise<void> {
  const hg = hgCommand(["peer", "sync"]);
  console.log(machineLine());
  console.log(`hg command: ${hg.what}`);
  if (BASE_BIN) console.log(`before: HGBENCH_BASE_BIN=${BASE_BIN}, the same way`);
  console.log(`in-process helper: ${scriptArgv(HELPER).join(" ")} (inside ${ROUTER} via nsenter)`);
  console.log(
    `repetitions: ${REPS} per measurement${
      PER_PROCESS ? ` (${PER_PROCESS_REPS_10K} for one process per route at 10,000)` : ""
    }, the ways alternating, medians reported\n`,
  );
  buildUplinkPair(ROUTER, PEER);
  const dir = mkdtempSync(join(tmpdir(), `${NETNS}-`));
  const env = { HG_RUN_DIR: RUN_DIR };

  const samples = new Map<string, number[]>();
  const add = (key: string, v: number) => samples.set(key, [...(samples.get(key) ?? []), v]);
  const med = (key: string) => median(samples.get(key)!);

  // Warm the runtime's module cache so the first measured helper run does not pay for transpiling.
  runHelper<InstallResult>(["10"]);
  flush();

  try {
    for (const n of SIZES) {
      const requests = benchRequests(n);
      const dsts = requests.map((r) => formatPrefix(r.subnet));
      const lines = dsts.map((d) => addArgs(d).join(" ")).join("\n") + "\n";
      const replaceLines = lines.replaceAll("route add ", "route replace ");
      const registry = join(dir, `registry-${n}.json`);
      writeBenchRegistry(registry, n);
      const syncOf = (argv: readonly string[]) =>
        inNetns(ROUTER, [...argv, "peer", "sync", "--store", registry, "--node", SYNC_SELF])
          .flat();
      const syncArgv = syncOf(hg.argv);
      const cost = (key: string, c: CpuCost) => {
        add(`${key}Cpu@${n}`, c.cpuMs);
        add(`${key}Wall@${n}`, c.wallMs);
      };
      const ways: Record<string, () => void> = {
        hg: () => {
          const first = runHelper<InstallResult>([String(n)]);
          if (first.result.planned !== n) {
            throw new Error(`hg planned ${first.result.planned} steps for ${n} routes`);
          }
          verify(dsts, "hg");
          add(`hg@${n}`, first.result.ms);
          add(`hgWall@${n}`, first.wallMs);
          add(`observe@${n}`, first.result.observeMs);
          add(`reconcile@${n}`, first.result.reconcileMs);
          add(`apply@${n}`, first.result.applyMs);
          const again = runHelper<InstallResult>([String(n)]);
          if (again.result.planned !== 0 || again.result.unchanged !== n) {
            throw new Error(
              `hg re-run planned ${again.result.planned} steps (${again.result.unchanged} unchanged), expected 0`,
            );
          }
          verify(dsts, "hg re-run");
          add(`hgRerun@${n}`, again.result.ms);
          add(`hgRerunWall@${n}`, again.wallMs);
        },
        command: () => {
          cost("command", mustCpu(syncArgv, undefined, env));
          verify(dsts, "hg peer sync");
        },
        version: () => cost("version", mustCpu([...hg.argv, "--version"])),
        ...(BASE_BIN
          ? {
            baseCommand: () => {
              cost("baseCommand", mustCpu(syncOf([BASE_BIN]), undefined, env));
              verify(dsts, "hg peer sync (HGBENCH_BASE_BIN)");
            },
            baseVersion: () => cost("baseVersion", mustCpu([BASE_BIN, "--version"])),
          }
          : {}),
        phases: () => {
          const { result } = runHelper<SyncPhases>(["--sync", registry]);
          if (result.planned !== n || result.refused !== 0) {
            throw new Error(`--sync planned ${result.planned} steps, refused ${result.refused}`);
          }
          verify(dsts, "in-process sync");
          for (const p of ["read", "observe", "plan", "apply"] as const) {
            add(`sync-${p}@${n}`, result[p].ms);
            add(`sync-${p}Cpu@${n}`, result[p].cpuMs);
          }
        },
        perProcess: () => {
          const t0 = performance.now();
          for (const d of dsts) must("ip", ["-n", ROUTER, ...addArgs(d)]);
          add(`perProcess@${n}`, performance.now() - t0);
          verify(dsts, "ip per route");
        },
        batch: () => {
          const c = mustCpu(["ip", "-n", ROUTER, "-batch", "-"], lines);
          add(`batch@${n}`, c.wallMs);
          cost("batch", c);
          verify(dsts, "ip -batch");
        },
        // What hg's session does differently from the raw batch, one thing at a time, plain ip.
        factorReplace: () => {
          cost("factorReplace", mustCpu(["ip", "-n", ROUTER, "-batch", "-"], replaceLines));
          verify(dsts, "ip -batch of route replace");
        },
        factorFlags: () => {
          const argv = ["ip", "-n", ROUTER, "-N", "-d", "-j", "-batch", "-"];
          cost("factorFlags", mustCpu(argv, replaceLines));
          verify(dsts, "ip -N -d -j -batch of route replace");
        },
        factorPipe: () => {
          const script = `ip -n ${ROUTER} -N -d -j -batch - | cat`;
          cost("factorPipe", mustCpu(["bash", "-o", "pipefail", "-c", script], replaceLines));
          verify(dsts, "ip -N -d -j -batch of route replace into a pipe");
        },
      };
      const order = Object.keys(ways).filter((w) => PER_PROCESS || w !== "perProcess");
      for (let rep = 0; rep < REPS; rep++) {
        // Rotate the order so no way always runs right after the same other one.
        for (let k = 0; k < order.length; k++) {
          const way = order[(rep + k) % order.length];
          if (way === "perProcess" && n === 10_000 && rep >= PER_PROCESS_REPS_10K) continue;
          flush();
          ways[way]();
          await checkpoint();
        }
        process.stderr.write(`N=${n}: repetition ${rep + 1}/${REPS} done\n`);
      }
      flush();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: string[][] = [];
  for (const n of SIZES) {
    const base = med(`batch@${n}`);
    for (const way of Object.keys(LABELS) as Way[]) {
      if (!samples.has(`${way}@${n}`)) continue;
      const m = med(`${way}@${n}`);
      rows.push([
        LABELS[way],
        n.toLocaleString("en-US"),
        String(samples.get(`${way}@${n}`)!.length),
        fmtMs(m),
        `${(m / base).toFixed(2)}×`,
      ]);
    }
  }
  console.log("\nIn-process (wall):\n");
  console.log(markdownTable(["way", "N", "runs", "median ms", "vs raw batch"], rows));

  const phaseRows = SIZES.map((n) => [
    n.toLocaleString("en-US"),
    ...["observe", "reconcile", "apply"].map((p) => fmtMs(med(`${p}@${n}`))),
  ]);
  console.log("\nhg in-process phases (median ms):\n");
  console.log(markdownTable(["N", "observe", "reconcile", "apply"], phaseRows));

  const cmdRows: string[][] = [];
  const cmdLabels: [string, string][] = [
    ["command", `\`hg peer sync --store FILE\` (N leases), whole process`],
    ["version", "`hg --version` (start-up alone)"],
    ["batch", "raw `ip -batch -` (one process)"],
    ["baseCommand", "before (HGBENCH_BASE_BIN): `hg peer sync --store FILE`, whole process"],
    ["baseVersion", "before: `hg --version`"],
  ];
  for (const n of SIZES) {
    const cpu0 = med(`batchCpu@${n}`);
    const wall0 = med(`batchWall@${n}`);
    for (const [key, label] of cmdLabels) {
      if (!samples.has(`${key}Cpu@${n}`)) continue;
      const cpu = med(`${key}Cpu@${n}`);
      const wall = med(`${key}Wall@${n}`);
      cmdRows.push([
        label,
        n.toLocaleString("en-US"),
        String(samples.get(`${key}Cpu@${n}`)!.length),
        fmtMs(cpu),
        `${(cpu / cpu0).toFixed(2)}×`,
        fmtMs(wall),
        `${(wall / wall0).toFixed(2)}×`,
      ]);
    }
  }
  console.log("\nThe whole command (CPU = user+sys of the process and its children):\n");
  console.log(
    markdownTable(
      ["way", "N", "runs", "CPU ms", "CPU vs raw", "wall ms", "wall vs raw"],
      cmdRows,
    ),
  );

  const factorRows: string[][] = [];
  const factorLabels: [string, string][] = [
    ["batch", "`ip -batch -`, `route add` lines (the raw batch)"],
    ["factorReplace", "`ip -batch -`, `route replace` lines"],
    ["factorFlags", "`ip -N -d -j -batch -` (hg's session flags), `route replace` lines"],
    ["factorPipe", "the same, its stdout a pipe to `cat`"],
  ];
  for (const n of SIZES) {
    const cpu0 = med(`batchCpu@${n}`);
    const wall0 = med(`batchWall@${n}`);
    for (const [key, label] of factorLabels) {
      const cpu = med(`${key}Cpu@${n}`);
      const wall = med(`${key}Wall@${n}`);
      factorRows.push([
        label,
        n.toLocaleString("en-US"),
        fmtMs(cpu),
        `${(cpu / cpu0).toFixed(2)}×`,
        fmtMs(wall),
        `${(wall / wall0).toFixed(2)}×`,
      ]);
    }
  }
  console.log("\nWhat hg's session does differently, one thing at a time (plain `ip`):\n");
  console.log(
    markdownTable(["batch", "N", "CPU ms", "CPU vs raw", "wall ms", "wall vs raw"], factorRows),
  );

  // The phases of the whole command: start-up from `hg --version`, the four in-process phases
  // from the --sync helper, and what is left of the command's wall (output, lock, exit).
  const sumRows = SIZES.map((n) => {
    const startup = med(`versionWall@${n}`);
    const phases = ["read", "observe", "plan", "apply"].map((p) => med(`sync-${p}@${n}`));
    const rest = med(`commandWall@${n}`) - startup - phases.reduce((a, b) => a + b, 0);
    return [
      n.toLocaleString("en-US"),
      `${fmtMs(startup)} / ${fmtMs(med(`versionCpu@${n}`))}`,
      ...["read", "observe", "plan", "apply"].map((p) =>
        `${fmtMs(med(`sync-${p}@${n}`))} / ${fmtMs(med(`sync-${p}Cpu@${n}`))}`
      ),
      fmtMs(rest),
      `${fmtMs(med(`commandWall@${n}`))} / ${fmtMs(med(`commandCpu@${n}`))}`,
      `${fmtMs(med(`batchWall@${n}`))} / ${fmtMs(med(`batchCpu@${n}`))}`,
    ];
  });
  console.log(
    "\nPhases of `hg peer sync` (median wall ms / CPU ms). Start-up is `hg --version`'s; the " +
      "four phases come from the in-process --sync runs under this runtime, their CPU is hg's " +
      "own (without its `ip` processes); the rest is the command's wall minus those (output, " +
      "host lock, exit; from separate runs, so only a rough figure):\n",
  );
  console.log(
    markdownTable(
      [
        "N",
        "start-up (--version)",
        "registry read",
        "observe",
        "plan",
        "apply",
        "rest of the command's wall",
        "whole command",
        "raw batch",
      ],
      sumRows,
    ),
  );

  console.log("");
  for (const n of SIZES) {
    const target = TARGET[n];
    const batchWall = med(`batch@${n}`);
    const inProcess = med(`hg@${n}`) / batchWall;
    const cpu = med(`commandCpu@${n}`) / med(`batchCpu@${n}`);
    const wall = med(`commandWall@${n}`) / med(`batchWall@${n}`);
    const verdict = (r: number) => `${r.toFixed(2)}× ${r <= target ? "MET" : "NOT MET"}`;
    console.log(
      `target ${n.toLocaleString("en-US")} routes <= ${target}× the raw batch: ` +
        `in-process ${verdict(inProcess)}; whole command CPU ${verdict(cpu)}, wall ${
          verdict(wall)
        }`,
    );
    if (BASE_BIN) {
      const before = med(`baseCommandCpu@${n}`) / med(`batchCpu@${n}`);
      const beforeWall = med(`baseCommandWall@${n}`) / med(`batchWall@${n}`);
      console.log(
        `  before (HGBENCH_BASE_BIN): whole command CPU ${verdict(before)}, wall ${
          verdict(beforeWall)
        }`,
      );
    }
  }
}

try {
  await withNamespaces([ROUTER, PEER], main);
} finally {
  rmSync(RUN_DIR, { recursive: true, force: true });
}
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
  [ROUTER, PEER].includes(l.split(" ")[0])
);
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
