/**
 * Subnet registry benchmark, on both stores (a JSON file in a temp dir, a throwaway etcd):
 *
 * 1. Allocation: C = 1, 10, 100 client processes (`bench/registry_worker.ts`) allocate 400
 *    subnets in all from 1.0.0.0/8 (/24s), starting together on "go"; throughput and latency
 *    percentiles, then the same for releasing them. Every run checks that no subnet was handed
 *    out twice and that the registry holds exactly the subnets handed out.
 * 2. `hg peer sync` of N = 1,000 and 5,000 leases of other hosts in a scratch namespace
 *    `hgbench-s` (uplink eth0 10.0.12.11/22, peer end in `hgbench-t`): registry read, observe,
 *    plan, apply timed in-process (`bench/registry_sync.ts`), a second sync that must plan 0
 *    steps, and the wall time of the real CLI.
 *
 * Run as root: `deno run -A bench/registry_bench.ts` (or `bun bench/registry_bench.ts`).
 * `HGBENCH_REPS` (default 3) sets the sync repetitions, `HG_BIN` the hg binary to time.
 * Namespaces are named `hgbench-*`; every namespace, etcd and temp dir is removed at the end.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { formatPrefix, parsePrefix } from "../lib/net/mod.ts";
import { makeNetworkConfig } from "../lib/store/config.ts";
import { configureNetwork } from "../lib/store/configure.ts";
import { subnetOfKey } from "../lib/store/lease.ts";
import { openStore } from "../lib/store/open.ts";
import { startEtcd } from "../tests/support/etcd.ts";
import {
  buildUplinkPair,
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
import {
  expectedRoutes,
  SYNC_NODE,
  type SyncResult,
  writeSyncRegistryFile,
} from "./registry_sync.ts";
import type { AllocatedReport, ReleasedReport } from "./registry_worker.ts";

const SOURCE = "hgbench-s";
const PEER = "hgbench-t";
const WORKER = join(ROOT, "bench", "registry_worker.ts");
const SYNC = join(ROOT, "bench", "registry_sync.ts");
const ALLOC_NETWORK = "1.0.0.0/8";
const ALLOC_PREFIX = "/hgbench/alloc";
const TOTAL_ALLOCATIONS = 400;
const CLIENTS = [1, 10, 100] as const;
const SYNC_SIZES = [1_000, 5_000] as const;
/** Repetitions of each sync measurement; `HGBENCH_REPS=1` makes a quick try. */
const REPS = Number(process.env.HGBENCH_REPS ?? 3);
if (!Number.isInteger(REPS) || REPS < 1) {
  throw new Error("HGBENCH_REPS must be a whole number >= 1");
}
/** `HGBENCH_ONLY=alloc` or `sync` runs one part only (for a quick try). */
const ONLY = process.env.HGBENCH_ONLY;
/** No single step of the benchmark may take longer than this. */
const STEP_TIMEOUT_MS = 120_000;

type StoreKind = "file" | "etcd";

const tempDirs = new Set<string>();
// A run stopped by a signal exits without its finally blocks: remove the temp dirs at exit.
process.on("exit", () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed by {@link removeTempDir} or at exit. */
function makeTempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A child process spoken to in JSON lines over stdin/stdout. */
class LineChild {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #stderr = "";
  readonly exited: Promise<number>;

  constructor(readonly what: string, argv: readonly string[], env?: Record<string, string>) {
    this.#child = spawn(argv[0], argv.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: env ? { ...process.env, ...env } : process.env,
    });
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      this.#lines.push(line);
      this.#wake?.();
    });
    this.#child.stderr!.on("data", (d: Uint8Array) => {
      this.#stderr = (this.#stderr + new TextDecoder().decode(d)).slice(-4000);
    });
    this.exited = new Promise((resolve) => {
      this.#child.on("close", (code) => {
        this.#closed = true;
        this.#wake?.();
        resolve(code ?? 1);
      });
      this.#child.on("error", (e) => {
        this.#stderr += String(e);
        this.#closed = true;
        this.#wake?.();
        resolve(1);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The next JSON message; throws on an `error` message, on exit or after the timeout. */
  async message<T>(timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#closed) {
        throw new Error(`${this.what} ended without answering: ${this.#stderr.trim()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.what} did not answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    const line = this.#lines.shift()!;
    let data: { error?: string };
    try {
      data = JSON.parse(line);
    } catch {
      throw new Error(`${this.what} wrote ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (data.error !== undefined) throw new Error(`${this.what} failed: ${data.error}`);
    return data as T;
  }

  send(line: string): void {
    this.#child.stdin!.write(line + "\n");
  }

  endInput(): void {
    this.#child.stdin!.end();
  }

  /** Waits up to `ms` for the exit; signals by pid (SIGTERM, then SIGKILL) when it takes longer. */
  async stop(ms = 5000): Promise<void> {
    const wait = (t: number) =>
      Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, t))]);
    if (this.#closed) return;
    await wait(ms);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (this.#closed || this.pid === undefined) return;
      try {
        process.kill(this.pid, signal);
      } catch {
        return; // already gone
      }
      await wait(3000);
    }
  }
}

