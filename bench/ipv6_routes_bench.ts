/**
 * IPv6 peer routes benchmark (issue 14): `hg peer sync --store FILE` of a registry file with 1,000
 * IPv6-only leases (1,000 IPv6 routes, a /64 each via an on-link peer's global address) against
 * one raw `ip -6 -batch` of the same `route replace ... proto 104` lines; and of 1,000 dual-stack
 * leases (2,000 routes) against a raw `ip -batch` of the IPv4 lines plus a raw `ip -6 -batch` of
 * the IPv6 lines. Also the second sync ("nothing to do"), the start-up floor (`hg --version`), one
 * `hg peer add` per route, and where the time of a sync goes (phases, in-process). An IPv4-only
 * registry of 1,000 leases against a raw `ip -batch` is measured the same way, as a reference.
 *
 * Run as root: `deno run -A bench/ipv6_routes_bench.ts` (or `bun bench/ipv6_routes_bench.ts`).
 * hg is the release build (deno.json's compile task) into the run's
 * temp dir (`HG_BIN` to time another binary), and hg from source under this runtime. Every way
 * runs as a child of `bash`'s `time` keyword, inside the host namespace via nsenter: wall time
 * and the user+sys CPU of the child and all its descendants (getrusage of the reaped children).
 * `HGB6_REPS` (default 7) sets the repetitions; the ways alternate, rotating the order.
 * Everything happens in the namespaces `hgb6-h` (the host) and `hgb6-p` (its peer on the uplink),
 * deleted at the end, also on failure or Ctrl-C.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  buildUplinkPair,
  checkpoint,
  compileRelease,
  fmtMs,
  machineLine,
  markdownTable,
  median,
  must,
  ROOT,
  scriptArgv,
  timed,
  withCleanup,
} from "./bench_util.ts";
import { FILE_KIND, type RegistryFile } from "../lib/store/file/format.ts";
import type { Phases } from "./vxlan_sync.ts";

/** The host namespace and its peer on the uplink; every name starts with `hgb6-`. */
const HOST = "hgb6-h";
const PEER = "hgb6-p";
const PREFIX = "hgb6-";
/** Leases of other hosts in each registry. */
const N = 1_000;
/** This host's node name: its own lease carries it (the phases helper uses the same name). */
const NODE = "bench";
const REPS = Number(process.env.HGB6_REPS ?? 7);
if (!Number.isInteger(REPS) || REPS < 1) throw new Error("HGB6_REPS must be a whole number >= 1");
/** `hg peer add` calls timed per repetition (one route each). */
const PEER_ADDS = 10;

const HOST_V4 = "10.0.12.11";
const HOST_V6 = "fd00:12::11";

/** Peer `i`'s (0-based) IPv6 /64: the (i+2)-th of fd00:1::/48 (the host's own is the 1st). */
function v6Subnet(i: number): string {
  return `fd00:1:0:${(i + 2).toString(16)}::/64`;
}
/** Peer `i`'s IPv4 /24: the (i+2)-th of 100.64.0.0/10. */
function v4Subnet(i: number): string {
  const n = i + 2;
  return `100.${64 + (n >> 8)}.${n & 255}.0/24`;
}
/** Peer `i`'s IPv6 address: on the uplink's fd00:12::/64, fd00:12::100 upwards. */
function v6Gateway(i: number): string {
  return `fd00:12::${(0x100 + i).toString(16)}`;
}
/** Peer `i`'s IPv4 address: on the uplink's 10.0.12.0/22, 10.0.12.12 upwards. */
function v4Gateway(i: number): string {
  const n = 12 + i;
  return `10.0.${12 + (n >> 8)}.${n & 255}`;
}

type Stack = "v6" | "dual" | "v4";
/** The registries, in the order they are measured; IPv4-only is the same harness's reference. */
const STACKS = ["v6", "dual", "v4"] as const;
const STACK_NAMES: Record<Stack, string> = {
  v6: "IPv6-only",
  dual: "dual-stack",
  v4: "IPv4-only (reference)",
};

/**
 * The registry file, written directly in hg's format: flannel's config fields and lease values,
 * keys `fd00:1:0:2::-64` (IPv6-only) or `100.64.2.0-24&fd00:1:0:2::-64` (dual-stack).
 */
