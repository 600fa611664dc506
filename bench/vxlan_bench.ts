/**
 * VXLAN benchmark, two parts:
 *
 * 1. Throughput: TCP (`iperf3 -c ... -t 5 -J`) container to container over host-gw (h1 → h2,
 *    one segment) and over VXLAN (h1 → h3, across a router namespace), on hosts set up with
 *    hg's own commands from a `{"Type":"vxlan","DirectRouting":true}` registry; with the layers
 *    below as baselines: one veth pair between two namespaces, and the underlay host to host
 *    (same segment, and across the router). Medians of several repetitions, order rotating.
 * 2. `hg peer sync` of 1,000 off-link VXLAN peers in a scratch host namespace, from empty and
 *    again (must change nothing), as a whole CLI process, against the raw floor: the same
 *    `ip -batch -` and `bridge -batch -` lines applied to an equally empty namespace (the kernel
 *    state after both must be the same); the same for 1,000 on-link host-gw peers; and hg's
 *    in-process phases (`bench/vxlan_sync.ts`) to tell where the time goes.
 *
 * Run as root: `deno run -A bench/vxlan_bench.ts` (or `bun bench/vxlan_bench.ts`).
 * `HGBENCH_ONLY=throughput|sync` runs one part, `HGBENCH_REPS` sets the throughput repetitions
 * (default 5), `HGBENCH_SYNC_REPS` the sync repetitions (default 15), `HGBENCH_SECONDS` the iperf3
 * time (default 5), `HG_BIN` the hg to time (default: `dist/hg` when it knows VXLAN, else hg from
 * source), `HGBENCH_HG_ALSO` a second hg executable timed beside it in the sync part. Everything happens in namespaces named `hgbench-v*`, removed at the end with every
 * iperf3 server, also on failure and on Ctrl-C.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { addSegmentHost, buildRouter, type Segment } from "../tests/support/segments.ts";
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
  ROOT,
  scriptArgv,
  sleepChecked,
  timed,
  withNamespaces,
} from "./bench_util.ts";
import {
  DEVICE,
  DEVICE_MTU,
  OFFLINK_NETWORK,
  type PeerKind,
  type Phases,
  rawLines,
  ROUTER_ADDRESS,
  SYNC_NODE,
  type SyncPhases,
  writeRegistry,
} from "./vxlan_sync.ts";

const ONLY = process.env.HGBENCH_ONLY;
if (ONLY !== undefined && ONLY !== "throughput" && ONLY !== "sync") {
  throw new Error("HGBENCH_ONLY must be throughput or sync");
}
function wholeNumber(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number >= 1`);
  return value;
}
const REPS = wholeNumber("HGBENCH_REPS", 5);
const SYNC_REPS = wholeNumber("HGBENCH_SYNC_REPS", 15);
const SECONDS = wholeNumber("HGBENCH_SECONDS", 5);
/** Peers in the sync part. */
const N = 1_000;

// Throughput lab: router, three hosts with a container each, and a lone veth pair.
const UL = `${NETNS_PREFIX}vul`;
const HOSTS = ["h1", "h2", "h3"] as const;
type HostName = typeof HOSTS[number];
const host = (h: HostName) => `${NETNS_PREFIX}v${h}`;
const container = (h: HostName) => `${host(h)}-c1`;
const VETH_A = `${NETNS_PREFIX}va`;
const VETH_B = `${NETNS_PREFIX}vb`;
const HOST_SEGMENT: Record<HostName, { seg: Segment; address: string }> = {
  h1: { seg: "a", address: "10.0.12.11" },
  h2: { seg: "a", address: "10.0.12.12" },
  h3: { seg: "b", address: "10.0.20.13" },
};
// Sync: a scratch host and its uplink's other end.
const SYNC_HOST = `${NETNS_PREFIX}vs`;
const SYNC_PEER = `${NETNS_PREFIX}vt`;
const ALL_NAMESPACES = [
  UL,
  ...HOSTS.map(host),
  ...HOSTS.map(container),
  VETH_A,
  VETH_B,
  SYNC_HOST,
  SYNC_PEER,
];

