/**
 * Lab benchmark (issue 15's last target): `hg lab up --nodes N` (no registry: each host runs
 * `hg setup`, `hg netns add` and its peer routes, then the lab reads every host's status and
 * pings its check's pairs) at 10, 25 and 50 hosts: wall and CPU time (user + sys of hg and every
 * process it waited for, from bash's `time`), both per host, the hg processes it ran and the
 * pings, to show the time growing linearly with the hosts and 50 hosts under 60 s. Each run is
 * checked (exit 0, every sampled pair answers) and followed by a timed `hg lab down`.
 *
 * hg is the release build of this tree (deno.json's compile task, into a temp
 * dir), or `HG_BIN`. `HGBENCH_BASELINE_BIN` adds another build (say one of an older commit),
 * timed in the same runs at `HGBENCH_BASELINE_NODES` (default 10,25: the old lab ran one
 * `hg peer add` per pair of hosts, 50 hosts took minutes). Sizes alternate within each of
 * `HGBENCH_REPS` rounds (default 3); medians. `HGBENCH_NODES` (default 10,25,50) sets the sizes.
 * The lab is named `HGBENCH_LAB` (default `hgbenchlab`: namespaces `hgbenchlab-*`); a lab of
 * that name left by an earlier run is taken down first, and at the end.
 *
 * Run as root: `deno run -A bench/lab_bench.ts` (or `bun bench/lab_bench.ts`).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  checkpoint,
  compileRelease,
  machineLine,
  markdownTable,
  median,
  timed,
  withCleanup,
} from "./bench_util.ts";

const LAB = process.env.HGBENCH_LAB ?? "hgbenchlab";
const REPS = Number(process.env.HGBENCH_REPS ?? 3);
if (!Number.isInteger(REPS) || REPS < 1) {
  throw new Error("HGBENCH_REPS must be a whole number >= 1");
}

/** A list of host counts from `text` ("10,25,50"). */
function sizes(text: string, what: string): number[] {
  const list = text.split(",").map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 50)) {
    throw new Error(`${what} must be host counts 1-50, comma separated: ${text}`);
  }
  return list;
}
const NODES = sizes(process.env.HGBENCH_NODES ?? "10,25,50", "HGBENCH_NODES");
const BASELINE_NODES = sizes(
  process.env.HGBENCH_BASELINE_NODES ?? "10,25",
  "HGBENCH_BASELINE_NODES",
);

/** What the issue asks: 50 hosts in less than this. */
const TARGET_S = 60;

interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
  /** hg commands the lab ran in its hosts (its progress lines), and its status reads. */
  readonly hgRuns: number;
  readonly pings: number;
  readonly downMs: number;
}

const work = mkdtempSync(join(tmpdir(), "hgbench-lab-"));

/** Runs `argv` under bash's `time`: wall and CPU ms, its exit code, stdout and stderr. */
function timeIt(argv: readonly string[]) {
  const out = join(work, "out");
  const err = join(work, "err");
  const script = `{ time "$@" >"$HGLB_OUT" 2>"$HGLB_ERR"; } 2>&1; echo "rc=$?"`;
  const r = spawnSync("bash", ["-c", script, "bash", ...argv], {
    encoding: "utf8",
    env: { ...process.env, TIMEFORMAT: "%3R %3U %3S", HGLB_OUT: out, HGLB_ERR: err },
  });
  const m = /^([\d.]+) ([\d.]+) ([\d.]+)\nrc=(\d+)\s*$/.exec(r.stdout);
  if (!m) throw new Error(`${argv.join(" ")}: ${r.stdout}${r.stderr}`);
  return {
    wallMs: Number(m[1]) * 1000,
    cpuMs: (Number(m[2]) + Number(m[3])) * 1000,
    code: Number(m[4]),
    stdout: readFileSync(out, "utf8"),
    stderr: readFileSync(err, "utf8"),
  };
}

/** Takes the bench's lab down if it is there (a missing lab is exit 2: fine). */
function labDown(hg: string): number {
  const r = timeIt([hg, "lab", "down", "--name", LAB]);
  if (r.code !== 0 && r.code !== 2) throw new Error(`lab down: ${r.stderr.trim()}`);
  return r.wallMs;
}