function registry(stack: Stack): RegistryFile {
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  const v6Range = {
    EnableIPv6: true,
    IPv6Network: "fd00:1::/48",
    IPv6SubnetLen: 64,
    IPv6SubnetMin: "fd00:1:0:1::",
    IPv6SubnetMax: "fd00:1:0:ffff::",
  };
  const v4Range = {
    Network: "100.64.0.0/10",
    SubnetLen: 24,
    SubnetMin: "100.64.1.0",
    SubnetMax: "100.127.255.0",
  };
  const config = stack === "v6"
    ? { EnableIPv4: false, ...v6Range, Backend: { Type: "host-gw" } }
    : stack === "dual"
    ? { ...v4Range, ...v6Range, Backend: { Type: "host-gw" } }
    : { ...v4Range, Backend: { Type: "host-gw" } };
  const key = (v4: string, v6: string) =>
    (stack === "v6" ? v6 : stack === "v4" ? v4 : `${v4}&${v6}`).replaceAll("/", "-");
  const value = (v4: string, v6: string, node: string) => ({
    PublicIP: stack === "v6" ? null : v4,
    PublicIPv6: stack === "v4" ? null : v6,
    BackendType: "host-gw",
    BackendData: null,
    HgNode: node,
  });
  const leases: Record<string, { attrs: Record<string, unknown>; expiration: string }> = {
    [key("100.64.1.0/24", "fd00:1:0:1::/64")]: {
      attrs: value(HOST_V4, HOST_V6, NODE),
      expiration,
    },
  };
  for (let i = 0; i < N; i++) {
    leases[key(v4Subnet(i), v6Subnet(i))] = {
      attrs: value(v4Gateway(i), v6Gateway(i), `h${i}`),
      expiration,
    };
  }
  return { kind: FILE_KIND, version: 1, revision: 1, config, leases };
}

/** The raw batch lines: what a sync of the registry amounts to, written out by hand. */
function rawLines(family: 4 | 6): string[] {
  return Array.from(
    { length: N },
    (_, i) =>
      family === 6
        ? `route replace ${v6Subnet(i)} via ${v6Gateway(i)} dev eth0 proto 104`
        : `route replace ${v4Subnet(i)} via ${v4Gateway(i)} dev eth0 proto 104`,
  );
}

/** The routes each family must have after a sync: destination → gateway. */
function expected(stack: Stack): { 4: Map<string, string>; 6: Map<string, string> } {
  const v6 = stack === "v4"
    ? new Map<string, string>()
    : new Map(Array.from({ length: N }, (_, i) => [v6Subnet(i), v6Gateway(i)]));
  const v4 = stack === "v6"
    ? new Map<string, string>()
    : new Map(Array.from({ length: N }, (_, i) => [v4Subnet(i), v4Gateway(i)]));
  return { 4: v4, 6: v6 };
}

/** The host's proto 104 routes of `family`: destination → gateway. */
function routes104(family: 4 | 6): Map<string, string> {
  const out = must("ip", [`-${family}`, "-n", HOST, "-j", "route", "show", "proto", "104"]).stdout;
  const list = JSON.parse(out || "[]") as { dst: string; gateway?: string }[];
  return new Map(list.map((r) => [r.dst, r.gateway ?? "-"]));
}

/** Fails unless the host has exactly the expected proto 104 routes of both families. */
function verify(want: { 4: Map<string, string>; 6: Map<string, string> }, what: string): void {
  for (const family of [4, 6] as const) {
    const got = routes104(family);
    const wrong = [...want[family]].filter(([dst, gw]) => got.get(dst) !== gw).length;
    if (got.size !== want[family].size || wrong !== 0) {
      throw new Error(
        `${what}: expected exactly ${
          want[family].size
        } proto 104 IPv${family} routes in ${HOST}, ` +
          `found ${got.size} (${wrong} missing or via another gateway)`,
      );
    }
  }
}

function flush(): void {
  for (const family of ["-4", "-6"]) {
    must("ip", [family, "-n", HOST, "route", "flush", "proto", "104"]);
  }
  verify({ 4: new Map(), 6: new Map() }, "flush");
}

