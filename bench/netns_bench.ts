/**
 * Container creation benchmark (issue 15: `hg netns add` ≤ 2× the floor): `hg netns add`
 * against two ways of doing the same by hand, 10 containers each way (the ways alternate), on a
 * host namespace `hgbench-h` prepared with `hg setup --subnet 1.1.1.0/24`:
 *
 * - the floor: the fewest processes that can do it, `ip netns add C`, one `ip -batch` of the
 *   host-side lines and one `ip -n C -batch` of the container's lines;
 * - manual: the seed's 10 `ip` processes, one per step.
 *
 * Each way runs inside the host namespace as a child of bash's `time` (bash and nsenter are not
 * timed): wall time, and CPU = user + sys of the processes it starts (the kernel's work for the
 * namespace and veth is sys time of the process that asks for it). Medians per container.
 *
 * Run as root: `deno run -A bench/netns_bench.ts` (or `bun bench/netns_bench.ts`). Uses the
 * compiled `dist/hg` when present (or `HG_BIN`), otherwise hg from source; `HGBENCH_BASE_BIN`
 * adds an earlier build as a fourth way. `HGBENCH_REPS` containers each way (default 10). Every namespace it
 * makes is named `hgbench-*` (`HGBENCH_NETNS=hgbench-xy-` names them `hgbench-xy-*`, for runs
 * beside another benchmark's) and deleted at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  checkpoint,
  fmtMs,
  hgCommand,
  inNetns,
  machineLine,
  markdownTable,
  median,
  must,
  NETNS_PREFIX,
  timed,
  withNamespaces,
} from "./bench_util.ts";

const PREFIX = process.env.HGBENCH_NETNS ?? NETNS_PREFIX;
if (!PREFIX.startsWith(NETNS_PREFIX)) {
  throw new Error(`HGBENCH_NETNS must start with ${NETNS_PREFIX}`);
}
const HOST = `${PREFIX}h`;
const BRIDGE = "cni0";
const GATEWAY = "1.1.1.1";
const COUNT = Number(process.env.HGBENCH_REPS ?? 10);
if (!Number.isInteger(COUNT) || COUNT < 1 || COUNT > 40) {
  throw new Error("HGBENCH_REPS must be a whole number 1-40");
}
/** What the issue asks: hg netns add at most this many times the floor. */
const TARGET = 2;

/** An earlier build of hg, timed the same way in the same runs (before/after a change). */
const BASE_BIN = process.env.HGBENCH_BASE_BIN;

/** The ways, each with its containers' names, host veths and addresses (from 1.1.1.10 on). */
const ALL_WAYS = [
  { key: "hg", name: (k: number) => `${PREFIX}c${k}`, address: (k: number) => `1.1.1.${10 + k}` },
  {
    key: "base",
    name: (k: number) => `${PREFIX}b${k}`,
    address: (k: number) => `1.1.1.${60 + k}`,
  },
  {
    key: "floor",
    name: (k: number) => `${PREFIX}f${k}`,
    veth: (k: number) => `hgbfv${k}`,
    address: (k: number) => `1.1.1.${110 + k}`,
  },
  {
    key: "manual",
    name: (k: number) => `${PREFIX}m${k}`,
    veth: (k: number) => `hgbmv${k}`,
    address: (k: number) => `1.1.1.${160 + k}`,
  },
] as const;
const WAYS = ALL_WAYS.filter((w) => w.key !== "base" || BASE_BIN);

/**
 * The floor for container `c` with host-side veth `veth` and address `addr`, run inside the
 * host namespace: three processes, `ip netns add`, the host's batch, the container's batch.
 */
export function floorScript(c: string, veth: string, addr: string): string {
  const host = [
    `link add ${veth} type veth peer name eth0 netns ${c}`,
    `link set ${veth} master ${BRIDGE} up`,
  ];
  const container = [
    `addr add ${addr}/24 dev eth0`,
    "link set lo up",
    "link set eth0 up",
    `route add default via ${GATEWAY} dev eth0`,
  ];
  // Here-documents: bash writes them to a pipe itself, with no process of their own.
  return [
    `ip netns add ${c}`,
    "ip -batch - <<'EOF'",
    ...host,
    "EOF",
    `ip -n ${c} -batch - <<'EOF'`,
    ...container,
    "EOF",
  ].join("\n");
}

