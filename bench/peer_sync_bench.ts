/**
 * `hg peer sync` benchmark: one changed lease among N = 100 / 1,000 / 10,000 (issue 15). A host
 * namespace holds the N-1 peer routes hg installed from a file registry of N-1 leases (each an
 * on-link gateway on a veth to a second namespace); then one lease changes and `hg peer sync
 * --store FILE` runs as a user runs it: the compiled binary, inside the namespace through nsenter,
 * timed with bash's `time` (CPU = user+sys of hg and the `ip` processes it starts; wall).
 *
 * The changes: a lease added (N-1 → N), that lease gone again (N → N-1), one lease's gateway
 * changed and changed back; and a sync with nothing changed. Against, in the same run and
 * alternating: a raw `ip -batch` of all N routes (into an empty namespace) and a raw `ip -batch`
 * of the one changed route (a `route replace` of a route as it is, in the host namespace). Medians.
 *
 * With `HGBENCH_BASE_BIN=/path/to/earlier/hg`, an earlier build makes the same changes in the same
 * run, alternating with the others: the before and after of a change to hg.
 *
 * Then hg's phases (read the registry, observe, plan, apply; wall ms) from an in-process run of
 * the same library calls the CLI makes, under this runtime (`--phases FILE`, inside the namespace).
 *
 * Run as root: `HG_BIN=/tmp/you/hg bun bench/peer_sync_bench.ts` (or `deno run -A ...`);
 * `HGBENCH_REPS` (default 5) and `HGBENCH_SIZES` (default `100,1000,10000`) for a quicker try.
 * Everything happens in the namespaces `hgbench-sy-*` (`HGBENCH_NETNS=NAME`: `NAME-*`), deleted
 * at the end; registry files go to a temporary directory, removed at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { observeHost } from "../lib/host/observe.ts";
import { IpSession } from "../lib/ip/session.ts";
import { planPeerSync } from "../lib/peers/sync.ts";
import { applyPlan } from "../lib/plan/apply.ts";
import { openStore } from "../lib/store/open.ts";
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
  scriptArgv,
  timed,
  withNamespaces,
} from "./bench_util.ts";

/** The namespaces' common name (`HGBENCH_NETNS`, for benchmarks running side by side). */
const NETNS = process.env.HGBENCH_NETNS ?? "hgbench-sy";
const HOST = `${NETNS}-h`;
const PEER = `${NETNS}-p`;
/** Where the raw batch of all N routes goes: a pair like the host's, empty each time. */
const RAW = `${NETNS}-r`;
const RAW_PEER = `${NETNS}-q`;
/** This host's node name: no lease of the benchmark's is its own. */
const NODE = "bench-self";

/** The i-th lease's subnet: the i-th /24 of 100.64.0.0/10. */
function subnetOf(i: number): string {
  return `100.${64 + (i >> 8)}.${i & 255}.0/24`;
}

/** The i-th lease's gateway: one of 700 on-link addresses in 10.0.13.1-10.0.15.188. */
function gatewayOf(i: number): string {
  const n = (13 << 8) + 1 + (i % 700);
  return `10.0.${n >> 8}.${n & 255}`;
}

/** A gateway no lease of {@link gatewayOf} has: the changed lease's new one. */
const CHANGED_GATEWAY = "10.0.12.200";

/** A file registry holding `leases` (subnet → gateway). */
function registryText(leases: ReadonlyMap<string, string>): string {
  const entries: Record<string, unknown> = {};
  let i = 0;
  for (const [subnet, via] of leases) {
    entries[subnet.replace("/", "-")] = {
      attrs: {
        PublicIP: via,
        PublicIPv6: null,
        BackendType: "host-gw",
        BackendData: null,
        HgNode: `n${i++}`,
      },
      expiration: "2099-01-01T00:00:00.000Z",
    };
  }
  return JSON.stringify(
    {
      kind: "hg-subnet-registry",
      version: 1,
      revision: 1,
      config: { Network: "100.64.0.0/10", SubnetLen: 24, Backend: { Type: "host-gw" } },
      leases: entries,
    },
    null,
    1,
  ) + "\n";
}