/** A fresh store of `kind` for one run, and how to get rid of it. */
async function freshStore(kind: StoreKind): Promise<{ url: string; dispose(): Promise<void> }> {
  if (kind === "file") {
    const dir = makeTempDir("hgbench-reg-");
    return { url: join(dir, "subnets.json"), dispose: () => Promise.resolve(removeTempDir(dir)) };
  }
  const etcd = await startEtcd();
  return { url: `etcd://${etcd.endpoints[0].replace("http://", "")}`, dispose: etcd.stop };
}

interface AllocRow {
  readonly kind: StoreKind;
  readonly clients: number;
  readonly allocations: number;
  /** Allocations that failed (the client then stopped), and the clients' error messages. */
  readonly failed: number;
  readonly failures: string[];
  /** Claims lost to another client (allocate then picks again). */
  readonly lostClaims: number;
  readonly wallMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly releaseWallMs: number;
  readonly releaseP50: number;
  readonly releaseFailures: string[];
}

/** One allocation run: `clients` workers share {@link TOTAL_ALLOCATIONS} allocations. */
async function allocationRun(kind: StoreKind, clients: number): Promise<AllocRow> {
  const perClient = TOTAL_ALLOCATIONS / clients;
  if (!Number.isInteger(perClient)) throw new Error(`${TOTAL_ALLOCATIONS} / ${clients} clients`);
  const store = await freshStore(kind);
  const workers: LineChild[] = [];
  try {
    const registry = openStore(store.url, { etcdPrefix: ALLOC_PREFIX });
    await configureNetwork(registry, makeNetworkConfig(parsePrefix(ALLOC_NETWORK), 24));
    for (let k = 0; k < clients; k++) {
      const argv = [...scriptArgv(WORKER), store.url, ALLOC_PREFIX, String(k), String(perClient)];
      workers.push(new LineChild(`${kind} worker ${k}`, argv));
    }
    await Promise.all(workers.map((w) => w.message<{ ready: true }>()));

    const t0 = performance.now();
    for (const w of workers) w.send("go");
    const reports = await Promise.all(workers.map((w) => w.message<AllocatedReport>()));
    const wallMs = performance.now() - t0;

    // No subnet twice: not among the reports, and the registry agrees on who holds each one.
    const allocated = reports.flatMap((r) => r.allocated);
    const reused = reports.reduce((sum, r) => sum + r.reused, 0);
    const failures = reports.flatMap((r) => r.failures);
    const failed = failures.length;
    const lostClaims = reports.reduce((sum, r) => sum + r.lostClaims, 0);
    const holder = new Map(allocated.map((a) => [a.subnet, a.node]));
    if (allocated.length + failed !== TOTAL_ALLOCATIONS || reused !== 0) {
      throw new Error(
        `${kind}/${clients}: ${allocated.length} allocations + ${failed} failed, ${reused} reused`,
      );
    }
    if (holder.size !== allocated.length) {
      throw new Error(
        `${kind}/${clients}: a subnet was handed out twice (${allocated.length} allocations, ` +
          `${holder.size} distinct subnets)`,
      );
    }
    const { entries } = await registry.listLeases();
    const wrong = entries.filter((e) => {
      const subnet = subnetOfKey(e.key);
      return !("lease" in e) || !subnet || holder.get(formatPrefix(subnet)) !== e.lease.attrs.node;
    });
    if (entries.length !== allocated.length || wrong.length > 0) {
      throw new Error(
        `${kind}/${clients}: the registry holds ${entries.length} leases for ${allocated.length} ` +
          `allocations, ${wrong.length} not matching (first: ${JSON.stringify(wrong[0])})`,
      );
    }

    const t1 = performance.now();
    for (const w of workers) w.send("release");
    const released = await Promise.all(workers.map((w) => w.message<ReleasedReport>()));
    const releaseWallMs = performance.now() - t1;
    // Left behind may be exactly the leases whose release failed with an error.
    const kept = released.flatMap((r) => r.failures);
    const left = (await registry.listLeases()).entries.map((e) => e.key.replace("-", "/")).sort();
    const keptSubnets = kept.map((k) => k.subnet).sort();
    if (JSON.stringify(left) !== JSON.stringify(keptSubnets)) {
      const unexpected = left.filter((l) => !keptSubnets.includes(l));
      const missing = keptSubnets.filter((k) => !left.includes(k));
      throw new Error(
        `${kind}/${clients}: after release the registry holds ${left.length} leases, ` +
          `${keptSubnets.length} releases failed; released but still there: ` +
          `${JSON.stringify(unexpected.map((u) => [u, holder.get(u)]))}, failed but gone: ` +
          `${JSON.stringify(missing)}`,
      );
    }
    await registry.close();
    const codes = await Promise.all(workers.map((w) => w.exited));
    if (codes.some((c) => c !== 0)) {
      throw new Error(`${kind}/${clients}: worker exit codes ${codes}`);
    }

    const latencies = allocated.map((a) => a.ms);
    return {
      kind,
      clients,
      allocations: allocated.length,
      failed,
      failures,
      lostClaims,
      wallMs,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      releaseWallMs,
      releaseP50: percentile(released.flatMap((r) => r.released), 50),
      releaseFailures: kept.map((k) => `${k.subnet}: ${k.error}`),
    };
  } finally {
    for (const w of workers) w.endInput();
    await Promise.all(workers.map((w) => w.stop()));
    await store.dispose();
  }
}