const tempDirs = new Set<string>();
const servers = new Set<ChildProcess>();
// A run stopped by a second signal exits without its finally blocks.
process.on("exit", () => {
  for (const s of servers) stopServer(s);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function stopServer(server: ChildProcess): void {
  servers.delete(server);
  if (server.exitCode !== null || server.signalCode !== null || server.pid === undefined) return;
  try {
    process.kill(server.pid, "SIGKILL"); // nsenter execs iperf3: the pid is iperf3's
  } catch { /* gone already */ }
}

/** Runs a shell command line inside namespace `ns` (nsenter, the network namespace only). */
function sh(ns: string, line: string): string {
  const [cmd, args] = inNetns(ns, ["sh", "-ec", line]);
  return must(cmd, args).stdout;
}

function ipJson<T>(ns: string, args: readonly string[]): T {
  return JSON.parse(must("ip", ["-n", ns, "-j", ...args]).stdout || "[]") as T;
}

/** The hg to use, and a check that it knows VXLAN (an older `dist/hg` does not). */
function chooseHg(): { argv: string[]; what: string } {
  const hg = hgCommand(["peer", "sync"]);
  const help = timed(hg.argv[0], [...hg.argv.slice(1), "subnet", "config", "--help"]).stdout;
  if (help.includes("--backend")) return hg;
  if (process.env.HG_BIN) throw new Error(`HG_BIN=${process.env.HG_BIN} knows no --backend vxlan`);
  const source = scriptArgv(join(ROOT, "cli", "main.ts"));
  return { argv: source, what: `from source: ${source.join(" ")} (${hg.what} knows no VXLAN)` };
}

// ---------------------------------------------------------------------------------------------
// Part 1: throughput

interface Lab {
  readonly store: string;
  readonly env: Record<string, string>;
  /** Each host's container address. */
  readonly containers: Record<HostName, string>;
}

function hgIn(hg: string[], ns: string, args: readonly string[], env: Record<string, string>) {
  const [cmd, rest] = inNetns(ns, [...hg, ...args]);
  return must(cmd, rest, undefined, env).stdout;
}

/** Builds the two segments, the router, the hosts (with hg) and the veth pair. */
function buildLab(hg: string[], dir: string): Lab {
  const env = { HG_RUN_DIR: join(dir, "run") };
  const store = join(dir, "subnets.json");
  buildRouter(UL);
  for (const h of HOSTS) {
    const { seg, address } = HOST_SEGMENT[h];
    addSegmentHost(UL, host(h), `ul-${h}`, seg, address);
  }
  hgIn(hg, host("h1"), [
    "subnet",
    "config",
    "--store",
    store,
    "--network",
    "1.1.0.0/16",
    "--backend",
    "vxlan",
    "--direct-routing",
  ], env);
  for (const h of HOSTS) {
    hgIn(hg, host(h), [
      "setup",
      "--store",
      store,
      "--node",
      h,
      "--iface",
      "eth0",
      "--subnet-file",
      join(dir, `${h}.env`),
    ], env);
    hgIn(hg, host(h), ["netns", "add", container(h)], env);
  }
  for (const h of HOSTS) {
    hgIn(hg, host(h), ["peer", "sync", "--store", store, "--node", h], env);
  }
  // The plain veth pair: the cheapest path between two namespaces.
  must("ip", ["netns", "add", VETH_A]);
  must("ip", ["netns", "add", VETH_B]);
  sh(
    VETH_A,
    `ip link add eth0 type veth peer name eth0 netns ${VETH_B} && ` +
      `ip addr add 10.9.0.1/24 dev eth0 && ip link set eth0 up && ip link set lo up`,
  );
  sh(VETH_B, `ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up && ip link set lo up`);

  const containers = {} as Record<HostName, string>;
  for (const h of HOSTS) {
    const [eth0] = ipJson<{ addr_info: { local: string }[] }[]>(container(h), [
      "-4",
      "addr",
      "show",
      "dev",
      "eth0",
    ]);
    containers[h] = eth0.addr_info[0].local;
  }
  return { store, env, containers };
}

function mtuOf(ns: string, dev: string): number {
  return ipJson<{ mtu: number }[]>(ns, ["link", "show", "dev", dev])[0].mtu;
}

/** Checks what the lab must be before anything is measured; returns lines that say so. */
function checkLab(hg: string[], lab: Lab): string[] {
  const status = JSON.parse(hgIn(hg, host("h1"), ["status", "--json"], lab.env)) as {
    peers: { peer: string; mode: string }[];
  };
  const modes = Object.fromEntries(status.peers.map((p) => [p.peer, p.mode]));
  if (modes[HOST_SEGMENT.h2.address] !== "host-gw" || modes[HOST_SEGMENT.h3.address] !== "vxlan") {
    throw new Error(`h1's peers are not h2 host-gw and h3 vxlan: ${JSON.stringify(status.peers)}`);
  }
  const lines: string[] = [];
  for (const h of HOSTS) {
    const mtus = {
      [`${h} ${DEVICE}`]: mtuOf(host(h), DEVICE),
      [`${h} cni0`]: mtuOf(host(h), "cni0"),
      [`${h}-c1 eth0`]: mtuOf(container(h), "eth0"),
    };
    for (const [what, mtu] of Object.entries(mtus)) {
      if (mtu !== DEVICE_MTU) throw new Error(`MTU of ${what} is ${mtu}, expected ${DEVICE_MTU}`);
    }
  }
  lines.push(
    `MTU ${DEVICE_MTU} on every host's ${DEVICE} and cni0 and every container's eth0 (checked)`,
  );
  // A full-size packet with DF crosses the tunnel; one byte more does not fit.
  const df = (size: number) => {
    const [cmd, args] = inNetns(container("h1"), [
      "ping",
      "-n",
      "-c",
      "1",
      "-W",
      "2",
      "-M",
      "do",
      "-s",
      String(size),
      lab.containers.h3,
    ]);
    return timed(cmd, args).code === 0;
  };
  if (timed("ping", ["-V"]).code === 0) {
    const fits = df(DEVICE_MTU - 28);
    const over = df(DEVICE_MTU - 27);
    if (!fits || over) {
      throw new Error(`DF ping h1-c1 → h3-c1: ${DEVICE_MTU - 28} bytes ${fits}, +1 ${over}`);
    }
    lines.push(
      `DF ping h1-c1 → h3-c1 over VXLAN: ${DEVICE_MTU - 28} bytes of payload pass, ` +
        `${DEVICE_MTU - 27} do not (checked)`,
    );
  }
  return lines;
}

/** One way between two namespaces. */
interface Path {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly address: string;
  /** The sending interface, whose MTU the table shows. */
  readonly dev: string;
  /** Whether h1's VXLAN device must carry this path's packets (true), none of them (false). */
  readonly tunnelled?: boolean;
}

function paths(lab: Lab): Path[] {
  return [
    {
      name: "veth pair (two namespaces)",
      from: VETH_A,
      to: VETH_B,
      address: "10.9.0.2",
      dev: "eth0",
    },
    {
      name: "underlay, same segment (h1 → h2 hosts)",
      from: host("h1"),
      to: host("h2"),
      address: HOST_SEGMENT.h2.address,
      dev: "eth0",
      tunnelled: false,
    },
    {
      name: "underlay, across the router (h1 → h3 hosts)",
      from: host("h1"),
      to: host("h3"),
      address: HOST_SEGMENT.h3.address,
      dev: "eth0",
      tunnelled: false,
    },
    {
      name: "host-gw, container → container (h1 → h2)",
      from: container("h1"),
      to: container("h2"),
      address: lab.containers.h2,
      dev: "eth0",
      tunnelled: false,
    },
    {
      name: "VXLAN, container → container (h1 → h3)",
      from: container("h1"),
      to: container("h3"),
      address: lab.containers.h3,
      dev: "eth0",
      tunnelled: true,
    },
  ];
}

/** Starts `iperf3 -s` in `ns` and waits until it listens. */
async function startServer(ns: string): Promise<void> {
  const [cmd, args] = inNetns(ns, ["iperf3", "-s"]);
  const server = spawn(cmd, args, { stdio: "ignore" });
  servers.add(server);
  const [ss, ssArgs] = inNetns(ns, ["ss", "-Hltn", "sport = :5201"]);
  for (let waited = 0; waited < 5000; waited += 50) {
    if (server.exitCode !== null) throw new Error(`iperf3 -s in ${ns} exited ${server.exitCode}`);
    if (timed(ss, ssArgs).stdout.trim() !== "") return;
    await sleepChecked(50);
  }
  throw new Error(`iperf3 -s in ${ns} does not listen after 5 s`);
}

/** What one iperf3 run reported. */
interface Sample {
  readonly gbps: number;
  readonly retransmits: number;
  readonly mss: number;
  /** CPU of the sending and the receiving iperf3, in % of one core (iperf3's own figures). */
  readonly senderCpu: number;
  readonly receiverCpu: number;
  /** Packets h1's VXLAN device sent during the run. */
  readonly tunnelPackets: number;
}

function tunnelTx(): number {
  const [link] = ipJson<{ stats64: { tx: { packets: number } } }[]>(host("h1"), [
    "-s",
    "link",
    "show",
    "dev",
    DEVICE,
  ]);
  return link.stats64.tx.packets;
}

function iperf(path: Path): Sample {
  const before = tunnelTx();
  const [cmd, args] = inNetns(path.from, [
    "iperf3",
    "-c",
    path.address,
    "-t",
    String(SECONDS),
    "-J",
  ]);
  const r = timed(cmd, args);
  const tunnelPackets = tunnelTx() - before;
  let out: {
    error?: string;
    start?: { tcp_mss_default?: number };
    end?: {
      sum_sent?: { retransmits?: number };
      sum_received?: { bits_per_second?: number };
      cpu_utilization_percent?: { host_total?: number; remote_total?: number };
    };
  };
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3 ${path.name}: exit ${r.code}: ${(r.stderr || r.stdout).slice(0, 500)}`);
  }
  const bps = out.end?.sum_received?.bits_per_second;
  if (r.code !== 0 || out.error || bps === undefined) {
    throw new Error(`iperf3 ${path.name}: exit ${r.code}: ${out.error ?? r.stderr.slice(0, 500)}`);
  }
  // Only the path's own packets should (or should not) go through h1's tunnel.
  if (path.tunnelled === true && tunnelPackets < 1000) {
    throw new Error(`${path.name}: h1's ${DEVICE} sent only ${tunnelPackets} packets`);
  }
  if (path.tunnelled === false && tunnelPackets > 10) {
    throw new Error(`${path.name}: h1's ${DEVICE} sent ${tunnelPackets} packets`);
  }
  return {
    gbps: bps / 1e9,
    retransmits: out.end?.sum_sent?.retransmits ?? NaN,
    mss: out.start?.tcp_mss_default ?? NaN,
    senderCpu: out.end?.cpu_utilization_percent?.host_total ?? NaN,
    receiverCpu: out.end?.cpu_utilization_percent?.remote_total ?? NaN,
    tunnelPackets,
  };
}

async function throughputPart(hg: { argv: string[]; what: string }, dir: string): Promise<void> {
  const lab = buildLab(hg.argv, dir);
  const checks = checkLab(hg.argv, lab);
  const all = paths(lab);
  try {
    for (const to of new Set(all.map((p) => p.to))) await startServer(to);
    // One short run per path first, not counted: connections, caches and ARP are warm.
    for (const p of all) {
      const [cmd, args] = inNetns(p.from, ["iperf3", "-c", p.address, "-t", "1", "-J"]);
      must(cmd, args);
    }
    const samples = new Map<Path, Sample[]>(all.map((p) => [p, []]));
    const pairRatios: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const order = all.map((_, i) => all[(i + rep) % all.length]);
      const got = new Map<Path, Sample>();
      for (const p of order) {
        const s = iperf(p);
        samples.get(p)!.push(s);
        got.set(p, s);
        await checkpoint();
      }
      pairRatios.push(got.get(all[4])!.gbps / got.get(all[3])!.gbps);
      process.stderr.write(`throughput: repetition ${rep + 1}/${REPS} done\n`);
    }
    report(all, samples, pairRatios, checks);
  } finally {
    for (const s of [...servers]) stopServer(s);
  }
}

