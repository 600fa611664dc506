/**
 * Idle agents benchmark: what `hg agent` costs when nothing changes. For each lab size N
 * (`--hosts`, default 10,50), `hg lab up --nodes N --agent --name bidleN` builds N hosts with an
 * agent each against the lab's etcd; once every host routes to every other and a settling pause
 * has passed, nothing is changed for `--window` seconds (default 60: whole periods of today's agent's
 * 5 s re-list and 20 s renewal), and the benchmark reads:
 *
 * - each agent's CPU over the window, as % of one core: utime+stime of the agent, of its live
 *   descendants (an `ip monitor` it keeps, say) and of its exited children (cutime+cstime), from
 *   `/proc/PID/stat`; median and max over the hosts. The agents' PIDs come from the lab's pid
 *   files (`<run dir>/lab-NAME/HOST.agent.pid`);
 * - each agent's VmRSS at the end of the window (`/proc/PID/status`), median and max;
 * - the registry's requests: etcd's `grpc_server_handled_total` per method, scraped from
 *   `http://10.0.12.2:2379/metrics` inside the underlay namespace before and after the window,
 *   as requests per second per host. Before the labs, a throwaway etcd is sent a known number of
 *   requests of each method through the JSON gateway (the way hg talks to etcd) and each counter
 *   must move by exactly that number;
 * - `hg netns add` / `hg netns del` on host 1, whose agent runs, against the same commands on the
 *   last host, whose agent the benchmark stops (SIGTERM: with --release-on-exit the host gives
 *   its lease back and drops its routes; its bridge stays), interleaved; then the same again
 *   under `strace -e trace=openat`, which shows how long each command waited for the host lock
 *   (its first `O_EXCL` attempt on `host-*.lock` to the one that succeeded).
 *
 * Usage, as root from the repository root:
 *   deno run -A bench/agent_idle_bench.ts [--hosts 10,50] [--window 60] [--settle 10]
 *     [--adds 30] [--no-strace]
 * (or `bun bench/agent_idle_bench.ts ...`). hg is `HG_BIN`, else the compiled `dist/hg`, else hg
 * from source. The labs are named `bidleN` and taken down at the end, also on failure (the run
 * fails if a namespace, agent or etcd of theirs is left); a lab of that name left by a killed run
 * is taken down first. `hg lab up` failing is reported, and whatever lab it left is measured if
 * every host routes to every other. Output: markdown tables on stdout, progress on stderr.
 *
 * Leases mode, one agent and many leases, before and after a change of the agent in one run:
 *   HG_BASE_BIN=OLD HG_BIN=NEW [HG_AGENT_ONLY_BIN=MID] deno run -A bench/agent_idle_bench.ts \
 *     --leases 100,1000,5000 [--window 60] [--settle 5] [--events 20]
 * One host namespace (`hgbench-agi-h`) and etcd in `hgbench-agi-ul`, holding N leases of peers
 * (routes via on-link addresses, nothing answers them); for each N each binary's agent is started
 * in turn (which first turns with N) and converges, then over an idle window: the CPU of the
 * agent and its children (ms per second) and the `ip`/`iptables` processes it started (counted
 * by wrappers on its PATH that log and exec the real program); then `--events` registry changes
 * (a peer's lease put, then deleted), each timed until its route is in or gone: CPU and processes
 * per change.
 *
 * @module
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { startEtcd } from "../tests/support/etcd.ts";
import {
  allProcesses,
  buildUplinkPair,
  checkpoint,
  clockTicks,
  descendants,
  fmtMs,
  hgCommand,
  inNetns,
  machineJiffies,
  machineLine,
  markdownTable,
  median,
  must,
  parsePrometheus,
  percentile,
  procStat,
  scriptArgv,
  sleepChecked,
  statusKb,
  sumByLabel,
  type Timed,
  timed,
  treeTicks,
  withCleanup,
  withNamespaces,
} from "./bench_util.ts";

const SELF = fileURLToPath(import.meta.url);
/** The issue's target for an idle agent, % of one core. */
const CPU_TARGET = 0.5;
/** Per-host registry reads at the largest lab within this factor of the smallest: "linear". */
const LINEAR_SLACK = 1.25;

interface Options {
  readonly hosts: number[];
  readonly windowS: number;
  readonly settleS: number;
  readonly adds: number;
  readonly strace: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
  const hosts = value("--hosts", "10,50").split(",").map(Number);
  const options = {
    hosts,
    windowS: Number(value("--window", "60")),
    settleS: Number(value("--settle", "10")),
    adds: Number(value("--adds", "30")),
    strace: !argv.includes("--no-strace"),
  };
  if (
    hosts.some((n) => !Number.isInteger(n) || n < 2) || !(options.windowS > 0) ||
    !(options.settleS >= 0) || !(Number.isInteger(options.adds) && options.adds > 0)
  ) {
    throw new Error(`bad arguments: ${argv.join(" ")}`);
  }
  return options;
}

