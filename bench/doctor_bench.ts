/**
 * Doctor benchmark, two parts. The probe: `hg doctor --to` with its probe on a 2-host lab,
 * healthy and with the peer's FORWARD dropping (target: under 1.5 s wall; the probe's wait is
 * bounded by its 1 s ping deadline), medians of `HGBENCH_PROBE_REPS` (default 10), next to a
 * floor of one answered `ping -c 1` between the containers (`HGBENCH_PROBE=0` skips it). Then
 * the static doctor on a host with 10,000 peer routes, judged as the whole command a user runs
 * (issue 15: at most 3× one `ip -j route show`): a scratch host `hgbench-dr` (uplink eth0
 * 10.0.12.11/22, peer end in `hgbench-dr-p`) gets `hg setup`, one container `hgbench-dr-c`, and
 * the 10,000 routes of a file registry of 10,000 leases (the first /24s of 100.64.0.0/10, via
 * 10.0.12.12-200). Every way runs as a process inside the host's namespace under bash's `time`
 * (wall, and CPU = user + sys of the process and all its children, from the same run), medians
 * of `HGBENCH_REPS` (default 15) runs in rotating order, next to floors measured in the same run:
 * one `ip -j route show` (the issue's floor), one `ip -j route show table all` (what doctor
 * reads: both families and every table, in one dump), and `hg --version` (start-up alone).
 * `HGBENCH_COMPARE="before=/path/hg,other=/path/hg2"` adds other hg binaries' `doctor` and
 * `doctor --store` to the same run (a build from before a change, say). With strace installed, the processes each way starts are
 * counted once (`strace -f -e trace=execve`).
 *
 * Run as root: `deno run -A bench/doctor_bench.ts` (or `bun bench/doctor_bench.ts`). Uses the
 * compiled `dist/hg` when present (or `HG_BIN`), otherwise hg from source. Every namespace it
 * makes is named `hgbench-dr*` (`HGBENCH_NETNS` names another `hgbench-` prefix; the probe's
 * lab: `hgbenchdr-*`) and deleted at the end.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
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
  timed,
  withCleanup,
  withNamespaces,
} from "./bench_util.ts";
import { expectedRoutes, writeSyncRegistryFile } from "./registry_sync.ts";

/** The host's namespace (`HGBENCH_NETNS`, a name under hgbench-, lets two runs share a machine). */
const HOST = process.env.HGBENCH_NETNS ?? "hgbench-dr";
if (!HOST.startsWith("hgbench-")) throw new Error(`HGBENCH_NETNS=${HOST}: not a hgbench- name`);
const PEER = `${HOST}-p`;
const CONTAINER = `${HOST}-c`;
const ROUTES = Number(process.env.HGBENCH_ROUTES ?? 10_000);
const REPS = Number(process.env.HGBENCH_REPS ?? 15);
const TARGET = "100.64.3.2";
/** Issue 15: the static doctor costs at most this many times one `ip -j route show`. */
const FLOOR_TARGET = 3;

const hg = hgCommand(["doctor"]);
/** Other builds timed in the same run: `label=path`, comma-separated. */
const compare = (process.env.HGBENCH_COMPARE ?? "").split(",").filter((x) => x !== "").map(
  (item) => {
    const at = item.indexOf("=");
    if (at <= 0) throw new Error(`HGBENCH_COMPARE: ${item} is not label=path`);
    return { label: item.slice(0, at), bin: item.slice(at + 1) };
  },
);
const dir = mkdtempSync(join(tmpdir(), "hgbench-doctor-"));
const env = { HG_RUN_DIR: join(dir, "run") };
const registry = join(dir, "registry.json");
const snapshot = join(dir, "snapshot.json");

/** `hg ARGS` inside the host namespace. */
const inHost = (args: string[], argv = hg.argv) => inNetns(HOST, [...argv, ...args]);

/** One way to time: its name, its argv, and whether it is judged against the target. */
interface Way {
  readonly name: string;
  readonly argv: [string, string[]];
  readonly judged?: boolean;
}