function report(
  all: Path[],
  samples: Map<Path, Sample[]>,
  pairRatios: number[],
  checks: string[],
): void {
  const gbps = (p: Path) => median(samples.get(p)!.map((s) => s.gbps));
  const [veth, underlay, , hostGw, vxlan] = all;
  const rows = all.map((p) => {
    const s = samples.get(p)!;
    const g = s.map((x) => x.gbps);
    return [
      p.name,
      String(mtuOf(p.from, p.dev)),
      String(median(s.map((x) => x.mss))),
      String(s.length),
      gbps(p).toFixed(2),
      `${Math.min(...g).toFixed(2)}-${Math.max(...g).toFixed(2)}`,
      `${median(s.map((x) => x.retransmits))} (${Math.min(...s.map((x) => x.retransmits))}-${
        Math.max(...s.map((x) => x.retransmits))
      })`,
      `${median(s.map((x) => x.senderCpu)).toFixed(0)} / ${
        median(s.map((x) => x.receiverCpu)).toFixed(0)
      }`,
      `${(gbps(p) / gbps(veth)).toFixed(2)}×`,
      `${(gbps(p) / gbps(underlay)).toFixed(2)}×`,
      `${(gbps(p) / gbps(hostGw)).toFixed(2)}×`,
    ];
  });
  console.log(
    `\n## TCP throughput (iperf3 -c ADDRESS -t ${SECONDS} -J, receiver's rate)\n\n` +
      checks.map((c) => `- ${c}\n`).join("") +
      `- ${REPS} repetitions, the order of the paths rotating; medians\n\n` +
      markdownTable(
        [
          "path",
          "MTU",
          "TCP MSS",
          "runs",
          "Gbit/s (median)",
          "min-max",
          "retransmits median (min-max)",
          "iperf3 CPU % send / recv",
          "vs veth pair",
          "vs underlay same segment",
          "vs host-gw",
        ],
        rows,
      ),
  );
  console.log(
    `\nVXLAN / host-gw: ${(gbps(vxlan) / gbps(hostGw)).toFixed(2)} (medians); per repetition ` +
      `${Math.min(...pairRatios).toFixed(2)}-${Math.max(...pairRatios).toFixed(2)}, median ${
        median(pairRatios).toFixed(2)
      }`,
  );
}