const runDir = () => process.env.HG_RUN_DIR ?? "/run/hg";
const labDir = (lab: string) => join(runDir(), `lab-${lab}`);
const hostNames = (lab: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${lab}-h${i + 1}`);

/** The registry.json a lab with etcd writes: its URL and etcd's PIDs. */
function labRegistry(lab: string): { url: string; etcdPids: number[] } {
  const r = JSON.parse(readFileSync(join(labDir(lab), "registry.json"), "utf8"));
  return { url: r.url, etcdPids: r.etcdPids ?? [] };
}

function agentPid(lab: string, host: string): number | undefined {
  const file = join(labDir(lab), `${host}.agent.pid`);
  const pid = existsSync(file) ? Number(readFileSync(file, "utf8")) : NaN;
  return Number.isInteger(pid) && pid > 0 && procStat(pid) ? pid : undefined;
}

/** `--scrape URL` mode (run inside the underlay namespace): prints the page. */
async function scrapeMode(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
  process.stdout.write(text);
}

/** etcd's metrics of the lab, fetched inside its underlay namespace; `at` when they arrived. */
function scrapeLab(lab: string, url: string): { at: number; handled: Map<string, number> } {
  const [cmd, args] = inNetns(`${lab}-ul`, [...scriptArgv(SELF), "--scrape", url]);
  const r = timed(cmd, args);
  const at = performance.now();
  if (r.code !== 0) throw new Error(`scraping ${url} failed: ${r.stderr.trim().slice(0, 500)}`);
  return { at, handled: handledByMethod(r.stdout) };
}

/** Requests etcd finished per gRPC method (all codes), plus the watch streams it opened. */
function handledByMethod(text: string): Map<string, number> {
  const samples = parsePrometheus(text);
  const handled = sumByLabel(samples, "grpc_server_handled_total", "grpc_method");
  const started = sumByLabel(samples, "grpc_server_started_total", "grpc_method");
  // A watch is one long stream: count it when it opens (it is "handled" only when it closes).
  handled.set("Watch (streams opened)", started.get("Watch") ?? 0);
  handled.delete("Watch");
  return handled;
}

// ---------------------------------------------------------------------------------------------
// The known-request check

interface CheckRow {
  readonly method: string;
  readonly sent: number;
  readonly moved: number;
}

/**
 * Sends `count` requests of each kind hg makes through the JSON gateway of a throwaway etcd and
 * returns how far each method's counter moved (two scrapes of /metrics and one /health between
 * them must move nothing).
 */
async function knownRequestCheck(count: number): Promise<CheckRow[]> {
  const etcd = await startEtcd();
  try {
    const base = etcd.endpoints[0];
    const b64 = (s: string) => btoa(s);
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body) });
      const json = await r.json();
      if (!r.ok || json.error) throw new Error(`${path}: ${JSON.stringify(json)}`);
      return json;
    };
    const metrics = async () => handledByMethod(await (await fetch(`${base}/metrics`)).text());
    const before = await metrics();
    await (await fetch(`${base}/health`)).text();
    await metrics();
    const key = (i: number) => ({ key: b64(`/hgbench-idle/${i}`) });
    const leases: string[] = [];
    for (let i = 0; i < count; i++) leases.push((await post("/v3/lease/grant", { TTL: "60" })).ID);
    for (const ID of leases) await post("/v3/lease/keepalive", { ID });
    for (const ID of leases) await post("/v3/lease/timetolive", { ID });
    for (let i = 0; i < count; i++) {
      await post("/v3/kv/put", { ...key(i), value: b64("v"), lease: leases[i] });
    }
    for (let i = 0; i < count; i++) await post("/v3/kv/range", key(i));
    for (let i = 0; i < count; i++) {
      await post("/v3/kv/txn", {
        compare: [{ ...key(i), target: "VERSION", result: "GREATER", version: "0" }],
        success: [{ request_put: { ...key(i), value: b64("w") } }],
      });
    }
    for (let i = 0; i < count; i++) await post("/v3/kv/deleterange", key(i));
    for (const ID of leases) await post("/v3/lease/revoke", { ID });
    const after = await metrics();
    const sent: Record<string, number> = {
      LeaseGrant: count,
      LeaseKeepAlive: count,
      LeaseTimeToLive: count,
      Put: count,
      Range: count,
      Txn: count,
      DeleteRange: count,
      LeaseRevoke: count,
    };
    const methods = new Set([...Object.keys(sent), ...after.keys()]);
    return [...methods].map((method) => ({
      method,
      sent: sent[method] ?? 0,
      moved: (after.get(method) ?? 0) - (before.get(method) ?? 0),
    }));
  } finally {
    await etcd.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// One lab

interface AgentWindow {
  readonly host: string;
  readonly cpuPct: number;
  /** The part of cpuPct spent in child processes (the `ip` processes it runs, exited or not). */
  readonly childCpuPct: number;
  readonly rssKb: number;
  /** Descendants alive at both ends of the window (long-running children), by name. */
  readonly children: string[];
  readonly childrenRssKb: number;
  /** Lines the agent logged during the window, by level. */
  readonly logLines: Record<string, number>;
}

interface LatencySet {
  readonly add: number[];
  readonly del: number[];
  readonly failed: number;
  /** Per add under strace: ms from the first attempt at the host lock to getting it. */
  readonly lockWaitMs: number[];
  /** Per add under strace: how many attempts it took (1: the lock was free). */
  readonly lockAttempts: number[];
}

interface LabResult {
  readonly hosts: number;
  readonly lab: string;
  readonly upMs: number;
  readonly upError?: string;
  readonly error?: string;
  readonly convergedMs?: number;
  /** Containers that got an answer from the next host's (see {@link ringPing}). */
  readonly pinged?: number;
  readonly windowS?: number;
  readonly agents?: AgentWindow[];
  readonly agentsLost?: string[];
  readonly etcdCpuPct?: number;
  readonly machineBusyPct?: number;
  readonly perHostPerS?: Map<string, number>;
  readonly logSamples?: string[];
  /** From SIGTERM to the stopped host's agent until no other host routes to it. */
  readonly leaveMs?: number;
  /** What the stopped agent logged from SIGTERM on. */
  readonly stopLogLines?: string[];
  readonly running?: LatencySet & { host: string };
  readonly stopped?: LatencySet & { host: string };
  readonly straceRunning?: LatencySet;
  readonly straceStopped?: LatencySet;
}

/** hg routes (proto 104) on each host. */
function hgRouteCounts(hosts: readonly string[]): number[] {
  return hosts.map((h) => {
    const r = timed("ip", ["-n", h, "-j", "route", "show", "proto", "104"]);
    return r.code === 0 ? (JSON.parse(r.stdout || "[]") as unknown[]).length : -1;
  });
}

/**
 * The data path, cheaply: each host's container `HOST-c1` pings the next host's (one ping each,
 * one after another). Returns how many of the n got an answer.
 */
function ringPing(hosts: readonly string[]): number {
  const address = (h: string) => {
    const r = timed("ip", ["-n", `${h}-c1`, "-j", "-4", "addr", "show", "dev", "eth0"]);
    return r.code === 0 ? JSON.parse(r.stdout)[0]?.addr_info?.[0]?.local : undefined;
  };
  const addresses = hosts.map(address);
  return hosts.filter((h, i) => {
    const to = addresses[(i + 1) % hosts.length];
    if (to === undefined) return false;
    const [cmd, args] = inNetns(`${h}-c1`, ["ping", "-n", "-c", "1", "-W", "2", to]);
    return timed(cmd, args).code === 0;
  }).length;
}

/** Bytes of each agent log now (what was logged after this is the window's). */
const logSize = (lab: string, host: string) => {
  const file = join(labDir(lab), `${host}.agent.log`);
  return existsSync(file) ? statSync(file).size : 0;
};

function logSince(lab: string, host: string, offset: number): string[] {
  const file = join(labDir(lab), `${host}.agent.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file).subarray(offset).toString("utf8").split("\n").filter((l) => l);
}