const ways: Way[] = [
  { name: "floor: ip -j route show", argv: inNetns(HOST, ["ip", "-j", "route", "show"]) },
  {
    name: "floor: ip -j route show table all",
    argv: inNetns(HOST, ["ip", "-j", "route", "show", "table", "all"]),
  },
  { name: "hg --version (start-up)", argv: inHost(["--version"]) },
  { name: "hg doctor (whole host)", argv: inHost(["doctor"]), judged: true },
  {
    name: `hg doctor --no-probe --to ${TARGET} --from ${CONTAINER}`,
    argv: inHost(["doctor", "--no-probe", "--to", TARGET, "--from", CONTAINER]),
  },
  {
    name: `hg doctor --store FILE (${ROUTES.toLocaleString("en-US")} leases)`,
    argv: inHost(["doctor", "--store", registry]),
    judged: true,
  },
  {
    name: `hg doctor --snapshot FILE --to ${TARGET}`,
    argv: inHost(["doctor", "--snapshot", snapshot, "--to", TARGET, "--from", CONTAINER]),
  },
  ...compare.flatMap(({ label, bin }) => [
    { name: `${label}: hg doctor`, argv: inHost(["doctor"], [bin]) },
    {
      name: `${label}: hg doctor --store FILE`,
      argv: inHost(["doctor", "--store", registry], [bin]),
    },
  ]),
];

/** Wall and CPU (user + sys, children included) of one run. */
interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** Runs `argv` under bash's `time`, output thrown away; it must exit 0 (doctor finds nothing). */
function timeIt([cmd, args]: [string, string[]]): Sample {
  const err = join(dir, "stderr");
  const r = spawnSync(
    "bash",
    ["-c", `{ time "$@" >/dev/null 2>"$HGB_ERR"; } 2>&1; echo "rc=$?"`, "bash", cmd, ...args],
    { encoding: "utf8", env: { ...process.env, ...env, TIMEFORMAT: "%3R %3U %3S", HGB_ERR: err } },
  );
  const m = /^([\d.]+) ([\d.]+) ([\d.]+)\nrc=(\d+)\s*$/.exec(r.stdout);
  if (!m || m[4] !== "0") {
    throw new Error(`${[cmd, ...args].join(" ")}: ${r.stdout.trim()} ${readFileSync(err, "utf8")}`);
  }
  return { wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000 };
}

/** The processes `argv` starts (itself and nsenter included), by strace; undefined without it. */
function processCount([cmd, args]: [string, string[]]): number | undefined {
  const out = join(dir, "strace");
  const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=execve", "-o", out, cmd, ...args], {
    env: { ...process.env, ...env },
  });
  if (r.error || r.status !== 0) return undefined;
  // One successful execve per process (PATH lookups that miss fail with ENOENT); strace splits
  // a call another process interrupted into "<unfinished ...>" and "<... execve resumed>) = 0".
  return readFileSync(out, "utf8").split("\n").filter((l) => /execve.*= 0$/.test(l)).length;
}

const PROBE_REPS = Number(process.env.HGBENCH_PROBE_REPS ?? 10);
const LAB = "hgbenchdr";

/** `hg doctor --to` with the probe across a 2-host lab, healthy and with a drop on the peer. */
async function probeBench(): Promise<string[][]> {
  const rows: string[][] = [];
  const lab = (args: string[]) => must(hg.argv[0], [...hg.argv.slice(1), "lab", ...args]);
  // hg lab down removes the lab's namespaces and files, also a lab left by a killed run.
  const down = () => void timed(hg.argv[0], [...hg.argv.slice(1), "lab", "down", "--name", LAB]);
  down();
  await withCleanup(down, () => {
    lab(["up", "--nodes", "2", "--name", LAB, "--store", "file"]);
    const address = (host: string) =>
      (JSON.parse(
        must(...inNetns(host, [...hg.argv, "status", "--json"])).stdout,
      ) as { containers: { address: string }[] }).containers[0].address.split("/")[0];
    const target = address(`${LAB}-h2`);
    const doctor = inNetns(`${LAB}-h1`, [
      ...hg.argv,
      "doctor",
      "--json",
      "--store",
      `/run/hg/lab-${LAB}/subnets.json`,
      "--from",
      `${LAB}-h1-c1`,
      "--to",
      target,
      "--peer-netns",
      `${LAB}-h2`,
    ]);
    const ping = inNetns(`${LAB}-h1-c1`, ["ping", "-n", "-c", "1", "-W", "1", target]);
    const sample = (argv: [string, string[]], code: number) => {
      timed(...argv); // warm-up
      const ms: number[] = [];
      for (let i = 0; i < PROBE_REPS; i++) {
        const r = timed(...argv);
        if (r.code !== code) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
        ms.push(r.ms);
      }
      return ms;
    };
    const row = (name: string, ms: number[], probeMs?: number[]) =>
      rows.push([
        name,
        fmtMs(median(ms)),
        fmtMs(Math.max(...ms)),
        probeMs ? fmtMs(median(probeMs)) : "-",
      ]);
    row("floor: one answered ping -c 1 between the containers", sample(ping, 0));
    const probeMs: number[] = [];
    const healthy = sample(doctor, 0);
    for (let i = 0; i < 3; i++) {
      probeMs.push(JSON.parse(timed(...doctor).stdout).probe.elapsedMs);
    }
    row("hg doctor --to (probe), healthy: exit 0", healthy, probeMs);
    must("nsenter", [`--net=/run/netns/${LAB}-h2`, "iptables", "-P", "FORWARD", "DROP"]);
    const dropMs: number[] = [];
    const dropping = sample(doctor, 1);
    for (let i = 0; i < 3; i++) {
      dropMs.push(JSON.parse(timed(...doctor).stdout).probe.elapsedMs);
    }
    row("hg doctor --to (probe), peer FORWARD drops: exit 1", dropping, dropMs);
  });
  return rows;
}