// ---------------------------------------------------------------------------------------------
// Part 2: `hg peer sync` of 1,000 peers vs the raw batches

/** A process tree's wall and CPU time, from bash's `time` (getrusage of the children). */
interface Cost {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly stdout: string;
}

/** Runs `script` (bash, with `$1`... = `args`) under bash's `time`; fails unless it exits 0. */
function costOf(script: string, args: readonly string[], env?: Record<string, string>): Cost {
  const line = `TIMEFORMAT='@@time %3R %3U %3S'; time { ${script} ; }`;
  const r = timed("bash", ["-c", line, "bash", ...args], undefined, env);
  const report = /@@time (\S+) (\S+) (\S+)\s*$/.exec(r.stderr);
  if (r.code !== 0 || !report) {
    throw new Error(`${script} ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-1500)}`);
  }
  const [wall, user, sys] = report.slice(1).map(Number);
  return { wallMs: wall * 1000, cpuMs: (user + sys) * 1000, stdout: r.stdout };
}

/** Removes what a sync put in the scratch host, and checks it is empty again. */
function resetSyncHost(): void {
  const links = ipJson<{ ifname: string }[]>(SYNC_HOST, ["link", "show"]).map((l) => l.ifname);
  if (links.includes(DEVICE)) must("ip", ["-n", SYNC_HOST, "link", "del", DEVICE]);
  must("ip", ["-n", SYNC_HOST, "route", "flush", "proto", "104"]);
  const s = kernelState();
  if (s.routes.length + s.neighbours.length + s.fdb.length > 0 || s.device !== null) {
    throw new Error(`${SYNC_HOST} is not empty after reset: ${JSON.stringify(s).slice(0, 300)}`);
  }
}