/** The log line without its time stamp and with numbers blurred, to count alike lines. */
const logShape = (line: string) =>
  line.replace(/^\S+\s+/, "").replace(/\d+(\.\d+)*(\/\d+)?/g, "#").slice(0, 160);

/** Runs `hg ARGS` inside `netns` (optionally under strace); its time and the strace file. */
function hgIn(
  hg: readonly string[],
  netns: string,
  args: readonly string[],
  straceFile?: string,
): Timed {
  const [cmd, nsArgs] = inNetns(netns, [...hg, ...args]);
  if (!straceFile) return timed(cmd, nsArgs);
  return timed("strace", [
    "-f",
    "--seccomp-bpf",
    "-ttt",
    "-e",
    "trace=openat",
    "-o",
    straceFile,
    cmd,
    ...nsArgs,
  ]);
}

/**
 * How long the traced command waited for the host lock: from its first `O_EXCL` open of a
 * `host-*.lock` to the one that succeeded (ms), and how many attempts it made.
 */
function lockWait(trace: string): { waitMs: number; attempts: number } | undefined {
  const pending = new Map<string, number>(); // pid → time of an unfinished attempt
  let first: number | undefined;
  let attempts = 0;
  for (const line of trace.split("\n")) {
    const m = /^(\d+)\s+([\d.]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, time, rest] = m;
    let start: number | undefined;
    let result: string | undefined;
    if (/^openat\(.*host-\d+\.lock".*O_EXCL/.test(rest)) {
      start = Number(time);
      if (rest.includes("<unfinished")) pending.set(pid, start);
      else result = rest.slice(rest.lastIndexOf("=") + 1).trim();
    } else if (rest.startsWith("<... openat resumed>") && pending.has(pid)) {
      start = pending.get(pid)!;
      pending.delete(pid);
      result = rest.slice(rest.lastIndexOf("=") + 1).trim();
    }
    if (start === undefined || result === undefined) continue;
    first ??= start;
    attempts++;
    if (!result.startsWith("-1")) return { waitMs: (start - first) * 1000, attempts };
  }
  return undefined;
}

/**
 * `rounds` × (add + del) on each of the two hosts, interleaved (which host goes first alternates),
 * each host keeping at most one extra container at a time. Container names end in `-cK` so that
 * `hg lab down` removes them whatever happens.
 */
function netnsRounds(
  hg: readonly string[],
  hosts: readonly [string, string],
  rounds: number,
  firstIndex: number,
  strace: boolean,
  tmp: string,
): [LatencySet, LatencySet] {
  const sets = hosts.map(() => ({
    add: [] as number[],
    del: [] as number[],
    failed: 0,
    lockWaitMs: [] as number[],
    lockAttempts: [] as number[],
  }));
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    const name = (h: number) => `${hosts[h]}-c${firstIndex + i}`;
    for (const h of order) {
      const trace = strace ? join(tmp, `add-${h}-${i}.trace`) : undefined;
      const r = hgIn(hg, hosts[h], ["netns", "add", name(h)], trace);
      if (r.code !== 0) {
        sets[h].failed++;
        console.error(`${hosts[h]}: netns add ${name(h)} failed: ${r.stderr.trim()}`);
        continue;
      }
      sets[h].add.push(r.ms);
      if (trace) {
        const w = lockWait(readFileSync(trace, "utf8"));
        if (w) {
          sets[h].lockWaitMs.push(w.waitMs);
          sets[h].lockAttempts.push(w.attempts);
        }
      }
    }
    for (const h of order) {
      const r = hgIn(hg, hosts[h], ["netns", "del", name(h)]);
      if (r.code !== 0) {
        sets[h].failed++;
        console.error(`${hosts[h]}: netns del ${name(h)} failed: ${r.stderr.trim()}`);
      } else sets[h].del.push(r.ms);
    }
  }
  return [sets[0], sets[1]];
}

/** Waits until every host has an hg route to each of the other n-1 (up to `ms`). */
async function waitConverged(hosts: readonly string[], ms: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (hgRouteCounts(hosts).every((c) => c === hosts.length - 1)) return performance.now() - t0;
    await sleepChecked(500);
  }
  return undefined;
}