/**
 * The manual way, run inside the host namespace: 10 `ip` processes, the seed's 8 configuration
 * steps plus making sure the bridge is up and reading the address back (hg observes the host
 * before and knows the result after).
 */
export function manualCommands(c: string, veth: string, addr: string): string[][] {
  return [
    ["netns", "add", c],
    ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", c],
    ["link", "set", veth, "master", BRIDGE],
    ["link", "set", veth, "up"],
    ["link", "set", BRIDGE, "up"],
    ["-n", c, "addr", "add", `${addr}/24`, "dev", "eth0"],
    ["-n", c, "link", "set", "lo", "up"],
    ["-n", c, "link", "set", "eth0", "up"],
    ["-n", c, "route", "add", "default", "via", GATEWAY, "dev", "eth0"],
    ["-n", c, "-j", "addr", "show", "dev", "eth0"],
  ];
}

interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** Runs `script` with bash inside the host namespace under `time`; it must succeed. */
function timeInHost(script: string, env: Record<string, string>): Sample {
  const timedScript = `{ time { ${script}\n} >/dev/null 2>"$HGBENCH_ERR"; } 2>&1; echo "rc=$?"`;
  const err = join(work, "err");
  const [cmd, args] = inNetns(HOST, ["bash", "-c", timedScript]);
  const r = timed(cmd, args, undefined, {
    ...env,
    TIMEFORMAT: "%3R %3U %3S",
    HGBENCH_ERR: err,
  });
  const m = /^([\d.]+) ([\d.]+) ([\d.]+)\nrc=(\d+)\s*$/.exec(r.stdout);
  if (!m || m[4] !== "0") {
    const why = timed("cat", [err]).stdout.trim();
    throw new Error(`${script}: ${r.stdout.trim()} ${r.stderr.trim()} ${why}`);
  }
  return { wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000 };
}

/** A word for bash, single-quoted. */
const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** Fails loudly unless container `c` has `addr` on an up eth0 and a default route via the bridge. */
function verifyContainer(c: string, addr: string): void {
  type Addr = { operstate: string; flags: string[]; addr_info: { local: string }[] };
  const [eth0] = JSON.parse(
    must("ip", ["-n", c, "-j", "addr", "show", "dev", "eth0"]).stdout,
  ) as Addr[];
  if (!eth0?.flags.includes("UP") || !eth0.addr_info.some((a) => a.local === addr)) {
    throw new Error(`container ${c}: eth0 is not up with ${addr}`);
  }
  const routes = JSON.parse(must("ip", ["-n", c, "-j", "route", "show", "default"]).stdout) as {
    gateway?: string;
  }[];
  if (!routes.some((r) => r.gateway === GATEWAY)) {
    throw new Error(`container ${c}: no default route via ${GATEWAY}`);
  }
}

/** Fails unless `from` gets an answer from `to`; both are this benchmark's own namespaces. */
function verifyPing(from: string, to: string): void {
  const [cmd, args] = inNetns(from, ["ping", "-n", "-c", "1", "-W", "2", to]);
  if (timed(cmd, args).code !== 0) throw new Error(`no ping answer from ${to} in ${from}`);
}

const work = mkdtempSync(join(tmpdir(), "hgbench-netns-"));

