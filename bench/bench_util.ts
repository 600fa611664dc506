/**
 * Shared pieces of the benchmarks: running programs with a stopwatch, the benchmark's own
 * network namespaces (all named `hgbench-*`) and their cleanup, medians and markdown tables.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Every namespace the benchmarks create starts with this. */
export const NETNS_PREFIX = "hgbench-";

/** What one finished process left behind, with its wall time. */
export interface Timed {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `cmd args` (no shell), optionally feeding `input` on stdin, and times it. */
export function timed(
  cmd: string,
  args: readonly string[],
  input?: string,
  env?: Record<string, string>,
): Timed {
  const t0 = performance.now();
  const r = spawnSync(cmd, [...args], {
    input,
    encoding: "utf8",
    // `ip -j route` of 10,000 routes is over a megabyte, spawnSync's default limit.
    maxBuffer: 256 * 1024 * 1024,
    env: env ? { ...process.env, ...env } : process.env,
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms };
}

/** Runs `cmd args` and throws with its stderr unless it exits 0. */
export function must(
  cmd: string,
  args: readonly string[],
  input?: string,
  env?: Record<string, string>,
): Timed {
  const r = timed(cmd, args, input, env);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`,
    );
  }
  return r;
}

/** The argv that starts a TypeScript file under the runtime running this benchmark. */
export function scriptArgv(file: string): string[] {
  return basename(process.execPath).startsWith("bun")
    ? [process.execPath, file]
    : [process.execPath, "run", "-A", file];
}

/**
 * The hg to time: `HG_BIN`, else the compiled `dist/hg` when it has the subcommand `needs`
 * (one built before it existed cannot be timed: that is said, and the source is used), else hg
 * from source under this runtime (also when `HGBENCH_SOURCE=1`).
 */
export function hgCommand(needs: readonly string[]): { argv: string[]; what: string } {
  if (process.env.HG_BIN) {
    return { argv: [process.env.HG_BIN], what: `HG_BIN=${process.env.HG_BIN}` };
  }
  const compiled = join(ROOT, "dist", "hg");
  const source = scriptArgv(join(ROOT, "cli", "main.ts"));
  if (process.env.HGBENCH_SOURCE === "1" || !existsSync(compiled)) {
    return { argv: source, what: `from source: ${source.join(" ")}` };
  }
  const built = statSync(compiled).mtime.toISOString();
  if (timed(compiled, [...needs, "--help"]).code === 0) {
    return { argv: [compiled], what: `compiled dist/hg (built ${built})` };
  }
  return {
    argv: source,
    what: `from source: ${source.join(" ")} (dist/hg, built ${built}, has no \`${
      needs.join(" ")
    }\`)`,
  };
}

/** The argv prefix that runs a program inside the named namespace `netns`. */
export function inNetns(netns: string, argv: readonly string[]): [string, string[]] {
  return ["nsenter", [`--net=/run/netns/${netns}`, "--", ...argv]];
}

/** Deletes the given namespaces (only `hgbench-*` ones); returns those that could not be deleted. */
export function deleteNamespaces(names: readonly string[]): string[] {
  const failed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(NETNS_PREFIX)) {
      throw new Error(`refusing to delete namespace ${name}: not ours`);
    }
    if (!existsSync(`/run/netns/${name}`)) continue;
    if (timed("ip", ["netns", "del", name]).code !== 0) failed.push(name);
  }
  return failed;
}

let interrupted: string | undefined;

/**
 * Lets a pending SIGINT/SIGTERM be noticed and throws if one arrived. The benchmarks run
 * processes synchronously, so a signal handler only runs at these checkpoints.
 */