/** What a sync leaves in the kernel, in a form that compares as a whole. */
interface KernelState {
  readonly routes: string[];
  readonly neighbours: string[];
  readonly fdb: string[];
  readonly device: string | null;
}

function kernelState(): KernelState {
  const routes = ipJson<{ dst: string; gateway?: string; dev?: string; flags: string[] }[]>(
    SYNC_HOST,
    ["route", "show", "proto", "104"],
  ).map((r) => `${r.dst} via ${r.gateway} dev ${r.dev} ${[...r.flags].sort().join(",")}`).sort();
  const neighbours = ipJson<{ dst: string; dev: string; lladdr?: string; state: string[] }[]>(
    SYNC_HOST,
    ["neigh", "show", "nud", "permanent"],
  ).map((n) => `${n.dst} dev ${n.dev} lladdr ${n.lladdr} ${n.state.join(",")}`).sort();
  const links = ipJson<Record<string, unknown>[]>(SYNC_HOST, ["-d", "link", "show"]);
  const device = links.find((l) => l.ifname === DEVICE);
  let fdb: string[] = [];
  let described: string | null = null;
  if (device) {
    fdb = (JSON.parse(
      must("bridge", ["-n", SYNC_HOST, "-j", "fdb", "show", "dev", DEVICE]).stdout || "[]",
    ) as { mac: string; dst?: string; flags: string[]; state: string }[])
      .map((f) => `${f.mac} dst ${f.dst} ${f.flags.join(",")} ${f.state}`).sort();
    const addrs = ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(
      SYNC_HOST,
      ["addr", "show", "dev", DEVICE],
    )[0].addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
    const info = (device.linkinfo as { info_data: Record<string, unknown> }).info_data;
    described = JSON.stringify({
      mtu: device.mtu,
      address: device.address,
      alias: device.ifalias,
      up: (device.flags as string[]).includes("UP"),
      vxlan: [info.id, info.local, info.link, info.port, info.learning],
      addrs,
    });
  }
  return { routes, neighbours, fdb, device: described };
}

function sameState(a: KernelState, b: KernelState, what: string): void {
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    const diff = (["routes", "neighbours", "fdb"] as const).map((k) =>
      `${k} ${a[k].length}/${b[k].length}`
    );
    throw new Error(
      `${what}: the kernel state differs (${diff.join(", ")}; device ${a.device} / ${b.device})`,
    );
  }
}

interface SyncSetup {
  readonly kind: PeerKind;
  readonly registry: string;
  readonly ipFile: string;
  readonly bridgeFile: string;
  readonly lines: { ip: string[]; bridge: string[] };
}