/** The `ip` batch line of a route as hg installs it. */
function routeLine(verb: "add" | "replace", subnet: string, via: string): string {
  return `route ${verb} ${subnet} via ${via} dev eth0 proto 104`;
}

/** CPU (user+sys) and wall of one command, from bash's `time`. */
interface Cost {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly stdout: string;
}

/** Runs `argv` under bash's `time`, feeding `input`; throws unless it exits 0. */
function costOf(argv: readonly string[], input?: string): Cost {
  const r = timed(
    "bash",
    [
      "-c",
      'TIMEFORMAT="@@cpu %3U %3S %3R"; time "$@" 2>"$HGBENCH_ERR"',
      "bash",
      ...argv,
    ],
    input,
    { HGBENCH_ERR: ERR_FILE },
  );
  const line = r.stderr.split("\n").find((l) => l.startsWith("@@cpu "));
  if (r.code !== 0 || !line) {
    let err = "";
    try {
      err = must("cat", [ERR_FILE]).stdout;
    } catch { /* nothing */ }
    throw new Error(`${argv.join(" ")} exited ${r.code}: ${(err || r.stderr).slice(0, 2000)}`);
  }
  const [u, s, real] = line.split(" ").slice(1).map(Number);
  return { cpuMs: (u + s) * 1000, wallMs: real * 1000, stdout: r.stdout };
}

let ERR_FILE = "/dev/null";

/** The proto 104 routes of a namespace: destination → gateway. */
function hgRoutes(netns: string): Map<string, string> {
  const out = must("ip", ["-n", netns, "-j", "route", "show", "proto", "104"]).stdout;
  const routes = JSON.parse(out || "[]") as { dst: string; gateway?: string }[];
  return new Map(routes.map((r) => [r.dst, r.gateway ?? ""]));
}

/** Fails loudly unless `netns` has exactly the routes `want` (destination → gateway). */
function verify(netns: string, want: ReadonlyMap<string, string>, what: string): void {
  const got = hgRoutes(netns);
  const wrong = [...want].filter(([dst, via]) => got.get(dst) !== via).length;
  if (got.size !== want.size || wrong !== 0) {
    throw new Error(
      `${what}: expected ${want.size} proto 104 routes in ${netns}, found ${got.size} (${wrong} missing or wrong)`,
    );
  }
}

/** The phases of one in-process sync, in ms. */
interface Phases {
  readonly read: number;
  readonly observe: number;
  readonly plan: number;
  readonly apply: number;
  readonly steps: number;
}

/**
 * `--phases FILE`: the library calls `hg peer sync --store FILE` makes (without the host lock
 * and the output), each timed. Run inside the host namespace.
 */
async function phases(file: string): Promise<Phases> {
  const t0 = performance.now();
  const store = openStore(file);
  const { config, listing } = await store.readRegistry();
  await store.close();
  if (!config) throw new Error(`${file} has no network config`);
  const t1 = performance.now();
  const session = IpSession.open();
  try {
    const host = await observeHost(session);
    const t2 = performance.now();
    const sync = planPeerSync(host, config, listing.entries, { node: NODE, bridge: "cni0" });
    const t3 = performance.now();
    await applyPlan(sync.plan, session);
    const t4 = performance.now();
    if (sync.refused.length > 0) {
      throw new Error(`${sync.refused.length} leases refused: ${sync.refused[0].reason}`);
    }
    return {
      read: t1 - t0,
      observe: t2 - t1,
      plan: t3 - t2,
      apply: t4 - t3,
      steps: sync.plan.length,
    };
  } finally {
    await session.close();
  }
}

const LABELS = {
  add: "hg peer sync, a lease added",
  remove: "hg peer sync, a lease gone",
  gateway: "hg peer sync, a lease's gateway changed",
  same: "hg peer sync, nothing changed",
  rawAll: "raw `ip -batch` of all N routes",
  rawOne: "raw `ip -batch` of the one changed route",
  version: "hg --version (start-up)",
  beforeAdd: "before (HGBENCH_BASE_BIN), a lease added",
  beforeRemove: "before, a lease gone",
  beforeGateway: "before, a lease's gateway changed",
  beforeSame: "before, nothing changed",
  beforeVersion: "before, hg --version (start-up)",
} as const;
type Way = keyof typeof LABELS;
type SyncWay = "add" | "remove" | "gateway" | "same";