export async function checkpoint(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

/**
 * Runs `body` with the namespaces `names` (all `hgbench-*`) free: deletes leftovers of an
 * earlier, killed run first and deletes them all afterwards whatever happened (a signal stops
 * the body at its next {@link checkpoint}; a second one cleans up and exits at once); fails
 * when one is left behind.
 */
export async function withNamespaces(
  names: readonly string[],
  body: () => Promise<void> | void,
): Promise<void> {
  let failed: string[] = [];
  await withCleanup(() => failed = deleteNamespaces(names), async () => {
    const stale = deleteNamespaces(names);
    if (stale.length > 0) {
      throw new Error(`could not delete leftover namespaces: ${stale.join(", ")}`);
    }
    await body();
  });
  if (failed.length > 0) throw new Error(`could not delete namespaces: ${failed.join(", ")}`);
}

/** The median of `values` (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The nearest-rank percentile `p` (0-100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN; // every operation failed: the table says so
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

/** A markdown table with a header row. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** `ms` with one decimal. */
export function fmtMs(ms: number): string {
  return ms.toFixed(1);
}

/** The machine the numbers come from: CPUs, kernel, iproute2 and the runtime. */
export function machineLine(): string {
  const nproc = timed("nproc", []).stdout.trim();
  const kernel = timed("uname", ["-r"]).stdout.trim();
  const ip = timed("ip", ["-V"]).stdout.trim().replace(/^ip utility, /, "");
  const v = process.versions as Record<string, string | undefined>;
  const runtime = v.bun ? `bun ${v.bun}` : v.deno ? `deno ${v.deno}` : `node ${process.version}`;
  return `machine: nproc ${nproc}, kernel ${kernel}, ${ip}, runtime ${runtime}`;
}

/**
 * Two scratch namespaces joined by a veth, both ends named eth0 and up: `a` at 10.0.12.11/22,
 * `b` at 10.0.12.12/22, so 10.0.12.12 (and the rest of the /22) is an on-link gateway for `a`;
 * with `ipv6`, also fd00:12::11/64 and fd00:12::12/64.
 */
export function buildUplinkPair(a: string, b: string, opts: { ipv6?: boolean } = {}): void {
  for (const ns of [a, b]) {
    must("ip", ["netns", "add", ns]);
    // With IPv6, no duplicate address detection, before any link is made: the addresses (and
    // the link-local ones neighbour discovery uses) are usable at once, not "tentative".
    if (opts.ipv6) {
      must("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
      ]);
    }
  }
  must("ip", ["-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b]);
  must("ip", ["-n", a, "addr", "add", "10.0.12.11/22", "dev", "eth0"]);
  must("ip", ["-n", b, "addr", "add", "10.0.12.12/22", "dev", "eth0"]);
  if (opts.ipv6) {
    must("ip", ["-n", a, "addr", "add", "fd00:12::11/64", "dev", "eth0"]);
    must("ip", ["-n", b, "addr", "add", "fd00:12::12/64", "dev", "eth0"]);
  }
  for (const ns of [a, b]) {
    must("ip", ["-n", ns, "link", "set", "lo", "up"]);
    must("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
}

/**
 * Runs `body`, then `cleanup` whatever happened. A SIGINT/SIGTERM stops the body at its next
 * {@link checkpoint} (or {@link sleepChecked}); a second one runs `cleanup` and exits at once.
 * For benchmarks whose resources are not `hgbench-*` namespaces (a named lab, say).
 */
export async function withCleanup(
  cleanup: () => void,
  body: () => Promise<void> | void,
): Promise<void> {
  const onSignal = (signal: string) => {
    if (interrupted) {
      cleanup();
      process.exit(130);
    }
    interrupted = signal;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await body();
  } finally {
    try {
      cleanup();
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}

/** Waits `ms`, noticing a signal at least every 250 ms (see {@link checkpoint}). */
export async function sleepChecked(ms: number): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, left)));
    await checkpoint();
  }
}

/** Clock ticks per second of the `/proc` CPU times (`getconf CLK_TCK`). */
export function clockTicks(): number {
  const hz = Number(timed("getconf", ["CLK_TCK"]).stdout.trim());
  return Number.isFinite(hz) && hz > 0 ? hz : 100;
}

/** One process as `/proc/PID/stat` shows it. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Start time after boot, in clock ticks: with the PID, it names the process. */
  readonly start: number;
  /** utime + stime: CPU ticks of the process itself (all its threads). */
  readonly ownTicks: number;
  /** cutime + cstime: CPU ticks of its children that have exited and been waited for. */
  readonly reapedTicks: number;
}

/** `/proc/PID/stat` of `pid`, or undefined when it is gone. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself hold spaces or parentheses.
  const close = text.lastIndexOf(")");
  const f = text.slice(close + 2).split(" "); // f[0] is field 3 (state)
  return {
    pid,
    ppid: Number(f[1]),
    comm: text.slice(text.indexOf("(") + 1, close),
    start: Number(f[19]),
    ownTicks: Number(f[11]) + Number(f[12]),
    reapedTicks: Number(f[13]) + Number(f[14]),
  };
}

/** Every process on the machine now, by PID. */
export function allProcesses(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat) all.set(stat.pid, stat);
  }
  return all;
}