function prepareSync(
  hg: string[],
  dir: string,
  kind: PeerKind,
  env: Record<string, string>,
): SyncSetup {
  const registry = join(dir, `registry-${kind}.json`);
  writeRegistry(registry, kind, N);
  const lines = rawLines(kind, N);
  const ipFile = join(dir, `raw-${kind}.ip`);
  const bridgeFile = join(dir, `raw-${kind}.bridge`);
  writeFileSync(ipFile, lines.ip.join("\n") + "\n");
  writeFileSync(bridgeFile, lines.bridge.join("\n") + "\n");
  // The raw lines are exactly what hg plans (the order of the steps aside).
  resetSyncHost();
  const dry = hgIn(hg, SYNC_HOST, [
    "--dry-run",
    "peer",
    "sync",
    "--store",
    registry,
    "--node",
    SYNC_NODE,
  ], env)
    .split("\n");
  const planned = (program: string) =>
    dry.filter((l) => l.startsWith(`${program} `)).map((l) => l.slice(program.length + 1)).sort();
  for (const [program, want] of [["ip", lines.ip], ["bridge", lines.bridge]] as const) {
    const got = planned(program);
    const wanted = [...want].sort();
    if (JSON.stringify(got) !== JSON.stringify(wanted)) {
      const missing = wanted.filter((l) => !got.includes(l));
      const extra = got.filter((l) => !wanted.includes(l));
      throw new Error(
        `${kind}: hg plans other ${program} lines than the raw batch: ${got.length} vs ` +
          `${wanted.length}; missing ${JSON.stringify(missing.slice(0, 3))}, extra ${
            JSON.stringify(extra.slice(0, 3))
          }`,
      );
    }
  }
  return { kind, registry, ipFile, bridgeFile, lines };
}

/** One hg binary timed in the sync part. */
interface Hg {
  readonly argv: string[];
  readonly what: string;
  /** How the tables name it. */
  readonly label: string;
}

interface SyncSamples {
  raw: Cost[];
  /** Per hg (in the order of the `hgs`): the first sync and the second. */
  hg: Cost[][];
  again: Cost[][];
  phases: Phases[];
}

function checkCounts(kind: PeerKind, s: KernelState, what: string): void {
  const want = kind === "vxlan" ? [N, N, N] : [N, 0, 0];
  const got = [s.routes.length, s.neighbours.length, s.fdb.length];
  if (JSON.stringify(got) !== JSON.stringify(want) || (kind === "vxlan") !== (s.device !== null)) {
    throw new Error(`${kind} ${what}: routes/neighbours/fdb ${got}, expected ${want}`);
  }
}

function rawSync(setup: SyncSetup): { cost: Cost; state: KernelState } {
  resetSyncHost();
  const script = setup.lines.bridge.length > 0
    ? `ip -n "$1" -batch - < "$2" && bridge -n "$1" -batch - < "$3"`
    : `ip -n "$1" -batch - < "$2"`;
  const cost = costOf(script, [SYNC_HOST, setup.ipFile, setup.bridgeFile]);
  const state = kernelState();
  checkCounts(setup.kind, state, "raw batches");
  return { cost, state };
}

function hgSync(
  hg: string[],
  setup: SyncSetup,
  env: Record<string, string>,
): { first: Cost; again: Cost; state: KernelState } {
  resetSyncHost();
  const argv = [...hg, "peer", "sync", "--store", setup.registry, "--node", SYNC_NODE];
  const [cmd, args] = inNetns(SYNC_HOST, argv);
  const first = costOf(`"$@"`, [cmd, ...args], env);
  const summary = first.stdout.trim().split("\n").at(-1) ?? "";
  const steps = setup.lines.ip.length + setup.lines.bridge.length;
  if (
    !summary.includes(`${N} peers routed, 0 leases refused`) ||
    !summary.includes(`(${steps} changes)`)
  ) {
    throw new Error(`${setup.kind}: hg peer sync said: ${summary}`);
  }
  const state = kernelState();
  checkCounts(setup.kind, state, "hg peer sync");
  const again = costOf(`"$@"`, [cmd, ...args], env);
  const last = again.stdout.trim().split("\n").at(-1) ?? "";
  if (!last.startsWith("nothing to do:")) {
    throw new Error(`${setup.kind}: the second hg peer sync changed something: ${last}`);
  }
  sameState(kernelState(), state, `${setup.kind}: the second hg peer sync`);
  return { first, again, state };
}