async function main(): Promise<void> {
  const hg = hgCommand(["netns", "add"]);
  // hg's lock files go to a directory of our own, removed at the end, not to /run/hg.
  const env = { HG_RUN_DIR: join(work, "run") };
  const hgIn = (args: string[]) => {
    const [cmd, rest] = inNetns(HOST, [...hg.argv, ...args]);
    return must(cmd, rest, undefined, env);
  };
  console.log(machineLine());
  console.log(`hg: ${hg.argv.join(" ")}, ${hg.what}`);
  console.log(
    `containers: ${COUNT} each way, alternating; medians per container; each way runs inside ` +
      `${HOST} under bash's time (CPU = user + sys of the processes it starts)\n`,
  );
  console.log("the floor (3 processes), for container C with host veth V and address X:");
  console.log(floorScript("C", "V", "1.1.1.X").replace(/^/gm, "    "));
  console.log("\nmanual (one `ip` process each):");
  for (const argv of manualCommands("C", "V", "1.1.1.X")) console.log(`    ip ${argv.join(" ")}`);
  console.log();

  must("ip", ["netns", "add", HOST]);
  must("ip", ["-n", HOST, "link", "set", "lo", "up"]);
  hgIn(["setup", "--subnet", "1.1.1.0/24"]);
  // Brings the executable into the page cache so the first timed run does not read it from disk.
  hgIn(["netns", "ls"]);

  const [byHg, byBase, byFloor, byHand] = ALL_WAYS;
  const hgAdd = (argv: readonly string[], k: number, way: typeof byHg | typeof byBase) =>
    timeInHost(
      [...argv, "netns", "add", way.name(k), "--ip", way.address(k)].map(quote).join(" "),
      env,
    );
  const run: Record<string, (k: number) => Sample> = {
    hg: (k) => hgAdd(hg.argv, k, byHg),
    base: (k) => hgAdd([BASE_BIN!], k, byBase),
    floor: (k) => timeInHost(floorScript(byFloor.name(k), byFloor.veth(k), byFloor.address(k)), {}),
    manual: (k) =>
      timeInHost(
        manualCommands(byHand.name(k), byHand.veth(k), byHand.address(k))
          .map((argv) => ["ip", ...argv].map(quote).join(" ")).join("\n"),
        {},
      ),
  };
  const samples = new Map<string, Sample[]>(WAYS.map((w) => [w.key, []]));
  for (let k = 0; k < COUNT; k++) {
    for (let j = 0; j < WAYS.length; j++) {
      const way = WAYS[(k + j) % WAYS.length];
      samples.get(way.key)!.push(run[way.key](k));
      verifyContainer(way.name(k), way.address(k));
    }
    await checkpoint();
  }
  // Every kind of container is really on the bridge: each reaches the gateway and the others.
  for (const way of WAYS) verifyPing(way.name(0), GATEWAY);
  verifyPing(byHg.name(0), byFloor.address(0));
  verifyPing(byHg.name(0), byHand.address(0));

  const floor = samples.get("floor")!;
  const floorWall = median(floor.map((s) => s.wallMs));
  const floorCpu = median(floor.map((s) => s.cpuMs));
  const label: Record<string, string> = {
    hg: "`hg netns add` (one process, incl. start-up)",
    base: `\`hg netns add\`, HGBENCH_BASE_BIN=${BASE_BIN}`,
    floor: "floor: `ip netns add` + 2 `ip -batch`",
    manual: "manual: 10 `ip` processes",
  };
  const rows = WAYS.map(({ key }) => {
    const s = samples.get(key)!;
    const wall = median(s.map((x) => x.wallMs));
    const cpu = median(s.map((x) => x.cpuMs));
    return [
      label[key],
      String(s.length),
      fmtMs(wall),
      fmtMs(Math.min(...s.map((x) => x.wallMs))),
      fmtMs(Math.max(...s.map((x) => x.wallMs))),
      fmtMs(cpu),
      `${(wall / floorWall).toFixed(2)}×`,
      `${(cpu / floorCpu).toFixed(2)}×`,
      key === "hg"
        ? (wall / floorWall <= TARGET && cpu / floorCpu <= TARGET ? "met" : "NOT MET")
        : "",
    ];
  });
  console.log(markdownTable(
    [
      "way",
      "containers",
      "wall ms",
      "min ms",
      "max ms",
      "CPU ms",
      "wall vs floor",
      "CPU vs floor",
      `target ≤ ${TARGET}×`,
    ],
    rows,
  ));
}

const containers = Array.from({ length: COUNT }, (_, k) => WAYS.map((w) => w.name(k))).flat();
try {
  // Containers first: deleting them removes their veths from the host namespace with them.
  await withNamespaces([...containers, HOST], main);
} finally {
  rmSync(work, { recursive: true, force: true });
}
const made = new Set([...containers, HOST]);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0])
  .filter((name) => made.has(name));
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