/** One `lab up --nodes n` (checked), then its `lab down`. */
function labUp(hg: string, n: number): Sample {
  labDown(hg);
  // Exit 0: every sampled pair answered (a pair that does not fails lab up).
  const r = timeIt([hg, "lab", "up", "--nodes", String(n), "--name", LAB]);
  if (r.code !== 0) throw new Error(`lab up --nodes ${n} exited ${r.code}: ${r.stderr.trim()}`);
  // The ping table's rows on stdout; on stderr one progress line "HOST: hg ARGS" per hg run in
  // a host, then the lab reads each host's status with one more.
  const pings = r.stdout.split("\n").filter((l) => / ok [\d.?]+ ms$/.test(l)).length;
  const hgRuns = r.stderr.split("\n").filter((l) => new RegExp(`^${LAB}-h\\d+: hg `).test(l))
    .length + n;
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, hgRuns, pings, downMs: labDown(hg) };
}

/** The release build of this tree (deno.json's compile task) into the work dir. */
function compile(): string {
  const out = join(work, "hg");
  compileRelease("cli/main.ts", out);
  return out;
}

const s = (ms: number) => (ms / 1000).toFixed(1);

async function main(): Promise<void> {
  const hg = process.env.HG_BIN ?? compile();
  const baseline = process.env.HGBENCH_BASELINE_BIN;
  if (timed(hg, ["lab", "up", "--help"]).code !== 0) throw new Error(`${hg} has no lab up`);
  const ways = [
    ...NODES.map((n) => ({ label: "this tree", hg, n })),
    ...(baseline ? BASELINE_NODES.map((n) => ({ label: "baseline", hg: baseline, n })) : []),
  ];
  const samples = new Map(ways.map((w) => [w, [] as Sample[]]));
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < ways.length; k++) {
      const way = ways[(rep + k) % ways.length];
      samples.get(way)!.push(labUp(way.hg, way.n));
      await checkpoint();
    }
  }
  const smallest = Math.min(...NODES);
  const perHost = (w: (typeof ways)[number]) => median(samples.get(w)!.map((x) => x.wallMs)) / w.n;
  const base = ways.find((w) => w.label === "this tree" && w.n === smallest)!;
  const rows = ways.map((w) => {
    const x = samples.get(w)!;
    const wall = median(x.map((v) => v.wallMs));
    const cpu = median(x.map((v) => v.cpuMs));
    return [
      w.label,
      String(w.n),
      String(x.length),
      s(wall),
      s(cpu),
      String(Math.round(wall / w.n)),
      String(Math.round(cpu / w.n)),
      `${(perHost(w) / perHost(base)).toFixed(2)}×`,
      String(median(x.map((v) => v.hgRuns))),
      String(median(x.map((v) => v.pings))),
      s(median(x.map((v) => v.downMs))),
      w.n === 50 ? (wall / 1000 < TARGET_S ? "met" : "NOT MET") : "",
    ];
  });
  console.log(machineLine());
  console.log(
    `hg: ${process.env.HG_BIN ? `HG_BIN=${hg}` : "release build of this tree"}${
      baseline ? `; baseline: ${baseline}` : ""
    }; lab ${LAB}; ${REPS} rounds, sizes alternating, medians; CPU = user + sys of lab up and ` +
      `every process it waited for (bash's time)\n`,
  );
  console.log(markdownTable(
    [
      "hg",
      "hosts",
      "runs",
      "lab up wall s",
      "CPU s",
      "wall ms/host",
      "CPU ms/host",
      `wall/host vs ${smallest} hosts`,
      "hg runs",
      "pings",
      "lab down s",
      `50 hosts < ${TARGET_S} s`,
    ],
    rows,
  ));
}

try {
  await withCleanup(() => {
    const hg = process.env.HG_BIN ?? join(work, "hg");
    spawnSync(hg, ["lab", "down", "--name", LAB], { stdio: "ignore" });
  }, main);
} finally {
  rmSync(work, { recursive: true, force: true });
}