function flushRoutes(): void {
  must("ip", ["-n", SOURCE, "route", "flush", "proto", "104"]);
  checkRoutes(new Map(), "flush");
}

/** Fails loudly unless the proto 104 routes in the sync namespace are exactly `want`. */
function checkRoutes(want: ReadonlyMap<string, string>, what: string): void {
  const out = must("ip", ["-n", SOURCE, "-j", "route", "show", "proto", "104"]).stdout;
  const got = JSON.parse(out || "[]") as { dst: string; gateway?: string; dev?: string }[];
  const wrong = got.filter((r) => want.get(r.dst) !== r.gateway || r.dev !== "eth0");
  if (got.length !== want.size || wrong.length > 0) {
    throw new Error(
      `${what}: expected ${want.size} proto 104 routes in ${SOURCE}, found ${got.length}, ` +
        `${wrong.length} wrong (first: ${JSON.stringify(wrong[0])})`,
    );
  }
}

/** Where one sync registry lives, in the sync namespace's view. */
interface SyncStore {
  readonly kind: StoreKind;
  readonly n: number;
  readonly url: string;
  readonly prefix: string;
}

interface SyncSamples {
  read: number[];
  observe: number[];
  plan: number[];
  apply: number[];
  total: number[];
  again: number[];
  cli: number[];
  cliAgain: number[];
}

