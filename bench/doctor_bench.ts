/**
 * Doctor benchmark, two parts. The probe: `hg doctor --to` with its probe on a 2-host lab,
 * healthy and with the peer's FORWARD dropping (target: under 1.5 s wall; the probe's wait is
 * bounded by its 1 s ping deadline), medians of `HGBENCH_PROBE_REPS` (default 10), next to a
 * floor of one answered `ping -c 1` between the containers. Then the static doctor
 * (`--no-probe`) on a host with 10,000 peer routes (target: under 300 ms). A
 * scratch host `hgbench-d` (uplink eth0 10.0.12.11/22, peer end in `hgbench-e`) gets
 * `hg setup`, one container `hgbench-dc`, and the 10,000 routes of a file registry of 10,000
 * leases (the first /24s of 100.64.0.0/10, via 10.0.12.12-200). Timed as processes, medians of
 * `HGBENCH_REPS` (default 7) runs in rotating order, next to two floors measured in the same run:
 * one `ip -j route show` of the table, and `hg --version` (start-up alone).
 *
 * Run as root: `deno run -A bench/doctor_bench.ts` (or `bun bench/doctor_bench.ts`). Uses the
 * compiled `dist/hg` when present (or `HG_BIN`), otherwise hg from source. Every namespace it
 * makes is named `hgbench-*` and deleted at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

const HOST = "hgbench-d";
const PEER = "hgbench-e";
const CONTAINER = "hgbench-dc";
const ROUTES = Number(process.env.HGBENCH_ROUTES ?? 10_000);
const REPS = Number(process.env.HGBENCH_REPS ?? 7);
const TARGET = "100.64.3.2";

const hg = hgCommand(["doctor"]);
const dir = mkdtempSync(join(tmpdir(), "hgbench-doctor-"));
const env = { HG_RUN_DIR: join(dir, "run") };
const registry = join(dir, "registry.json");
const snapshot = join(dir, "snapshot.json");

/** `hg ARGS` inside the host namespace; doctor must find nothing wrong (exit 0). */
const inHost = (args: string[]) => inNetns(HOST, [...hg.argv, ...args]);

const ways: [string, () => [string, string[]]][] = [
  ["floor: ip -j route show (one process)", () => ["ip", ["-n", HOST, "-j", "route", "show"]]],
  ["floor: hg --version (start-up)", () => [hg.argv[0], [...hg.argv.slice(1), "--version"]]],
  ["hg doctor (whole host)", () => inHost(["doctor"])],
  [
    `hg doctor --no-probe --to ${TARGET} --from ${CONTAINER}`,
    () => inHost(["doctor", "--no-probe", "--to", TARGET, "--from", CONTAINER]),
  ],
  [
    `hg doctor --store FILE (${ROUTES.toLocaleString("en-US")} leases)`,
    () => inHost(["doctor", "--store", registry]),
  ],
  [
    `hg doctor --snapshot FILE --to ${TARGET} (no root, no namespace)`,
    () => [hg.argv[0], [
      ...hg.argv.slice(1),
      "doctor",
      "--snapshot",
      snapshot,
      "--to",
      TARGET,
      "--from",
      CONTAINER,
    ]],
  ],
];

const PROBE_REPS = Number(process.env.HGBENCH_PROBE_REPS ?? 10);
const LAB = "hgbenchp";

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

const probeRows = await probeBench();
console.log(`# hg doctor --to with its probe (2-host lab, 4 namespaces watched)\n`);
console.log(machineLine());
console.log(`hg: ${hg.what}; medians of ${PROBE_REPS} runs (probe ms: median of 3 more)\n`);
console.log(markdownTable(["what", "median ms", "max ms", "probe ms (its own)"], probeRows));
console.log("");

const samples = new Map<string, number[]>(ways.map(([name]) => [name, []]));
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
    // Warm the page cache and the runtime's caches: not measured.
    for (const [, argv] of ways) timed(...argv(), "", env);
    for (let rep = 0; rep < REPS; rep++) {
      await checkpoint();
      for (let k = 0; k < ways.length; k++) {
        const [name, argv] = ways[(k + rep) % ways.length];
        const r = timed(...argv(), "", env);
        if (r.code !== 0) {
          throw new Error(`${name} exited ${r.code}: ${(r.stderr || r.stdout).slice(0, 500)}`);
        }
        samples.get(name)!.push(r.ms);
      }
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const floor = median(samples.get(ways[0][0])!);
console.log(`# hg doctor on a host with ${ROUTES.toLocaleString("en-US")} routes\n`);
console.log(machineLine());
console.log(`hg: ${hg.what}; medians of ${REPS} runs\n`);
console.log(markdownTable(
  ["what", "median ms", "min ms", "× ip -j route show"],
  ways.map(([name]) => {
    const s = samples.get(name)!;
    return [name, fmtMs(median(s)), fmtMs(Math.min(...s)), (median(s) / floor).toFixed(1)];
  }),
));