/** One process's wall time and the user+sys CPU of it and its reaped descendants. */
interface Run {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly stdout: string;
  readonly stderr: string;
}

let workDir = "";

/**
 * Runs `argv` inside the host namespace (nsenter) as a child of bash's `time` keyword, stdin
 * from `input` (a file) or /dev/null; throws unless it exits 0.
 */
function run(argv: readonly string[], input = "/dev/null", env: Record<string, string> = {}): Run {
  const out = join(workDir, "out");
  const err = join(workDir, "err");
  const script = `{ time "$@" <"$HGB6_IN" >"$HGB6_OUT" 2>"$HGB6_ERR"; } 2>&1; echo "rc=$?"`;
  const r = spawnSync(
    "bash",
    ["-c", script, "bash", "nsenter", `--net=/run/netns/${HOST}`, "--", ...argv],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        ...env,
        TIMEFORMAT: "%3R %3U %3S",
        HGB6_IN: input,
        HGB6_OUT: out,
        HGB6_ERR: err,
      },
    },
  );
  if (r.error) throw r.error;
  const m = /^([\d.]+) ([\d.]+) ([\d.]+)\nrc=(\d+)\s*$/.exec(r.stdout);
  const stdout = readFileSync(out, "utf8");
  const stderr = readFileSync(err, "utf8");
  if (!m || m[4] !== "0") {
    throw new Error(
      `${argv.join(" ")} failed (${r.stdout.trim()}): ${(stderr || stdout).trim().slice(0, 2000)}`,
    );
  }
  return {
    wallMs: Number(m[1]) * 1000,
    cpuMs: (Number(m[2]) + Number(m[3])) * 1000,
    stdout,
    stderr,
  };
}

/** The host namespace with a veth uplink eth0 (10.0.12.11/22, fd00:12::11/64) to the peer. */
function buildHosts(): void {
  buildUplinkPair(HOST, PEER, { ipv6: true });
  const v6 = JSON.parse(must("ip", ["-6", "-n", HOST, "-j", "addr", "show", "dev", "eth0"]).stdout);
  const info = (v6[0]?.addr_info ?? []) as { local: string; tentative?: boolean }[];
  const mine = info.find((a) => a.local === HOST_V6);
  if (!mine || mine.tentative) throw new Error(`${HOST_V6} is missing or tentative on ${HOST}`);
}