async function measureLab(
  n: number,
  hg: readonly string[],
  options: Options,
  tmp: string,
): Promise<LabResult> {
  const lab = `bidle${n}`;
  const hosts = hostNames(lab, n);
  const [cmd, ...rest] = hg;
  console.error(`${lab}: hg lab up --nodes ${n} --agent --name ${lab}`);
  const up = timed(cmd, [...rest, "lab", "up", "--nodes", String(n), "--agent", "--name", lab]);
  const base = { hosts: n, lab, upMs: up.ms };
  const upError = up.code === 0
    ? undefined
    : `exit ${up.code}: ${
      up.stderr.trim().split("\n").filter((l) => l.startsWith("hg:")).pop() ??
        up.stderr.trim().split("\n").pop()
    }`;
  if (upError) console.error(`${lab}: lab up failed (${upError}); measuring what is there`);
  await checkpoint();
  if (!existsSync(join(labDir(lab), "registry.json"))) {
    return { ...base, upError, error: "the lab has no registry: nothing to measure" };
  }
  const pids = new Map(hosts.map((h) => [h, agentPid(lab, h)]));
  const missing = hosts.filter((h) => pids.get(h) === undefined);
  if (missing.length > 0) {
    return { ...base, upError, error: `no running agent on ${missing.join(", ")}` };
  }
  const convergedMs = await waitConverged(hosts, 120_000);
  if (convergedMs === undefined) {
    const counts = hgRouteCounts(hosts);
    return {
      ...base,
      upError,
      error: `not converged after 120 s: hg routes per host ${counts.join(",")} (want ${n - 1})`,
    };
  }
  const pinged = ringPing(hosts);
  console.error(`${lab}: converged; settling ${options.settleS} s, then idle ${options.windowS} s`);
  await sleepChecked(options.settleS * 1000);

  // The window.
  const { url, etcdPids } = labRegistry(lab);
  const metricsUrl = `http://${url.replace(/^etcd:\/\//, "").split(",")[0]}/metrics`;
  const hz = clockTicks();
  const logStart = new Map(hosts.map((h) => [h, logSize(lab, h)]));
  const m0 = scrapeLab(lab, metricsUrl);
  const cpu0 = machineJiffies();
  const all0 = allProcesses();
  const t0 = performance.now();
  await sleepChecked(options.windowS * 1000);
  const all1 = allProcesses();
  const t1 = performance.now();
  const cpu1 = machineJiffies();
  const m1 = scrapeLab(lab, metricsUrl);
  const seconds = (t1 - t0) / 1000;
  const pct = (ticks: number) => (100 * ticks) / hz / seconds;

  const agentsLost: string[] = [];
  const agents: AgentWindow[] = [];
  const allLogs: string[] = [];
  for (const host of hosts) {
    const pid = pids.get(host)!;
    const [a, b] = [treeTicks(all0, pid), treeTicks(all1, pid)];
    if (a === undefined || b === undefined || all0.get(pid)?.start !== all1.get(pid)?.start) {
      agentsLost.push(host);
      continue;
    }
    const before = new Set(descendants(all0, pid).map((p) => `${p.pid}@${p.start}`));
    const kept = descendants(all1, pid).filter((p) => before.has(`${p.pid}@${p.start}`));
    const lines = logSince(lab, host, logStart.get(host)!);
    allLogs.push(...lines);
    const logLines: Record<string, number> = {};
    for (const l of lines) {
      const level = l.split(/\s+/)[1] ?? "?";
      logLines[level] = (logLines[level] ?? 0) + 1;
    }
    agents.push({
      host,
      cpuPct: pct(b - a),
      childCpuPct: pct(b - a - (all1.get(pid)!.ownTicks - all0.get(pid)!.ownTicks)),
      rssKb: statusKb(pid, "VmRSS"),
      children: kept.map((p) => p.comm),
      childrenRssKb: kept.reduce((s, p) => s + (statusKb(p.pid, "VmRSS") || 0), 0),
      logLines,
    });
  }
  const etcdPid = etcdPids[0];
  const etcdTicks = [treeTicks(all0, etcdPid), treeTicks(all1, etcdPid)];
  const etcdCpuPct = etcdTicks.every((t) => t !== undefined)
    ? pct(etcdTicks[1]! - etcdTicks[0]!)
    : NaN;
  const machineBusyPct = (100 * (cpu1.busy - cpu0.busy)) / (cpu1.total - cpu0.total);
  const registrySeconds = (m1.at - m0.at) / 1000;
  const perHostPerS = new Map<string, number>();
  for (const [method, count] of m1.handled) {
    const d = count - (m0.handled.get(method) ?? 0);
    if (d !== 0 || method === "Range") perHostPerS.set(method, d / registrySeconds / n);
  }
  const shapes = new Map<string, number>();
  for (const l of allLogs) shapes.set(logShape(l), (shapes.get(logShape(l)) ?? 0) + 1);
  const logSamples = [...shapes].sort((a, b) => b[1] - a[1]).slice(0, 5)
    .map(([shape, count]) => `${count}× ${shape}`);

  // netns add/del: host 1 with its agent, host n with its agent stopped.
  const [running, stopped] = [hosts[0], hosts[n - 1]];
  console.error(`${lab}: stopping the agent of ${stopped}; netns add/del on ${running} and it`);
  const stopPid = pids.get(stopped)!;
  const stopLog = logSize(lab, stopped);
  process.kill(stopPid, "SIGTERM");
  const tStop = performance.now();
  while (procStat(stopPid)?.start === all1.get(stopPid)?.start) {
    if (performance.now() - tStop > 15_000) {
      throw new Error(`the agent of ${stopped} (pid ${stopPid}) did not stop on SIGTERM in 15 s`);
    }
    await sleepChecked(50);
  }
  // The other agents drop its route once its lease is gone: released on exit, or at worst
  // expired (TTL 60 s) when the release failed. The adds are measured either way.
  const others = hosts.filter((h) => h !== stopped);
  let leaveMs: number | undefined;
  while (performance.now() - tStop < 120_000) {
    if (hgRouteCounts(others).every((c) => c === n - 2)) {
      leaveMs = performance.now() - tStop;
      break;
    }
    await sleepChecked(250);
  }
  const stopLogLines = logSince(lab, stopped, stopLog);
  await sleepChecked(2000);
  const pair: [string, string] = [running, stopped];
  const [r, s] = netnsRounds(hg, pair, options.adds, 100, false, tmp);
  await checkpoint();
  const strace = options.strace && timed("strace", ["-V"]).code === 0;
  const [sr, ss] = strace
    ? netnsRounds(hg, pair, options.adds, 100 + options.adds, true, tmp)
    : [undefined, undefined];
  return {
    ...base,
    upError,
    convergedMs,
    pinged,
    windowS: seconds,
    agents,
    agentsLost,
    etcdCpuPct,
    machineBusyPct,
    perHostPerS,
    logSamples,
    leaveMs,
    stopLogLines,
    running: { ...r, host: running },
    stopped: { ...s, host: stopped },
    straceRunning: sr,
    straceStopped: ss,
  };
}