async function main(): Promise<void> {
  const reps = Number(process.env.HGBENCH_REPS ?? 5);
  const sizes = (process.env.HGBENCH_SIZES ?? "100,1000,10000").split(",").map(Number);
  if (!Number.isInteger(reps) || reps < 1) throw new Error("HGBENCH_REPS must be >= 1");
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 16_000)) {
    throw new Error("HGBENCH_SIZES must be whole numbers 2-16000");
  }
  const hg = hgCommand(["peer", "sync"]);
  // Optionally an earlier build, timed the same way in the same run: the change it made.
  const baseBin = process.env.HGBENCH_BASE_BIN;
  const dir = mkdtempSync(join(tmpdir(), `${NETNS}-`));
  ERR_FILE = join(dir, "stderr");
  console.log(machineLine());
  console.log(`hg: ${hg.what}, run inside ${HOST} via nsenter`);
  if (baseBin) console.log(`before: HGBENCH_BASE_BIN=${baseBin}, the same way`);
  console.log(`repetitions: ${reps} per measurement, medians; CPU = user+sys from bash \`time\`\n`);
  try {
    buildUplinkPair(HOST, PEER);
    buildUplinkPair(RAW, RAW_PEER);

    const cpu = new Map<string, number[]>();
    const wall = new Map<string, number[]>();
    const phase = new Map<string, number[]>();
    const add = (map: Map<string, number[]>, key: string, v: number) =>
      map.set(key, [...(map.get(key) ?? []), v]);
    const syncWith = (argv: readonly string[], file: string) =>
      costOf(inNetns(HOST, [...argv, "peer", "sync", "--store", file, "--node", NODE]).flat());
    const sync = (file: string) => syncWith(hg.argv, file);

    for (const n of sizes) {
      const all = new Map(Array.from({ length: n }, (_, i) => [subnetOf(i), gatewayOf(i)]));
      const [lastDst] = [...all].at(-1)!;
      const before = new Map(all);
      before.delete(lastDst);
      const [firstDst] = [...before.keys()];
      const moved = new Map(before).set(firstDst, CHANGED_GATEWAY);
      const files = { before: join(dir, `before-${n}.json`), all: join(dir, `all-${n}.json`) };
      const movedFile = join(dir, `moved-${n}.json`);
      writeFileSync(files.before, registryText(before));
      writeFileSync(files.all, registryText(all));
      writeFileSync(movedFile, registryText(moved));
      const allLines = [...all].map(([d, v]) => routeLine("add", d, v)).join("\n") + "\n";
      const oneLine = routeLine("replace", firstDst, before.get(firstDst)!) + "\n";

      // The starting point, not measured: hg installed the N-1 routes.
      must("ip", ["-n", HOST, "route", "flush", "proto", "104"]);
      sync(files.before);
      verify(HOST, before, "initial sync");

      /** The five one-lease changes, from `before` back to it, each timed. */
      const changes = (argv: readonly string[], name: (way: SyncWay) => Way) => {
        const step = (way: SyncWay, file: string, want: ReadonlyMap<string, string>) => {
          const c = syncWith(argv, file);
          verify(HOST, want, LABELS[name(way)]);
          add(cpu, `${name(way)}@${n}`, c.cpuMs);
          add(wall, `${name(way)}@${n}`, c.wallMs);
        };
        step("add", files.all, all);
        step("remove", files.before, before);
        step("gateway", movedFile, moved);
        step("gateway", files.before, before);
        step("same", files.before, before);
      };
      const beforeName = (way: SyncWay): Way =>
        `before${way[0].toUpperCase()}${way.slice(1)}` as Way;
      const ways: Record<"hg" | "base" | "rawAll" | "rawOne" | "version", () => void> = {
        hg: () => changes(hg.argv, (way) => way),
        base: () => {
          if (!baseBin) return;
          changes([baseBin], beforeName);
          const c = costOf(inNetns(HOST, [baseBin, "--version"]).flat());
          add(cpu, `beforeVersion@${n}`, c.cpuMs);
          add(wall, `beforeVersion@${n}`, c.wallMs);
        },
        rawAll: () => {
          const c = costOf(inNetns(RAW, ["ip", "-batch", "-"]).flat(), allLines);
          verify(RAW, all, "raw batch");
          add(cpu, `rawAll@${n}`, c.cpuMs);
          add(wall, `rawAll@${n}`, c.wallMs);
          must("ip", ["-n", RAW, "route", "flush", "proto", "104"]);
        },
        rawOne: () => {
          const c = costOf(inNetns(HOST, ["ip", "-batch", "-"]).flat(), oneLine);
          add(cpu, `rawOne@${n}`, c.cpuMs);
          add(wall, `rawOne@${n}`, c.wallMs);
        },
        version: () => {
          const c = costOf(inNetns(HOST, [...hg.argv, "--version"]).flat());
          add(cpu, `version@${n}`, c.cpuMs);
          add(wall, `version@${n}`, c.wallMs);
        },
      };
      const order = ["hg", "rawAll", "base", "rawOne", "version"] as const;
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < order.length; k++) {
          ways[order[(rep + k) % order.length]]();
          await checkpoint();
        }
        verify(HOST, before, "after a repetition");
        process.stderr.write(`N=${n}: repetition ${rep + 1}/${reps} done\n`);
      }

      // Phases, in-process: a gateway changed and changed back, starting from `before`.
      for (let rep = 0; rep < reps; rep++) {
        for (const file of [movedFile, files.before]) {
          const [cmd, args] = inNetns(HOST, [
            ...scriptArgv(fileURLToPath(import.meta.url)),
            "--phases",
            file,
          ]);
          const p = JSON.parse(must(cmd, args).stdout.trim().split("\n").at(-1)!) as Phases;
          if (p.steps !== 1) throw new Error(`phases run planned ${p.steps} steps, expected 1`);
          for (const k of ["read", "observe", "plan", "apply"] as const) {
            add(phase, `${k}@${n}`, p[k]);
          }
        }
        await checkpoint();
      }
      verify(HOST, before, "after the phases");
    }

    const rows: string[][] = [];
    for (const n of sizes) {
      const base = median(cpu.get(`rawAll@${n}`)!);
      for (const way of Object.keys(LABELS) as Way[]) {
        if (!cpu.has(`${way}@${n}`)) continue;
        const c = median(cpu.get(`${way}@${n}`)!);
        rows.push([
          LABELS[way],
          n.toLocaleString("en-US"),
          String(cpu.get(`${way}@${n}`)!.length),
          fmtMs(c),
          fmtMs(median(wall.get(`${way}@${n}`)!)),
          `${(c / base).toFixed(2)}×`,
        ]);
      }
    }
    console.log(
      markdownTable(
        ["way", "N", "runs", "median CPU ms", "median wall ms", "CPU vs raw batch of all N"],
        rows,
      ),
    );
    console.log(
      `\nhg phases in-process (${scriptArgv("x")[0]}, a gateway changed; median ms):\n\n` +
        markdownTable(
          ["N", "read registry", "observe", "plan", "apply"],
          sizes.map((n) => [
            n.toLocaleString("en-US"),
            ...["read", "observe", "plan", "apply"].map((k) =>
              fmtMs(median(phase.get(`${k}@${n}`)!))
            ),
          ]),
        ),
    );
    const big = Math.max(...sizes);
    const worst = Math.max(
      ...(["add", "remove", "gateway"] as const).map((w) => median(cpu.get(`${w}@${big}`)!)),
    );
    const raw = median(cpu.get(`rawAll@${big}`)!);
    console.log(
      `\ntarget "one changed lease among ${
        big.toLocaleString("en-US")
      }: CPU below a raw batch of all the routes": ${
        worst < raw ? "MET" : "NOT MET"
      } (slowest change ${fmtMs(worst)} ms CPU = ${(worst / raw).toFixed(2)}× raw ${
        fmtMs(raw)
      } ms)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--phases")) {
  console.log(JSON.stringify(await phases(process.argv[process.argv.indexOf("--phases") + 1])));
} else {
  await withNamespaces([HOST, PEER, RAW, RAW_PEER], main);
  const ours = new Set([HOST, PEER, RAW, RAW_PEER]);
  const left = timed("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0])
    .filter((name) => ours.has(name));
  if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
}