if (process.env.HGBENCH_PROBE !== "0") {
  const probeRows = await probeBench();
  console.log(`# hg doctor --to with its probe (2-host lab, 4 namespaces watched)\n`);
  console.log(machineLine());
  console.log(`hg: ${hg.what}; medians of ${PROBE_REPS} runs (probe ms: median of 3 more)\n`);
  console.log(markdownTable(["what", "median ms", "max ms", "probe ms (its own)"], probeRows));
  console.log("");
}

const samples = new Map<string, Sample[]>(ways.map((w) => [w.name, []]));
const processes = new Map<string, number | undefined>();
try {
  await withNamespaces([HOST, PEER, CONTAINER], async () => {
    buildUplinkPair(HOST, PEER);
    must(...inHost(["setup", "--subnet", "1.1.1.0/24"]), "", env);
    must(...inHost(["netns", "add", CONTAINER, "--ip", "1.1.1.2"]), "", env);
    const routes = expectedRoutes(ROUTES);
    must(
      "ip",
      ["-n", HOST, "-batch", "-"],
      [...routes].map(([dst, via]) => `route replace ${dst} via ${via} dev eth0 proto 104\n`).join(
        "",
      ),
    );
    writeSyncRegistryFile(registry, ROUTES);
    writeFileSync(snapshot, must(...inHost(["snapshot", "--store", registry]), "", env).stdout);
    // Warm the page cache and the runtime's caches (not measured); count each way's processes.
    for (const way of ways) {
      timeIt(way.argv);
      processes.set(way.name, processCount(way.argv));
    }
    for (let rep = 0; rep < REPS; rep++) {
      await checkpoint();
      for (let k = 0; k < ways.length; k++) {
        const way = ways[(k + rep) % ways.length];
        samples.get(way.name)!.push(timeIt(way.argv));
      }
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const med = (name: string, key: keyof Sample) => median(samples.get(name)!.map((s) => s[key]));
const [floorWall, floorCpu] = [med(ways[0].name, "wallMs"), med(ways[0].name, "cpuMs")];
console.log(`# hg doctor on a host with ${ROUTES.toLocaleString("en-US")} routes\n`);
console.log(machineLine());
console.log(
  `hg: ${hg.what}${compare.map((c) => `; ${c.label}: ${c.bin}`).join("")}; ${REPS} runs each, ` +
    "alternating, " +
    "medians; the whole command inside the host's namespace (nsenter included, for the floors " +
    "too); CPU = user + sys of the process and its children, from bash's time\n",
);
console.log(markdownTable(
  [
    "what",
    "processes",
    "wall ms",
    "CPU ms",
    "wall × ip -j route show",
    "CPU × ip -j route show",
    `target ≤ ${FLOOR_TARGET}×`,
  ],
  ways.map((w) => {
    const [wall, cpu] = [med(w.name, "wallMs"), med(w.name, "cpuMs")];
    const met = cpu / floorCpu <= FLOOR_TARGET && wall / floorWall <= FLOOR_TARGET;
    return [
      w.name,
      String(processes.get(w.name) ?? "-"),
      fmtMs(wall),
      fmtMs(cpu),
      (wall / floorWall).toFixed(1),
      (cpu / floorCpu).toFixed(1),
      w.judged ? (met ? "met" : "NOT MET") : "",
    ];
  }),
));