/** Takes the lab down and checks nothing of it is left: no namespace, agent or etcd. */
function labDown(hg: readonly string[], lab: string, quiet = false): string[] {
  const pids: number[] = [];
  if (existsSync(join(labDir(lab), "registry.json"))) {
    pids.push(...labRegistry(lab).etcdPids);
    for (const h of timed("ip", ["netns", "list"]).stdout.match(/\S+-h\d+(?=\s|$)/gm) ?? []) {
      if (h.startsWith(`${lab}-`)) {
        const pid = agentPid(lab, h);
        if (pid !== undefined) pids.push(pid);
      }
    }
  }
  const r = timed(hg[0], [...hg.slice(1), "lab", "down", "--name", lab]);
  const problems: string[] = [];
  if (r.code !== 0 && !quiet) problems.push(`hg lab down --name ${lab}: ${r.stderr.trim()}`);
  const left = timed("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0])
    .filter((ns) => ns.startsWith(`${lab}-`));
  if (left.length > 0) problems.push(`namespaces left: ${left.join(", ")}`);
  const alive = pids.filter((pid) => procStat(pid) !== undefined);
  if (alive.length > 0) problems.push(`processes left: ${alive.join(", ")}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Output

/** Median and max of the lock waits of the adds that found the lock held. */
function waitedCell(s: LatencySet): string {
  const waited = s.lockWaitMs.filter((_, i) => s.lockAttempts[i] > 1);
  return waited.length === 0 ? "-" : `${fmtMs(median(waited))} / ${fmtMs(Math.max(...waited))}`;
}

const pct = (v: number) => Number.isFinite(v) ? v.toFixed(2) : "n/a";
const mb = (kb: number) => Number.isFinite(kb) ? (kb / 1024).toFixed(1) : "n/a";

function printResults(
  results: readonly LabResult[],
  check: readonly CheckRow[],
  options: Options,
  hgWhat: string,
): void {
  console.log(`# Idle agents (${options.hosts.join(", ")} hosts)\n`);
  console.log(machineLine());
  console.log(`hg: ${hgWhat}`);
  console.log(
    `window: ${options.windowS} s idle after convergence + ${options.settleS} s; ` +
      `netns add/del: ${options.adds} each way, interleaved${
        options.strace ? ", then as many under strace" : ""
      }\n`,
  );
  for (const r of results) {
    const up = r.upError ? `FAILED (${r.upError})` : "ok";
    console.log(
      `- ${r.lab}: \`hg lab up --nodes ${r.hosts} --agent\` ${up}` +
        (Number.isFinite(r.upMs) ? ` in ${fmtMs(r.upMs / 1000)} s` : "") +
        (r.convergedMs !== undefined
          ? `; every host routed to every other ${fmtMs(r.convergedMs / 1000)} s later` +
            `; ring ping (each container to the next host's) ${r.pinged}/${r.hosts} ok`
          : "") +
        (r.error ? `; NOT MEASURED: ${r.error}` : ""),
    );
    if (r.running) {
      console.log(
        `  - the agent of ${r.stopped!.host} stopped (SIGTERM): ` +
          (r.leaveMs !== undefined
            ? `every other host had dropped its route ${fmtMs(r.leaveMs / 1000)} s later`
            : "other hosts STILL routed to it 120 s later"),
      );
    }
  }
  const ok = results.filter((r) => r.agents !== undefined);

  console.log("\nKnown-request check (throwaway etcd, requests through the JSON gateway):\n");
  console.log(markdownTable(
    ["gRPC method", "requests sent", "grpc_server_handled_total moved by"],
    check.filter((c) => c.sent > 0 || c.moved !== 0)
      .map((c) => [c.method, String(c.sent), String(c.moved)]),
  ));
  console.log("(every other method's counter, and the watch streams opened, moved by 0)");

  console.log("\nPer agent over the idle window (CPU: agent + children, % of one core):\n");
  console.log(markdownTable(
    [
      "hosts",
      "window s",
      "CPU % median",
      "CPU % max",
      `median vs target ${CPU_TARGET} %`,
      "of which in child processes (median)",
      "all agents together, % of one core",
      "VmRSS MB median",
      "VmRSS MB max",
      "long-running children",
      "etcd CPU %",
      "machine busy % (all cores)",
    ],
    ok.map((r) => {
      const cpu = r.agents!.map((a) => a.cpuPct);
      const rss = r.agents!.map((a) => a.rssKb);
      const kids = [...new Set(r.agents!.flatMap((a) => a.children))];
      return [
        String(r.hosts),
        r.windowS!.toFixed(1),
        `**${pct(median(cpu))}**`,
        pct(Math.max(...cpu)),
        `${(median(cpu) / CPU_TARGET).toFixed(1)}×`,
        pct(median(r.agents!.map((a) => a.childCpuPct))),
        pct(cpu.reduce((a, b) => a + b, 0)),
        mb(median(rss)),
        mb(Math.max(...rss)),
        kids.length === 0
          ? "none"
          : `${kids.join(", ")} (${mb(median(r.agents!.map((a) => a.childrenRssKb)))} MB median)`,
        pct(r.etcdCpuPct!),
        pct(r.machineBusyPct!),
      ];
    }),
  ));

  const methods = [...new Set(ok.flatMap((r) => [...r.perHostPerS!.keys()]))].sort();
  const first = ok[0];
  const last = ok[ok.length - 1];
  const rate = (r: LabResult, m: string) => r.perHostPerS!.get(m) ?? 0;
  const total = (r: LabResult) =>
    [...r.perHostPerS!].filter(([m]) => !m.startsWith("Watch")).reduce((s, [, v]) => s + v, 0);
  if (ok.length > 0) {
    console.log("\nRegistry requests per host per second over the window (etcd's counters):\n");
    const growth = ok.length > 1 ? [`per host ${last.hosts} vs ${first.hosts}`] : [];
    console.log(markdownTable(
      ["method", ...ok.map((r) => `${r.hosts} hosts`), ...growth],
      [
        ...methods.map((m) => [
          m,
          ...ok.map((r) => rate(r, m).toFixed(3)),
          ...(ok.length > 1
            ? [rate(first, m) > 0 ? `${(rate(last, m) / rate(first, m)).toFixed(2)}×` : "-"]
            : []),
        ]),
        [
          "**all requests**",
          ...ok.map((r) => `**${total(r).toFixed(3)}**`),
          ...(ok.length > 1 ? [`**${(total(last) / total(first)).toFixed(2)}×**`] : []),
        ],
        [
          "all requests, whole registry (req/s)",
          ...ok.map((r) => (total(r) * r.hosts).toFixed(1)),
          ...(ok.length > 1
            ? [
              `${
                ((total(last) * last.hosts) / (total(first) * first.hosts)).toFixed(2)
              }× total for ${(last.hosts / first.hosts).toFixed(1)}× hosts`,
            ]
            : []),
        ],
      ],
    ));
  }

  const lat = (v: number[]) => `${fmtMs(percentile(v, 50))} / ${fmtMs(percentile(v, 99))}`;
  if (ok.length > 0) {
    console.log(
      "\n`hg netns add` / `hg netns del` on a host whose agent runs vs one whose agent is stopped" +
        " (ms, p50 / p99; nearest-rank, so under 100 runs p99 is the slowest):\n",
    );
    console.log(markdownTable(
      [
        "hosts",
        "host",
        "agent",
        "n",
        "add p50 / p99",
        "del p50 / p99",
        "add p50 vs stopped",
        "add p99 vs stopped",
        "failed",
      ],
      ok.flatMap((r) =>
        ([[r.running!, "running"], [r.stopped!, "stopped"]] as const).map(([s, what]) => [
          String(r.hosts),
          s.host,
          what,
          String(s.add.length),
          lat(s.add),
          lat(s.del),
          `${(percentile(s.add, 50) / percentile(r.stopped!.add, 50)).toFixed(2)}×`,
          `${(percentile(s.add, 99) / percentile(r.stopped!.add, 99)).toFixed(2)}×`,
          String(s.failed),
        ])
      ),
    ));
    const traced = ok.filter((r) => r.straceRunning);
    if (traced.length > 0) {
      console.log("\nWaiting for the host lock, from `netns add` under strace (ms):\n");
      console.log(markdownTable(
        [
          "hosts",
          "agent",
          "adds traced",
          "found the lock held",
          "wait when held: median / max",
          "mean wait over all adds",
          "add p50 / p99 under strace",
        ],
        traced.flatMap((r) =>
          ([[r.straceRunning!, "running"], [r.straceStopped!, "stopped"]] as const).map((
            [s, what],
          ) => [
            String(r.hosts),
            what,
            String(s.lockWaitMs.length),
            String(s.lockAttempts.filter((a) => a > 1).length),
            waitedCell(s),
            fmtMs(s.lockWaitMs.reduce((a, b) => a + b, 0) / s.lockWaitMs.length),
            lat(s.add),
          ])
        ),
      ));
    }
  }

  for (const r of ok) {
    const lines = r.agents!.map((a) => Object.values(a.logLines).reduce((x, y) => x + y, 0));
    const levels: Record<string, number> = {};
    for (const a of r.agents!) {
      for (const [k, v] of Object.entries(a.logLines)) levels[k] = (levels[k] ?? 0) + v;
    }
    console.log(
      `\n${r.lab}: agents' log lines during the window: ${lines.reduce((x, y) => x + y, 0)} (${
        Object.entries(levels).map(([k, v]) => `${k} ${v}`).join(", ") || "none"
      }), most per host ${Math.max(...lines)}` +
        (r.agentsLost!.length > 0 ? `; agents gone or restarted: ${r.agentsLost!.join(", ")}` : ""),
    );
    for (const s of r.logSamples!) console.log(`    ${s}`);
    if (r.leaveMs === undefined || r.leaveMs > 10_000) {
      console.log(`${r.stopped!.host}'s agent logged after SIGTERM:`);
      for (const l of r.stopLogLines!.slice(0, 10)) console.log(`    ${l}`);
    }
  }

  if (ok.length > 0) {
    console.log("");
    const worst = Math.max(...ok.map((r) => median(r.agents!.map((a) => a.cpuPct))));
    console.log(
      `target "idle agent under ${CPU_TARGET} % of a core": ${
        worst < CPU_TARGET ? "MET" : "MISSED"
      } (median per lab: ${
        ok.map((r) => `${r.hosts} hosts ${pct(median(r.agents!.map((a) => a.cpuPct)))} %`).join(
          ", ",
        )
      })`,
    );
    if (ok.length > 1) {
      const reads = rate(last, "Range") / rate(first, "Range");
      console.log(
        `target "registry reads per second growing linearly with hosts": ${
          reads <= LINEAR_SLACK ? "MET" : "MISSED"
        } (Range per host per s ${rate(first, "Range").toFixed(3)} at ${first.hosts} hosts, ${
          rate(last, "Range").toFixed(3)
        } at ${last.hosts}: ${reads.toFixed(2)}×; linear is 1×, met up to ${LINEAR_SLACK}×)`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const hg = hgCommand(["lab", "up"]);
  const tmp = mkdtempSync(join(tmpdir(), "hgbench-idle-"));
  const results: LabResult[] = [];
  let check: CheckRow[] = [];
  const problems: string[] = [];
  let current: string | undefined;
  try {
    await withCleanup(() => {
      if (current) problems.push(...labDown(hg.argv, current));
      current = undefined;
    }, async () => {
      console.error("known-request check on a throwaway etcd");
      check = await knownRequestCheck(25);
      const bad = check.filter((c) => c.moved !== c.sent);
      if (bad.length > 0) {
        throw new Error(
          `etcd's counters do not count the gateway's requests: ${JSON.stringify(bad)}`,
        );
      }
      for (const n of options.hosts) {
        await checkpoint();
        current = `bidle${n}`;
        labDown(hg.argv, current, true); // a lab left by a killed run
        try {
          results.push(await measureLab(n, hg.argv, options, tmp));
        } catch (e) {
          if (/^interrupted/.test((e as Error).message)) throw e;
          console.error(`${current}: ${(e as Error).stack}`);
          results.push({
            hosts: n,
            lab: current,
            upMs: NaN,
            error: (e as Error).message,
          });
        } finally {
          console.error(`${current}: hg lab down --name ${current}`);
          problems.push(...labDown(hg.argv, current));
          current = undefined;
        }
      }
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  printResults(results, check, options, hg.what);
  if (problems.length > 0) {
    throw new Error(`cleanup incomplete: ${problems.join("; ")}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Leases mode: one agent, many leases, before and after

/** The agent host and the registry's namespace of the leases mode. */
const LEASE_HOST = "hgbench-agi-h";
const LEASE_UL = "hgbench-agi-ul";
const LEASE_ETCD = "http://10.0.12.12:2379";
const LEASE_PREFIX = "/coreos.com/network";

/** The i-th peer's lease: a /24 of 10.64.0.0/10 via an on-link address of 10.0.12.0/22. */
function fakeLease(i: number): { key: string; subnet: string; value: string } {
  const third = 64 + Math.floor(i / 256);
  const subnet = `10.${third}.${i % 256}.0/24`;
  const gw = 13 + (i % 1000); // 10.0.12.13 .. 10.0.15.244: inside the host's /22
  const via = `10.0.${12 + Math.floor(gw / 256)}.${gw % 256}`;
  return {
    key: `${LEASE_PREFIX}/subnets/${subnet.replace("/", "-")}`,
    subnet,
    value: JSON.stringify({ PublicIP: via, BackendType: "host-gw", HgNode: `peer${i}` }),
  };
}

/** `--fill URL FROM TO` mode (inside the registry's namespace): the config and leases FROM..TO-1. */
async function fillMode(url: string, from: number, to: number): Promise<void> {
  const b64 = (s: string) => btoa(s);
  const put = async (key: string, value: string) => {
    const r = await fetch(`${url}/v3/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key: b64(key), value: b64(value) }),
    });
    if (!r.ok) throw new Error(`put ${key}: HTTP ${r.status} ${await r.text()}`);
    await r.body?.cancel();
  };
  await put(
    `${LEASE_PREFIX}/config`,
    JSON.stringify({ Network: "10.64.0.0/10", SubnetLen: 24, Backend: { Type: "host-gw" } }),
  );
  let next = from;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < to) {
      const lease = fakeLease(next++);
      await put(lease.key, lease.value);
    }
  }));
}

/** etcdctl in the registry's namespace. */
function etcdctl(args: readonly string[]): Timed {
  return must(
    "nsenter",
    [
      `--net=/run/netns/${LEASE_UL}`,
      "etcdctl",
      `--endpoints=${LEASE_ETCD}`,
      ...args,
    ],
    undefined,
    { ETCDCTL_API: "3" },
  );
}

/** hg's routes on the agent host. */
function hostRouteCount(): number {
  const out = must("ip", ["-n", LEASE_HOST, "route", "show", "proto", "104"]).stdout;
  return out === "" ? 0 : out.trimEnd().split("\n").length;
}

function hasRoute(subnet: string): boolean {
  return must("ip", ["-n", LEASE_HOST, "route", "show", subnet, "proto", "104"]).stdout !== "";
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

interface LeaseRun {
  readonly leases: number;
  readonly which: string;
  /** CPU of the agent and its children over the idle window, ms per second. */
  readonly idleCpuMsPerS: number;
  readonly windowS: number;
  /** `ip`/`iptables` processes the agent started during the idle window. */
  readonly idleSpawns: number;
  /** CPU per watch event (a lease added or removed, until its route is in or gone), ms. */
  readonly eventCpuMs: number;
  /** Spawns per watch event. */
  readonly eventSpawns: number;
  readonly eventLatencyMs: number[];
  readonly rssMb: number;
}

/** Runs `bin`'s agent on the host with `leases` peer leases: idle window, then `events` changes. */
async function leaseRun(
  bin: string,
  which: string,
  leases: number,
  options: LeaseOptions,
  tmp: string,
): Promise<LeaseRun> {
  const hz = clockTicks();
  const wrapDir = join(tmp, "wrap");
  const spawnLog = join(tmp, `spawns-${which}-${leases}.log`);
  writeFileSync(spawnLog, "");
  // Every ip/iptables the agent starts is logged (one short `sh` per process, both agents alike).
  mkdirSync(wrapDir, { recursive: true });
  for (const tool of ["ip", "iptables"]) {
    const real = must("sh", ["-c", `command -v ${tool}`]).stdout.trim();
    writeFileSync(
      join(wrapDir, tool),
      `#!/bin/sh\necho "${tool} $*" >> "$HG_SPAWN_LOG"\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
  }
  const spawns = () => readFileSync(spawnLog, "utf8").split("\n").filter(Boolean);
  const runDir = join(tmp, `run-${which}`);
  mkdirSync(runDir, { recursive: true });
  const agent = spawn("nsenter", [
    `--net=/run/netns/${LEASE_HOST}`,
    "--",
    bin,
    "agent",
    "--store",
    `etcd://${LEASE_ETCD.slice("http://".length)}`,
    "--node",
    "agq",
    "--public-ip",
    "10.0.12.11",
    "--ttl",
    "60",
    "--subnet-file",
    join(runDir, "subnet.env"),
  ], {
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      ...process.env,
      PATH: `${wrapDir}:${process.env.PATH}`,
      HG_SPAWN_LOG: spawnLog,
      HG_RUN_DIR: runDir,
    },
  });
  let log = "";
  agent.stderr!.on("data", (d) => log = (log + d).slice(-20_000));
  const exited = new Promise<number | null>((r) => agent.on("close", r));
  const pid = agent.pid!;
  try {
    await waitFor(() => hostRouteCount() >= leases, 300_000, `${which}: ${leases} routes`);
    await sleepChecked(options.settleS * 1000);
    // The idle window.
    const s0 = spawns().length;
    const t0 = performance.now();
    const c0 = treeTicks(allProcesses(), pid)!;
    await sleepChecked(options.windowS * 1000);
    const c1 = treeTicks(allProcesses(), pid);
    const t1 = performance.now();
    if (c1 === undefined) throw new Error(`${which} agent died: ${log}`);
    const idleSpawned = spawns().slice(s0);
    const windowS = (t1 - t0) / 1000;
    // Watch events: a new peer's lease, then its removal, one after another.
    const latency: number[] = [];
    const e0 = spawns().length;
    const ce0 = treeTicks(allProcesses(), pid)!;
    for (let k = 0; k < options.events; k++) {
      await checkpoint();
      const lease = fakeLease(leases + (k >> 1));
      const t = performance.now();
      if (k % 2 === 0) {
        etcdctl(["put", lease.key, lease.value]);
        await waitFor(() => hasRoute(lease.subnet), 30_000, `route ${lease.subnet}`);
      } else {
        etcdctl(["del", lease.key]);
        await waitFor(() => !hasRoute(lease.subnet), 30_000, `no route ${lease.subnet}`);
      }
      latency.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 300)); // the host's own change events settle
    }
    const ce1 = treeTicks(allProcesses(), pid)!;
    const eventSpawns = spawns().length - e0;
    const rssMb = statusKb(pid, "VmRSS") / 1024;
    console.error(
      `  ${which} ${leases}: idle ${((c1 - c0) * 1000 / hz / windowS).toFixed(1)} ms/s, ` +
        `${idleSpawned.length} spawns${
          idleSpawned.length ? ` (${[...new Set(idleSpawned)].slice(0, 3).join("; ")})` : ""
        }; ${options.events} events ${((ce1 - ce0) * 1000 / hz / options.events).toFixed(1)} ` +
        `ms each, ${eventSpawns} spawns`,
    );
    return {
      leases,
      which,
      idleCpuMsPerS: (c1 - c0) * 1000 / hz / windowS,
      windowS,
      idleSpawns: idleSpawned.length,
      eventCpuMs: (ce1 - ce0) * 1000 / hz / options.events,
      eventSpawns: eventSpawns / options.events,
      eventLatencyMs: latency,
      rssMb,
    };
  } finally {
    process.kill(pid, "SIGTERM");
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r("timeout"), 10_000)),
    ]);
    if (code === "timeout") process.kill(pid, "SIGKILL");
    else if (code !== 0) console.error(`${which} agent exited ${code}: ${log.slice(-2000)}`);
  }
}