function phasesOf(setup: SyncSetup): Phases {
  resetSyncHost();
  const helper = join(ROOT, "bench", "vxlan_sync.ts");
  const [cmd, args] = inNetns(SYNC_HOST, [...scriptArgv(helper), "phases", setup.registry]);
  const r = must(cmd, args);
  const phases = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Phases;
  if (phases.first.peers !== N || phases.first.refused !== 0 || phases.again.steps !== 0) {
    throw new Error(`${setup.kind} phases: ${JSON.stringify(phases)}`);
  }
  return phases;
}

async function syncPart(hgs: Hg[], dir: string): Promise<void> {
  must("ip", ["netns", "add", SYNC_HOST]);
  must("ip", ["netns", "add", SYNC_PEER]);
  sh(
    SYNC_HOST,
    `ip link add eth0 type veth peer name eth0 netns ${SYNC_PEER} && ` +
      `ip addr add 10.0.12.11/22 dev eth0 && ip link set eth0 up && ip link set lo up && ` +
      `ip route add ${OFFLINK_NETWORK} via ${ROUTER_ADDRESS}`,
  );
  sh(
    SYNC_PEER,
    `ip addr add ${ROUTER_ADDRESS}/22 dev eth0 && ip link set eth0 up && ip link set lo up`,
  );
  const env = { HG_RUN_DIR: join(dir, "run") };
  const setups = (["vxlan", "host-gw"] as const).map((k) => prepareSync(hgs[0].argv, dir, k, env));
  const samples = new Map<SyncSetup, SyncSamples>(
    setups.map((
      s,
    ) => [s, { raw: [], hg: hgs.map(() => []), again: hgs.map(() => []), phases: [] }]),
  );
  const startup: Cost[][] = hgs.map(() => []);
  // Round 0 warms the page cache and the runtime's module cache: not counted.
  for (let rep = 0; rep <= SYNC_REPS; rep++) {
    for (const setup of setups) {
      const m = samples.get(setup)!;
      const runs: (() => KernelState)[] = [() => {
        const { cost, state } = rawSync(setup);
        if (rep > 0) m.raw.push(cost);
        return state;
      }];
      hgs.forEach((hg, k) =>
        runs.push(() => {
          const { first, again, state } = hgSync(hg.argv, setup, env);
          if (rep > 0) m.hg[k].push(first), m.again[k].push(again);
          return state;
        })
      );
      // Rotate which goes first; all must leave the same kernel state.
      const states = runs.map((_, i) => runs[(i + rep) % runs.length]());
      for (const state of states.slice(1)) {
        sameState(states[0], state, `${setup.kind}: raw batches vs hg peer sync`);
      }
      const phases = phasesOf(setup);
      if (rep > 0) m.phases.push(phases);
      await checkpoint();
    }
    hgs.forEach((hg, k) => {
      const [cmd, args] = inNetns(SYNC_HOST, [...hg.argv, "--version"]);
      const s = costOf(`"$@" > /dev/null`, [cmd, ...args]);
      if (rep > 0) startup[k].push(s);
    });
    if (rep > 0) process.stderr.write(`sync: repetition ${rep}/${SYNC_REPS} done\n`);
  }
  resetSyncHost();
  syncReport(hgs, setups, samples, startup);
}