/** Namespaces of ours (`hgb6-*`) that exist now. */
function ourNamespaces(): string[] {
  return timed("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(PREFIX));
}

function deleteOurs(): string[] {
  for (const ns of [HOST, PEER]) {
    if (existsSync(`/run/netns/${ns}`)) timed("ip", ["netns", "del", ns]);
  }
  return ourNamespaces().filter((n) => n === HOST || n === PEER);
}

const samples = new Map<string, { wall: number[]; cpu: number[] }>();
/** In-process times (ms) of bench/hg_install_routes.ts: the path bench/routes_bench.ts judges. */
const inProcess = new Map<string, number[]>();
function add(key: string, r: { wallMs: number; cpuMs: number }): void {
  const s = samples.get(key) ?? { wall: [], cpu: [] };
  s.wall.push(r.wallMs);
  s.cpu.push(r.cpuMs);
  samples.set(key, s);
}

/** The last line hg printed. */
function lastLine(r: Run): string {
  return r.stdout.trim().split("\n").at(-1) ?? "";
}

async function main(): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), "hgb6-"));
  const runDir = join(workDir, "run");
  const hgEnv = { HG_RUN_DIR: runDir };
  let hg: string;
  let hgWhat: string;
  if (process.env.HG_BIN) {
    hg = process.env.HG_BIN;
    hgWhat = `HG_BIN=${hg}`;
  } else {
    hg = join(workDir, "hg");
    hgWhat = `release build: bun ${compileRelease("cli/main.ts", hg).join(" ")}`;
  }
  const source = scriptArgv(join(ROOT, "cli", "main.ts"));
  const commit = timed("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.trim();
  console.log(machineLine());
  console.log(`commit ${commit}; hg: ${hgWhat}; from source: ${source.join(" ")}`);
  console.log(
    `${N.toLocaleString("en-US")} leases of other hosts per registry; ${REPS} repetitions, ` +
      `medians; wall and CPU (user+sys of the process and its children) from bash's time\n`,
  );
  buildHosts();

  const files: Record<Stack, string> = { v6: "", dual: "", v4: "" };
  for (const stack of STACKS) {
    files[stack] = join(workDir, `${stack}.json`);
    writeFileSync(files[stack], JSON.stringify(registry(stack), null, 1) + "\n");
  }
  const batch4 = join(workDir, "batch4");
  const batch6 = join(workDir, "batch6");
  const batchMixed = join(workDir, "batch46");
  writeFileSync(batch4, rawLines(4).join("\n") + "\n");
  writeFileSync(batch6, rawLines(6).join("\n") + "\n");
  writeFileSync(batchMixed, [...rawLines(4), ...rawLines(6)].join("\n") + "\n");

  const sync = (argv: readonly string[], stack: Stack) =>
    run([...argv, "peer", "sync", "--store", files[stack], "--node", NODE], "/dev/null", hgEnv);
  const routesOf = (stack: Stack) => stack === "dual" ? 2 * N : N;

  /** hg peer sync from an empty table, checked, then again: it must have nothing to do. */
  const hgSync = (argv: readonly string[], key: string, stack: Stack) => {
    const first = sync(argv, stack);
    const want = `${routesOf(stack)} peers routed, 0 leases refused (registry revision 1) (${
      routesOf(stack)
    } changes)`;
    if (lastLine(first) !== want) {
      throw new Error(`${key} ${stack}: said "${lastLine(first)}", expected "${want}"`);
    }
    verify(expected(stack), `${key} ${stack}`);
    add(`${stack}/${key}`, first);
    const again = sync(argv, stack);
    if (!lastLine(again).startsWith("nothing to do: ")) {
      throw new Error(`${key} ${stack} again: said "${lastLine(again)}", expected nothing to do`);
    }
    verify(expected(stack), `${key} ${stack} again`);
    add(`${stack}/${key}Again`, again);
  };

  // Warm-up, not counted: file caches, and Deno's module cache for hg from source.
  for (const argv of [[hg], source]) {
    hgSync(argv, "warm-up", "dual");
    flush();
  }
  samples.clear();

  // The route path alone, in one process, as bench/routes_bench.ts measures IPv4's target:
  // observe + reconcile ("sync") + apply of N requests via the peer, under Bun when it is there.
  const installer = join(ROOT, "bench", "hg_install_routes.ts");
  const installerArgv = spawnSync("bun", ["--version"]).status === 0
    ? ["bun", installer]
    : scriptArgv(installer);
  const installInProcess = (family: 4 | 6) => {
    const r = run([...installerArgv, ...(family === 6 ? ["--ipv6"] : []), String(N)]);
    const p = JSON.parse(lastLine(r)) as { ms: number; planned: number; rejected: number };
    if (p.planned !== N || p.rejected !== 0 || routes104(family).size !== N) {
      throw new Error(`hg_install_routes.ts IPv${family}: ${lastLine(r)}`);
    }
    const key = `v${family}`;
    inProcess.set(key, [...(inProcess.get(key) ?? []), p.ms]);
  };

  const ways: Record<Stack, Record<string, () => void>> = {
    v6: {
      inProcess: () => installInProcess(6),
      hg: () => hgSync([hg], "hg", "v6"),
      src: () => hgSync(source, "src", "v6"),
      raw: () => {
        add("v6/raw", run(["ip", "-6", "-batch", "-"], batch6));
        verify(expected("v6"), "ip -6 -batch");
        // The floor of a sync with nothing to do: reading the routes back, once.
        add("v6/rawShow", run(["ip", "-6", "-j", "route", "show", "proto", "104"]));
      },
      peerAdd: () => {
        for (let i = 0; i < PEER_ADDS; i++) {
          const r = run(
            [hg, "peer", "add", v6Subnet(i), "--via", v6Gateway(i)],
            "/dev/null",
            hgEnv,
          );
          add("v6/peerAdd", r);
        }
        const got = routes104(6);
        if (got.size !== PEER_ADDS || got.get(v6Subnet(0)) !== v6Gateway(0)) {
          throw new Error(`hg peer add: ${got.size} IPv6 proto 104 routes, expected ${PEER_ADDS}`);
        }
      },
    },
    dual: {
      hg: () => hgSync([hg], "hg", "dual"),
      src: () => hgSync(source, "src", "dual"),
      raw: () => {
        const r4 = run(["ip", "-batch", "-"], batch4);
        const r6 = run(["ip", "-6", "-batch", "-"], batch6);
        add("dual/raw", { wallMs: r4.wallMs + r6.wallMs, cpuMs: r4.cpuMs + r6.cpuMs });
        verify(expected("dual"), "ip -batch + ip -6 -batch");
      },
      rawMixed: () => {
        add("dual/rawMixed", run(["ip", "-batch", "-"], batchMixed));
        verify(expected("dual"), "one ip -batch of both families");
      },
    },
    v4: {
      inProcess: () => installInProcess(4),
      hg: () => hgSync([hg], "hg", "v4"),
      raw: () => {
        add("v4/raw", run(["ip", "-batch", "-"], batch4));
        verify(expected("v4"), "ip -batch");
      },
    },
  };
  for (let rep = 0; rep < REPS; rep++) {
    for (const stack of STACKS) {
      const order = Object.keys(ways[stack]);
      for (let k = 0; k < order.length; k++) {
        flush();
        ways[stack][order[(rep + k) % order.length]]();
        await checkpoint();
      }
    }
    add("startup", run([hg, "--version"]));
    process.stderr.write(`repetition ${rep + 1}/${REPS} done\n`);
  }
  flush();

  // Where a sync's time goes: the phases of `hg peer sync`, in-process (bench/vxlan_sync.ts),
  // under Bun as the release build is when bun is there, else this runtime.
  const helper = join(ROOT, "bench", "vxlan_sync.ts");
  const bun = spawnSync("bun", ["--version"]).status === 0;
  const helperArgv = bun ? ["bun", helper] : scriptArgv(helper);
  const phases = new Map<string, number[]>();
  for (let rep = 0; rep < REPS; rep++) {
    for (const stack of STACKS) {
      flush();
      const r = run([...helperArgv, "phases", files[stack]], "/dev/null", hgEnv);
      const p = JSON.parse(lastLine(r)) as Phases;
      if (p.first.steps !== routesOf(stack) || p.first.refused !== 0 || p.again.steps !== 0) {
        throw new Error(`phases ${stack}: ${JSON.stringify(p)}`);
      }
      verify(expected(stack), `phases ${stack}`);
      for (const [name, s] of [["first", p.first], ["again", p.again]] as const) {
        for (
          const f of ["readMs", "observeMs", "planMs", "renderMs", "applyMs", "totalMs"] as const
        ) {
          const k = `${stack}/${name}/${f}`;
          phases.set(k, [...(phases.get(k) ?? []), s[f]]);
        }
      }
    }
    await checkpoint();
  }
  flush();

  report(phases, helperArgv, installerArgv);
}