interface LeaseOptions {
  readonly leases: number[];
  readonly windowS: number;
  readonly settleS: number;
  readonly events: number;
}

/**
 * The leases mode: `--leases 100,1000,5000 [--window 60] [--settle 5] [--events 20]`. One agent
 * host (`hgbench-agi-h`, 10.0.12.11/22) and an etcd in `hgbench-agi-ul` (10.0.12.12), holding N
 * peer leases (10.64.0.0/10, /24s, via on-link addresses); for each N the agent of
 * `HG_BASE_BIN` ("before") and of `HG_BIN` ("after"), one after the other (which one first
 * alternates), each started fresh against the same registry and host, measured over an idle
 * window and then over `--events` lease changes.
 */
async function leasesMain(argv: readonly string[]): Promise<void> {
  const value = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
  const options: LeaseOptions = {
    leases: value("--leases", "100,1000,5000").split(",").map(Number),
    windowS: Number(value("--window", "60")),
    settleS: Number(value("--settle", "5")),
    events: Number(value("--events", "20")),
  };
  const base = process.env.HG_BASE_BIN;
  const after = process.env.HG_BIN;
  if (!base || !after) throw new Error("the leases mode needs HG_BASE_BIN and HG_BIN");
  const only = process.env.HG_AGENT_ONLY_BIN;
  const variants: (readonly [string, string])[] = [
    ["before", base],
    ...(only ? [["agent change only", only] as const] : []),
    ["after", after],
  ];
  const tmp = mkdtempSync(join(tmpdir(), "hgbench-agi-"));
  const results: LeaseRun[] = [];
  let etcd: ReturnType<typeof spawn> | undefined;
  try {
    await withNamespaces([LEASE_HOST, LEASE_UL], async () => {
      buildUplinkPair(LEASE_HOST, LEASE_UL);
      etcd = spawn("nsenter", [
        `--net=/run/netns/${LEASE_UL}`,
        "etcd",
        "--name",
        "agq",
        "--data-dir",
        join(tmp, "etcd"),
        "--listen-client-urls",
        LEASE_ETCD,
        "--advertise-client-urls",
        LEASE_ETCD,
        "--listen-peer-urls",
        "http://127.0.0.1:2380",
        "--initial-advertise-peer-urls",
        "http://127.0.0.1:2380",
        "--initial-cluster",
        "agq=http://127.0.0.1:2380",
      ], { stdio: "ignore" });
      await waitFor(
        () =>
          timed(
            "nsenter",
            [
              `--net=/run/netns/${LEASE_UL}`,
              "etcdctl",
              `--endpoints=${LEASE_ETCD}`,
              "endpoint",
              "health",
            ],
            undefined,
            { ETCDCTL_API: "3" },
          ).code === 0,
        30_000,
        "etcd up",
      );
      let filled = 0;
      for (const [i, n] of options.leases.entries()) {
        await checkpoint();
        if (n > filled) {
          const [cmd, args] = inNetns(LEASE_UL, [
            ...scriptArgv(SELF),
            "--fill",
            LEASE_ETCD,
            String(filled),
            String(n),
          ]);
          must(cmd, args);
          filled = n;
        }
        console.error(`${n} leases`);
        // Which agent goes first turns with each size.
        const order = variants.map((_, k) => variants[(k + i) % variants.length]);
        for (const [which, bin] of order) {
          results.push(await leaseRun(bin, which, n, options, tmp));
        }
      }
    });
  } finally {
    etcd?.kill();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`# Idle agent by number of leases (one agent, etcd)\n`);
  console.log(machineLine());
  console.log(variants.map(([which, bin]) => `${which}: ${bin}`).join("; "));
  console.log(
    `idle window ${options.windowS} s after convergence + ${options.settleS} s; then ` +
      `${options.events} watch events (a lease put, then deleted, alternately)\n`,
  );
  console.log(markdownTable(
    [
      "leases",
      "agent",
      "idle CPU ms/s",
      "vs before",
      "processes started in the window",
      "CPU per watch event ms",
      "processes per event",
      "event → route p50 / max ms",
      "VmRSS MB",
    ],
    options.leases.flatMap((n) => {
      const before = results.find((x) => x.leases === n && x.which === "before");
      return variants.flatMap(([which]) => {
        const r = results.find((x) => x.leases === n && x.which === which);
        if (!r) return [];
        return [[
          String(n),
          which,
          which === "before" ? r.idleCpuMsPerS.toFixed(2) : `**${r.idleCpuMsPerS.toFixed(2)}**`,
          before ? `${(r.idleCpuMsPerS / before.idleCpuMsPerS).toFixed(2)}×` : "n/a",
          String(r.idleSpawns),
          r.eventCpuMs.toFixed(1),
          r.eventSpawns.toFixed(1),
          `${fmtMs(median(r.eventLatencyMs))} / ${fmtMs(Math.max(...r.eventLatencyMs))}`,
          r.rssMb.toFixed(1),
        ]];
      });
    }),
  ));
}

const scrape = process.argv.indexOf("--scrape");
const fill = process.argv.indexOf("--fill");
if (scrape >= 0) await scrapeMode(process.argv[scrape + 1]);
else if (fill >= 0) {
  const [url, from, to] = process.argv.slice(fill + 1);
  await fillMode(url, Number(from), Number(to));
} else if (process.argv.includes("--leases")) await leasesMain(process.argv.slice(2));
else if (import.meta.main) await main();
