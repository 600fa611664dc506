/**
 * Route installation benchmark: N = 1,000 and 10,000 peer routes (the first N /24s of
 * 100.64.0.0/10 via 10.0.12.12, proto 104) installed three ways in a scratch namespace:
 * hg's observe + reconcile + apply, one `ip route add` process per route, and one raw
 * `ip -batch`. Prints markdown tables of medians and whether hg is within 2× of the raw batch
 * for 1,000 routes.
 *
 * Run as root: `deno run -A bench/routes_bench.ts` (or `bun bench/routes_bench.ts`).
 * Everything happens in the namespaces `hgbench-r` and `hgbench-p`, deleted at the end.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import { formatPrefix } from "../lib/net/mod.ts";
import {
  buildUplinkPair,
  checkpoint,
  fmtMs,
  inNetns,
  machineLine,
  markdownTable,
  median,
  must,
  ROOT,
  scriptArgv,
  timed,
  withNamespaces,
} from "./bench_util.ts";
import { benchRequests, type InstallResult, PEER_GATEWAY } from "./hg_install_routes.ts";

const ROUTER = "hgbench-r";
const PEER = "hgbench-p";
const SIZES = [1_000, 10_000] as const;
/** Repetitions per measurement; `HGBENCH_REPS` lowers it for a quick try. */
const REPS = Number(process.env.HGBENCH_REPS ?? 5);
if (!Number.isInteger(REPS) || REPS < 1) {
  throw new Error(`HGBENCH_REPS must be a whole number >= 1`);
}
/** One `ip` process per route costs ~3 ms, so 10,000 routes take half a minute a run: fewer runs. */
const PER_PROCESS_REPS_10K = Math.min(REPS, 3);
const HELPER = join(ROOT, "bench", "hg_install_routes.ts");

type Way = "hg" | "hgWall" | "hgRerun" | "hgRerunWall" | "perProcess" | "batch";

const LABELS: Record<Way, string> = {
  hg: "hg (observe+plan+apply)",
  hgWall: "hg process wall (runtime start-up + observe+plan+apply)",
  hgRerun: "hg re-run, 0 steps planned (observe+plan)",
  hgRerunWall: "hg re-run process wall",
  perProcess: "`ip route add`, one process per route",
  batch: "raw `ip -batch -` (one process)",
};

/** The `ip` arguments the two non-hg ways install a route with. */
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

/** Runs the hg helper inside the router namespace; returns its own report and the process wall time. */
function runHg(n: number): { result: InstallResult; wallMs: number } {
  const [cmd, args] = inNetns(ROUTER, [...scriptArgv(HELPER), String(n)]);
  const r = must(cmd, args);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  return { result: JSON.parse(last) as InstallResult, wallMs: r.ms };
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`hg helper: ${scriptArgv(HELPER).join(" ")} N (inside ${ROUTER} via nsenter)`);
  console.log(
    `repetitions: ${REPS} per measurement (${PER_PROCESS_REPS_10K} for one process per route at 10,000), medians reported\n`,
  );
  buildUplinkPair(ROUTER, PEER);

  const samples = new Map<string, number[]>();
  const phases = new Map<string, number[]>();
  const add = (map: Map<string, number[]>, key: string, v: number) =>
    map.set(key, [...(map.get(key) ?? []), v]);

  // Warm the runtime's module cache so the first measured hg run does not pay for transpiling.
  runHg(10);
  flush();

  for (const n of SIZES) {
    const requests = benchRequests(n);
    const dsts = requests.map((r) => formatPrefix(r.subnet));
    const lines = dsts.map((d) => addArgs(d).join(" "));
    const ways: Record<"hg" | "perProcess" | "batch", () => void> = {
      hg: () => {
        const first = runHg(n);
        if (first.result.planned !== n) {
          throw new Error(`hg planned ${first.result.planned} steps for ${n} routes`);
        }
        verify(dsts, "hg");
        add(samples, `hg@${n}`, first.result.ms);
        add(samples, `hgWall@${n}`, first.wallMs);
        add(phases, `observe@${n}`, first.result.observeMs);
        add(phases, `reconcile@${n}`, first.result.reconcileMs);
        add(phases, `apply@${n}`, first.result.applyMs);
        const again = runHg(n);
        if (again.result.planned !== 0 || again.result.unchanged !== n) {
          throw new Error(
            `hg re-run planned ${again.result.planned} steps (${again.result.unchanged} unchanged), expected 0`,
          );
        }
        verify(dsts, "hg re-run");
        add(samples, `hgRerun@${n}`, again.result.ms);
        add(samples, `hgRerunWall@${n}`, again.wallMs);
        add(phases, `rerunObserve@${n}`, again.result.observeMs);
        add(phases, `rerunReconcile@${n}`, again.result.reconcileMs);
      },
      perProcess: () => {
        const t0 = performance.now();
        for (const d of dsts) must("ip", ["-n", ROUTER, ...addArgs(d)]);
        add(samples, `perProcess@${n}`, performance.now() - t0);
        verify(dsts, "ip per route");
      },
      batch: () => {
        const r = must("ip", ["-n", ROUTER, "-batch", "-"], lines.join("\n") + "\n");
        add(samples, `batch@${n}`, r.ms);
        verify(dsts, "ip -batch");
      },
    };
    const order = ["hg", "batch", "perProcess"] as const;
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

  const rows: string[][] = [];
  for (const n of SIZES) {
    const base = median(samples.get(`batch@${n}`)!);
    for (const way of ["hg", "hgWall", "hgRerun", "hgRerunWall", "perProcess", "batch"] as Way[]) {
      const m = median(samples.get(`${way}@${n}`)!);
      const runs = String(samples.get(`${way}@${n}`)!.length);
      rows.push([
        LABELS[way],
        n.toLocaleString("en-US"),
        runs,
        fmtMs(m),
        `${(m / base).toFixed(2)}×`,
      ]);
    }
  }
  console.log("\n" + markdownTable(["way", "N", "runs", "median ms", "vs raw batch"], rows));

  const phaseRows = SIZES.map((n) => [
    n.toLocaleString("en-US"),
    ...["observe", "reconcile", "apply", "rerunObserve", "rerunReconcile"].map((p) =>
      fmtMs(median(phases.get(`${p}@${n}`)!))
    ),
  ]);
  console.log(
    "\nhg phases (median ms):\n\n" +
      markdownTable(
        ["N", "observe", "reconcile", "apply", "re-run observe", "re-run reconcile"],
        phaseRows,
      ),
  );

  const hg = median(samples.get("hg@1000")!);
  const wall = median(samples.get("hgWall@1000")!);
  const batch = median(samples.get("batch@1000")!);
  const ratio = hg / batch;
  console.log(
    `\ntarget "hg within 2× of the raw batch for 1,000 routes": ${
      ratio <= 2 ? "MET" : "NOT MET"
    } ` +
      `(hg observe+plan+apply ${fmtMs(hg)} ms = ${ratio.toFixed(2)}× raw batch ${
        fmtMs(batch)
      } ms; ` +
      `with runtime start-up the hg process takes ${fmtMs(wall)} ms = ${
        (wall / batch).toFixed(2)
      }×)`,
  );
}

await withNamespaces([ROUTER, PEER], main);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
  l.startsWith("hgbench-")
);
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