/** The live descendants of `pid` (children, their children, ...) in `all`. */
export function descendants(all: ReadonlyMap<number, ProcStat>, pid: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of all.values()) {
    children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  }
  const found: ProcStat[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/**
 * The CPU ticks process `pid` and its children have used so far: its own, those of its exited
 * children (cutime/cstime), and those of its live descendants (theirs and their exited
 * children's). The difference of two samples is the tree's CPU in between, whether a child ran
 * all along (an `ip monitor`), started, or started and exited in between.
 */
export function treeTicks(all: ReadonlyMap<number, ProcStat>, pid: number): number | undefined {
  const self = all.get(pid);
  if (!self) return undefined;
  return [self, ...descendants(all, pid)].reduce((sum, p) => sum + p.ownTicks + p.reapedTicks, 0);
}

/** Kilobytes of `field` (VmRSS, VmHWM) in `/proc/PID/status`; NaN when the process is gone. */
export function statusKb(pid: number, field: string): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n")
      .find((l) => l.startsWith(`${field}:`));
    return Number(line?.split(/\s+/)[1]);
  } catch {
    return NaN;
  }
}

/** CPU jiffies of the whole machine from `/proc/stat`: all of them, and the busy ones. */
export function machineJiffies(): { total: number; busy: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1)
    .map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // without guest time, in user
  return { total, busy: total - cpu[3] - cpu[4] }; // minus idle and iowait
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text format (`name{label="v",...} value`), skipping comments. */
export function parsePrometheus(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of metric `name` per value of its label `by` (over all its other labels). */
export function sumByLabel(
  samples: readonly MetricSample[],
  name: string,
  by: string,
): Map<string, number> {
  const sums = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name || s.labels[by] === undefined) continue;
    sums.set(s.labels[by], (sums.get(s.labels[by]) ?? 0) + s.value);
  }
  return sums;
}

/** CPU and wall of one finished command (see {@link cpuTimed}). */
export interface CpuCost {
  readonly code: number;
  /** User + system time of the command and of every process it started and waited for. */
  readonly cpuMs: number;
  readonly wallMs: number;
  /** What it wrote on stderr (its stdout is discarded). */
  readonly stderr: string;
}

/**
 * Runs `argv` under bash's `time`, feeding `input`, with its standard output discarded (as a
 * user's terminal would take it, without the benchmark keeping it): CPU is user+sys of the
 * command and its waited-for children (an `hg` and the `ip` processes it starts), in ms.
 */
export function cpuTimed(
  argv: readonly string[],
  input?: string,
  env?: Record<string, string>,
): CpuCost {
  const r = timed(
    "bash",
    ["-c", 'TIMEFORMAT="@@cpu %3U %3S %3R"; { time "$@" >/dev/null; } 2>&1', "bash", ...argv],
    input,
    env,
  );
  const lines = r.stdout.split("\n");
  const at = lines.findLastIndex((l) => l.startsWith("@@cpu "));
  if (at < 0) throw new Error(`${argv.join(" ")}: no time report (${r.stdout.slice(0, 500)})`);
  const [user, sys, real] = lines[at].split(" ").slice(1).map(Number);
  return {
    code: r.code,
    cpuMs: (user + sys) * 1000,
    wallMs: real * 1000,
    stderr: lines.filter((_, i) => i !== at).join("\n").trim(),
  };
}

/** Like {@link cpuTimed}, and throws with its stderr unless it exits 0. */
export function mustCpu(
  argv: readonly string[],
  input?: string,
  env?: Record<string, string>,
): CpuCost {
  const r = cpuTimed(argv, input, env);
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  }
  return r;
}

/**
 * `bun`'s arguments for the release build of `entry` into `out`: deno.json's `compile` task
 * with its entry and output replaced, so every benchmark times the binary that ships (and the
 * floors it compiles are built the same way).
 *
 * @example
 * ```ts
 * const args = releaseBuildArgs("cli/main.ts", "/tmp/hg");
 * console.log(args.at(-1)); // "/tmp/hg"
 * ```
 */
export function releaseBuildArgs(entry: string, out: string): string[] {
  const tasks = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).tasks;
  const words = String(tasks?.compile ?? "").split(/\s+/);
  const at = (word: string) => {
    const i = words.indexOf(word);
    if (words[0] !== "bun" || i < 0) {
      throw new Error(`deno.json's compile task is not "bun build … ${word} …": ${tasks?.compile}`);
    }
    return i;
  };
  const args = words.slice(1);
  args[at("cli/main.ts") - 1] = entry;
  args[at("dist/hg") - 1] = out;
  return args;
}

/** Builds `entry` into `out` as the release is built ({@link releaseBuildArgs}), from `cwd`. */
export function compileRelease(entry: string, out: string, cwd: string = ROOT): string[] {
  const args = releaseBuildArgs(entry, out);
  const r = spawnSync("bun", args, { cwd, encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`bun ${args.join(" ")}: ${(r.stderr || r.stdout).trim()}`);
  return args;
}