/** Runs the in-namespace helper's timed sync and checks what it did. */
function helperSync(s: SyncStore): SyncResult {
  const [cmd, args] = inNetns(SOURCE, [...scriptArgv(SYNC), "sync", s.url, s.prefix, String(s.n)]);
  const r = must(cmd, args);
  const result = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as SyncResult;
  if (result.again.planned !== 0 || result.again.unchanged !== s.n) {
    throw new Error(
      `${s.kind}/${s.n}: the second sync planned ${result.again.planned} steps ` +
        `(${result.again.unchanged} unchanged), expected 0`,
    );
  }
  return result;
}

/** Runs `hg peer sync` inside the namespace; returns its wall time and stdout. */
function cliSync(
  hg: string[],
  s: SyncStore,
  env: Record<string, string>,
): { ms: number; out: string } {
  const argv = [
    ...hg,
    "peer",
    "sync",
    "--store",
    s.url,
    "--etcd-prefix",
    s.prefix,
    "--node",
    SYNC_NODE,
  ];
  const [cmd, args] = inNetns(SOURCE, argv);
  const r = must(cmd, args, undefined, env);
  return { ms: r.ms, out: r.stdout };
}

/** Starts etcd inside the sync namespace (its loopback), through the helper. */
async function startNamespaceEtcd(): Promise<{ url: string; stop(): Promise<void> }> {
  const [cmd, args] = inNetns(SOURCE, [...scriptArgv(SYNC), "serve-etcd"]);
  const helper = new LineChild("etcd in hgbench-s", [cmd, ...args]);
  const stop = async () => {
    helper.endInput();
    await helper.stop(10_000);
  };
  try {
    const { endpoint } = await helper.message<{ endpoint: string; dataDir: string }>(30_000);
    return { url: `etcd://${endpoint.replace("http://", "")}`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function syncBenchmark(): Promise<{ rows: string[][]; fills: string[][]; hgWhat: string }> {
  buildUplinkPair(SOURCE, PEER);
  const hg = hgCommand(["peer", "sync"]);
  const dir = makeTempDir("hgbench-sync-");
  const runDir = join(dir, "run");
  const env = { HG_RUN_DIR: runDir };
  const etcd = await startNamespaceEtcd();
  try {
    const stores: SyncStore[] = [];
    const fills: string[][] = [];
    for (const n of SYNC_SIZES) {
      const path = join(dir, `registry-${n}.json`);
      const t0 = performance.now();
      writeSyncRegistryFile(path, n);
      const fileMs = performance.now() - t0;
      const listed = (await openStore(path).listLeases()).entries.filter((e) => "lease" in e);
      if (listed.length !== n) throw new Error(`registry file of ${n} lists ${listed.length}`);
      stores.push({ kind: "file", n, url: path, prefix: "/coreos.com/network" });
      const prefix = `/hgbench/sync-${n}`;
      const [cmd, args] = inNetns(SOURCE, [
        ...scriptArgv(SYNC),
        "fill-etcd",
        etcd.url,
        prefix,
        String(n),
      ]);
      const filled = JSON.parse(must(cmd, args).stdout.trim()) as { ms: number };
      stores.push({ kind: "etcd", n, url: etcd.url, prefix });
      fills.push([n.toLocaleString("en-US"), fmtMs(fileMs), fmtMs(filled.ms)]);
      await checkpoint();
    }

    // Warm the runtime's module cache (helper and, from source, the CLI): not measured.
    helperSync(stores[0]);
    flushRoutes();
    cliSync(hg.argv, stores[0], env);
    flushRoutes();

    const samples = new Map<SyncStore, SyncSamples>(
      stores.map((s) => [
        s,
        { read: [], observe: [], plan: [], apply: [], total: [], again: [], cli: [], cliAgain: [] },
      ]),
    );
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of stores) {
        const want = expectedRoutes(s.n);
        const add = samples.get(s)!;
        flushRoutes();
        const r = helperSync(s);
        checkRoutes(want, `${s.kind}/${s.n} helper sync`);
        add.read.push(r.readMs);
        add.observe.push(r.observeMs);
        add.plan.push(r.planMs);
        add.apply.push(r.applyMs);
        add.total.push(r.totalMs);
        add.again.push(r.again.totalMs);

        flushRoutes();
        const cli = cliSync(hg.argv, s, env);
        checkRoutes(want, `${s.kind}/${s.n} hg peer sync`);
        add.cli.push(cli.ms);
        const again = cliSync(hg.argv, s, env);
        if (!again.out.includes("nothing to do")) {
          throw new Error(
            `${s.kind}/${s.n}: a second hg peer sync changed something: ${again.out.slice(-300)}`,
          );
        }
        checkRoutes(want, `${s.kind}/${s.n} hg peer sync again`);
        add.cliAgain.push(again.ms);
        await checkpoint();
      }
      process.stderr.write(`sync: repetition ${rep + 1}/${REPS} done\n`);
    }
    flushRoutes();

    const rows = stores.map((s) => {
      const m = samples.get(s)!;
      return [
        s.kind,
        s.n.toLocaleString("en-US"),
        ...[m.read, m.observe, m.plan, m.apply, m.total, m.again, m.cli, m.cliAgain].map((v) =>
          fmtMs(median(v))
        ),
      ];
    });
    return { rows, fills, hgWhat: hg.what };
  } finally {
    await etcd.stop();
    removeTempDir(dir);
  }
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(
    `allocation: ${TOTAL_ALLOCATIONS} allocations in all from ${ALLOC_NETWORK} (/24s), split over ` +
      `C worker processes (${scriptArgv(WORKER).join(" ")}), one run per store and C`,
  );

  // Warm the module cache for the workers: not measured.
  if (ONLY !== "sync") await allocationRun("file", 10);
  const allocRows: AllocRow[] = [];
  for (const kind of ONLY === "sync" ? [] : ["file", "etcd"] as const) {
    for (const c of CLIENTS) {
      allocRows.push(await allocationRun(kind, c));
      process.stderr.write(`allocation: ${kind}, C=${c} done\n`);
      await checkpoint();
    }
  }

  const sync = ONLY === "alloc" ? undefined : await syncBenchmark();

  console.log(
    "\nallocation:\n\n" +
      markdownTable(
        [
          "store",
          "clients",
          "allocations",
          "failed",
          "lost claim races",
          "wall ms",
          "allocs/s",
          "p50 ms",
          "p99 ms",
          "release wall ms",
          "release p50 ms",
          "releases failed",
        ],
        allocRows.map((r) => [
          r.kind,
          String(r.clients),
          String(r.allocations),
          String(r.failed),
          String(r.lostClaims),
          fmtMs(r.wallMs),
          (r.allocations / (r.wallMs / 1000)).toFixed(0),
          fmtMs(r.p50),
          fmtMs(r.p99),
          fmtMs(r.releaseWallMs),
          fmtMs(r.releaseP50),
          String(r.releaseFailures.length),
        ]),
      ),
  );
  for (const r of allocRows) {
    if (r.failed > 0) {
      console.log(
        `\nFAILED ALLOCATIONS: ${r.kind}, C=${r.clients}: ${r.failed} of ${TOTAL_ALLOCATIONS}; ` +
          `first error: ${r.failures[0]}`,
      );
    }
    if (r.releaseFailures.length > 0) {
      console.log(
        `\nFAILED RELEASES: ${r.kind}, C=${r.clients}: ${r.releaseFailures.length}; ` +
          `first error: ${r.releaseFailures[0]}`,
      );
    }
  }
  if (!sync) return;
  console.log(`\nhg: ${sync.hgWhat}; sync repetitions: ${REPS}, medians reported`);
  console.log(
    "\n`hg peer sync` (median ms):\n\n" +
      markdownTable(
        [
          "store",
          "N",
          "registry read",
          "observe",
          "validate+diff",
          "apply",
          "total",
          "second sync (0 steps)",
          "`hg peer sync` wall",
          "`hg peer sync` again wall",
        ],
        sync.rows,
      ),
  );
  console.log(
    "\nfilling the registry (ms, not part of the sync):\n\n" +
      markdownTable(["N", "file (write JSON)", "etcd (32 puts in flight)"], sync.fills),
  );
}

await withNamespaces([SOURCE, PEER], main);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
  l.startsWith("hgbench-")
);
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