function syncReport(
  hgs: Hg[],
  setups: SyncSetup[],
  samples: Map<SyncSetup, SyncSamples>,
  startup: Cost[][],
): void {
  const wall = (c: Cost[]) => median(c.map((x) => x.wallMs));
  const cpu = (c: Cost[]) => median(c.map((x) => x.cpuMs));
  const spread = (v: number[]) => `${fmtMs(Math.min(...v))}-${fmtMs(Math.max(...v))}`;
  const n = N.toLocaleString("en-US");
  const rows: string[][] = [];
  const row = (what: string, peers: string, c: Cost[], raw: Cost[]) => [
    what,
    peers,
    String(c.length),
    fmtMs(wall(c)),
    spread(c.map((x) => x.wallMs)),
    fmtMs(cpu(c)),
    spread(c.map((x) => x.cpuMs)),
    `**${(wall(c) / wall(raw)).toFixed(2)}×**`,
    `**${(cpu(c) / cpu(raw)).toFixed(2)}×**`,
  ];
  for (const setup of setups) {
    const m = samples.get(setup)!;
    const peers = setup.kind === "vxlan" ? `${n} VXLAN (off-link)` : `${n} host-gw (on-link)`;
    rows.push(row(
      setup.kind === "vxlan"
        ? "raw `ip -n NS -batch -` + `bridge -n NS -batch -`"
        : "raw `ip -n NS -batch -`",
      peers,
      m.raw,
      m.raw,
    ));
    hgs.forEach((hg, k) => {
      rows.push(
        row(`\`${hg.label} peer sync\`, empty → ${n} peers`, peers, m.hg[k], m.raw),
        row(`\`${hg.label} peer sync\` again, 0 changes`, peers, m.again[k], m.raw),
      );
    });
  }
  const vxRaw = samples.get(setups[0])!.raw;
  hgs.forEach((hg, k) => {
    rows.push(row(`floor: \`nsenter --net=NS ${hg.label} --version\``, "-", startup[k], vxRaw));
  });
  const lineCounts = setups.map((s) =>
    `${s.kind}: ${s.lines.ip.length} ip lines` +
    (s.lines.bridge.length ? ` + ${s.lines.bridge.length} bridge lines` : "")
  ).join("; ");
  console.log(
    `\n## \`hg peer sync\` of ${n} peers vs the raw batches\n\n` +
      hgs.map((hg) => `- ${hg.label}: ${hg.what}\n`).join("") +
      `- the same lines both ways (hg's --dry-run plan checked against them): ${lineCounts}\n` +
      `- after each, the kernel state (routes, permanent neighbours, fdb, ${DEVICE}) is checked ` +
      `and must be the same every way\n` +
      `- ${SYNC_REPS} repetitions (after one not counted), the order of the ways rotating; ` +
      `medians; CPU = user+sys of the whole process tree (bash's time); the floor's ratios ` +
      `are against the VXLAN raw batches\n\n` +
      markdownTable(
        [
          "what",
          "peers",
          "runs",
          "wall ms",
          "wall min-max",
          "CPU ms",
          "CPU min-max",
          "wall vs raw",
          "CPU vs raw",
        ],
        rows,
      ),
  );
  const phaseRows: string[][] = [];
  for (const setup of setups) {
    const p = samples.get(setup)!.phases;
    const col = (pick: (x: SyncPhases) => number, which: "first" | "again") =>
      fmtMs(median(p.map((x) => pick(x[which]))));
    for (const which of ["first", "again"] as const) {
      phaseRows.push([
        setup.kind,
        which === "first" ? `empty → ${n}` : "again, 0 changes",
        col((x) => x.readMs, which),
        col((x) => x.observeMs, which),
        col((x) => x.planMs, which),
        col((x) => x.renderMs, which),
        col((x) => x.applyMs, which),
        col((x) => x.totalMs, which),
      ]);
    }
  }
  console.log(
    `\nhg's phases in-process (\`bench/vxlan_sync.ts\` from source under ${runtimeName()}, ` +
      `median ms):\n\n` +
      markdownTable(
        ["peers", "sync", "read", "observe", "plan", "render", "apply", "total"],
        phaseRows,
      ),
  );
  const vx = samples.get(setups[0])!;
  for (const [k, hg] of hgs.entries()) {
    const ratio = wall(vx.hg[k]) / wall(vx.raw);
    const cpuRatio = cpu(vx.hg[k]) / cpu(vx.raw);
    console.log(
      `\ntarget "sync within 2× of the raw batches" (${n} VXLAN peers), ${hg.label}: ` +
        `${ratio <= 2 ? "MET" : "MISSED"} on wall time (${fmtMs(wall(vx.hg[k]))} ms = ` +
        `${ratio.toFixed(2)}× raw ${fmtMs(wall(vx.raw))} ms), ${
          cpuRatio <= 2 ? "MET" : "MISSED"
        } ` +
        `on CPU time (${fmtMs(cpu(vx.hg[k]))} ms = ${cpuRatio.toFixed(2)}× ${
          fmtMs(cpu(vx.raw))
        } ms)`,
    );
  }
}

function runtimeName(): string {
  return (process.versions as Record<string, string | undefined>).bun ? "bun" : "deno";
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const hg = chooseHg();
  const also = process.env.HGBENCH_HG_ALSO;
  const hgs: Hg[] = [
    { ...hg, label: "hg" },
    ...(also ? [{ argv: [also], what: `HGBENCH_HG_ALSO=${also}`, label: "hg (also)" }] : []),
  ];
  console.log(machineLine());
  for (const h of hgs) console.log(`${h.label}: ${h.what}`);
  if (ONLY !== "sync" && timed("iperf3", ["--version"]).code !== 0) {
    throw new Error(`iperf3 is not installed (Debian package iperf3; see .ci/install)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "hgbench-vxlan-"));
  tempDirs.add(dir);
  try {
    if (ONLY !== "sync") await throughputPart(hg, dir);
    if (ONLY !== "throughput") await syncPart(hgs, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

await withNamespaces(ALL_NAMESPACES, main);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
  ALL_NAMESPACES.includes(l.split(" ")[0])
);
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