const LABELS: Record<string, string> = {
  "v6/hg": "`hg peer sync` (release build)",
  "v6/hgAgain": "`hg peer sync` again, nothing to do (release)",
  "v6/src": "`hg peer sync` from source",
  "v6/srcAgain": "`hg peer sync` again from source",
  "v6/raw": "raw `ip -6 -batch -`",
  "v6/rawShow": "raw `ip -6 -j route show proto 104` (1,000 routes)",
  "v6/peerAdd": "`hg peer add`, one route per process (per call)",
  "dual/hg": "`hg peer sync` (release build)",
  "dual/hgAgain": "`hg peer sync` again, nothing to do (release)",
  "dual/src": "`hg peer sync` from source",
  "dual/srcAgain": "`hg peer sync` again from source",
  "dual/raw": "raw `ip -batch -` (IPv4) + raw `ip -6 -batch -` (IPv6)",
  "dual/rawMixed": "raw `ip -batch -`, both families in one",
  "startup": "`hg --version` (release: start-up floor)",
  "v4/hg": "`hg peer sync` (release build)",
  "v4/hgAgain": "`hg peer sync` again, nothing to do (release)",
  "v4/raw": "raw `ip -batch -`",
};

function report(
  phases: Map<string, number[]>,
  helperArgv: readonly string[],
  installerArgv: readonly string[],
): void {
  const rows: string[][] = [];
  const ratios: Record<string, { wall: number; cpu: number }> = {};
  for (const stack of STACKS) {
    const base = samples.get(`${stack}/raw`)!;
    const baseWall = median(base.wall);
    const baseCpu = median(base.cpu);
    const keys = [...samples.keys()].filter((k) => k.startsWith(`${stack}/`));
    if (stack === "v6") keys.push("startup");
    for (const key of keys) {
      const s = samples.get(key)!;
      const wall = median(s.wall);
      const cpu = median(s.cpu);
      ratios[key] = { wall: wall / baseWall, cpu: cpu / baseCpu };
      rows.push([
        STACK_NAMES[stack],
        key.endsWith("peerAdd")
          ? "1"
          : key === "startup"
          ? "-"
          : String(stack === "dual" ? 2 * N : N),
        LABELS[key],
        String(s.wall.length),
        fmtMs(wall),
        `${(wall / baseWall).toFixed(2)}×`,
        fmtMs(cpu),
        `${(cpu / baseCpu).toFixed(2)}×`,
      ]);
    }
  }
  console.log(
    "\n" + markdownTable(
      ["registry", "routes", "way", "runs", "wall ms", "wall vs raw", "CPU ms", "CPU vs raw"],
      rows,
    ),
  );

  const phaseRows: string[][] = [];
  for (const stack of STACKS) {
    for (const name of ["first", "again"] as const) {
      const m = (f: string) => fmtMs(median(phases.get(`${stack}/${name}/${f}`)!));
      phaseRows.push([
        STACK_NAMES[stack],
        name === "first" ? "from empty" : "again (0 steps)",
        m("readMs"),
        m("observeMs"),
        m("planMs"),
        m("renderMs"),
        m("applyMs"),
        m("totalMs"),
      ]);
    }
  }
  console.log(
    `\nwhere a sync's time goes (in-process, ${helperArgv.join(" ")} phases FILE; median ms):\n\n` +
      markdownTable(
        ["registry", "sync", "registry read", "observe", "plan", "render", "apply", "total"],
        phaseRows,
      ),
  );

  for (const stack of STACKS) {
    const inProcess = median(phases.get(`${stack}/first/totalMs`)!);
    const raw = median(samples.get(`${stack}/raw`)!.wall);
    console.log(
      `\n${STACK_NAMES[stack]}: hg's sync in-process (no start-up) ` +
        `${fmtMs(inProcess)} ms = ${(inProcess / raw).toFixed(2)}× the raw batch's wall`,
    );
  }
  for (const stack of ["v6", "v4"] as const) {
    const ms = median(inProcess.get(stack)!);
    const raw = median(samples.get(`${stack}/raw`)!.wall);
    console.log(
      `\n${STACK_NAMES[stack]}: the route path in-process (${
        installerArgv.join(" ")
      }: observe + reconcile + apply of ${N} requests, as bench/routes_bench.ts judges IPv4) ` +
        `${fmtMs(ms)} ms = ${(ms / raw).toFixed(2)}× the raw batch's wall`,
    );
  }
  for (const stack of ["v6", "dual"] as const) {
    const r = ratios[`${stack}/hg`];
    const met = r.wall <= 2 && r.cpu <= 2;
    console.log(
      `\ntarget "within 2× of the raw batch" (${
        stack === "v6" ? "IPv6-only, 1,000" : "dual-stack, 2,000"
      } routes, release build): ` +
        `${met ? "MET" : "NOT MET"} (wall ${r.wall.toFixed(2)}×, CPU ${r.cpu.toFixed(2)}×)`,
    );
  }
}

let failedToDelete: string[] = [];
await withCleanup(() => {
  failedToDelete = deleteOurs();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, async () => {
  if (deleteOurs().length > 0) throw new Error(`could not delete leftover ${HOST}/${PEER}`);
  await main();
});
if (failedToDelete.length > 0) {
  throw new Error(`namespaces left behind: ${failedToDelete.join(", ")}`);
}
