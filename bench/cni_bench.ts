/**
 * CNI plugin benchmark: hg as a CNI plugin against the reference `bridge` plugin with
 * `host-local` IPAM, 20 ADDs then 20 DELs each, the way a container runtime calls them: the
 * plugin executable started by its path with the CNI environment and the network configuration on
 * stdin, inside the "host" network namespace (`nsenter --net=/run/netns/HOST -- PLUGIN`, the same
 * nsenter exec for both). Each contender has a host namespace of its own built the same way
 * (bridge `cni0` 1.1.1.1/24, up) and 20 container namespaces made beforehand (`ip netns add`, not
 * timed). `HGBENCH_ROUNDS` rounds (default 5), the contenders' order swapped each round; in each
 * round and for each contender two floors (a bare `nsenter ... /bin/true`, and the plugin's
 * VERSION: start-up with no work), the 20 ADDs, then the 20 DELs, each a timed process. Every
 * round checks every ADD (exit 0, the container's eth0 up with the address the result names), pings
 * one container of each contender from its host namespace, and checks that DEL left no veth (and
 * no host-local lease). Prints per-operation medians and the ratio hg / reference as a markdown
 * table.
 *
 * Run as root: `deno run -A bench/cni_bench.ts` (or `bun bench/cni_bench.ts`). hg is `HG_BIN`,
 * else `dist/hg`, compiled first as the release is (deno.json's compile task) when it is missing
 * or older than a source file. Every namespace it makes is named
 * `hgbench-cni-*` and deleted at the end, also on failure; hg's lock files (`HG_RUN_DIR`) and
 * host-local's leases (`dataDir`) go to a temporary directory, removed at the end.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  checkpoint,
  compileRelease,
  fmtMs,
  machineLine,
  markdownTable,
  median,
  must,
  releaseBuildArgs,
  ROOT,
  timed,
  withNamespaces,
} from "./bench_util.ts";

const ROUNDS = Number(process.env.HGBENCH_ROUNDS ?? 5);
const COUNT = 20;
const CNI_PATH = "/usr/lib/cni";
const BRIDGE_PLUGIN = join(CNI_PATH, "bridge");
const PREFIX = "hgbench-cni-";

/** One way of answering the runtime, with its host namespace and its 20 containers. */
interface Contender {
  readonly key: "hg" | "ref";
  readonly host: string;
  readonly plugin: string;
  readonly conf: string;
  readonly containers: readonly string[];
}

/** What one contender measured, each list over all rounds; `byRound` keeps the rounds apart. */
interface Samples {
  readonly add: number[];
  readonly del: number[];
  /** ADD + DEL of the same container in the same round. */
  readonly pair: number[];
  readonly version: number[];
  readonly nsenter: number[];
  readonly byRound: { add: number[]; del: number[]; pair: number[] }[];
}

const containerNames = (key: string) =>
  Array.from({ length: COUNT }, (_, k) => `${PREFIX}${key}-c${k}`);

/** The newest modification time of hg's sources (cli/, lib/, package.json), in ms. */
function newestSourceMs(): number {
  let newest = statSync(join(ROOT, "package.json")).mtimeMs;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(ROOT, "cli"));
  walk(join(ROOT, "lib"));
  return newest;
}

/** The hg executable to time: `HG_BIN`, else `dist/hg`, compiled first when stale or missing. */
function hgBinary(): { path: string; what: string } {
  if (process.env.HG_BIN) return { path: process.env.HG_BIN, what: "HG_BIN" };
  const path = join(ROOT, "dist", "hg");
  let rebuilt = "";
  if (!existsSync(path) || statSync(path).mtimeMs < newestSourceMs()) {
    console.error(`building: bun ${releaseBuildArgs("cli/main.ts", path).join(" ")}`);
    compileRelease("cli/main.ts", path);
    rebuilt = ", compiled by this run";
  }
  const head = timed("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]);
  const dirty = timed("git", ["-C", ROOT, "status", "--porcelain", "--", "cli", "lib"]);
  const source = head.code !== 0
    ? ""
    : `, sources at ${head.stdout.trim()}${
      dirty.stdout.trim() === "" ? "" : " with uncommitted changes in cli/ or lib/"
    }`;
  return {
    path,
    what: `dist/hg (built ${statSync(path).mtime.toISOString()}${rebuilt}${source})`,
  };
}

/** Starts `plugin` inside the contender's host namespace as a runtime would, and times it. */
function callPlugin(
  c: Contender,
  env: Record<string, string>,
  stdin: string,
): { code: number; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync("nsenter", [`--net=/run/netns/${c.host}`, "--", c.plugin], {
    input: stdin,
    encoding: "utf8",
    cwd: "/",
    env: { ...process.env, ...env },
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms };
}

function cniEnv(command: string, id: string, netns: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: command === "VERSION" ? "dummy" : "eth0",
    CNI_PATH: command === "VERSION" ? "dummy" : CNI_PATH,
  };
}

function fail(c: Contender, what: string, r: { code: number; stdout: string; stderr: string }) {
  return new Error(
    `${c.key}: ${what} exited ${r.code}: ${(r.stdout + r.stderr).trim().slice(0, 2000)}`,
  );
}

/** The address (`1.1.1.5`) an ADD result gives its container. */
function resultAddress(c: Contender, stdout: string): string {
  const result = JSON.parse(stdout) as { ips?: { address?: string }[] };
  const address = result.ips?.[0]?.address;
  if (!address?.endsWith("/24")) throw new Error(`${c.key}: ADD result has no /24: ${stdout}`);
  return address.slice(0, -3);
}

/** Fails unless container `netns` has eth0 up with `address`/24. */
function verifyAdded(c: Contender, netns: string, address: string): void {
  type Addr = {
    flags: string[];
    addr_info: { family: string; local: string; prefixlen: number }[];
  };
  const [eth0] = JSON.parse(
    must("ip", ["-n", netns, "-j", "addr", "show", "dev", "eth0"]).stdout,
  ) as Addr[];
  const has = eth0?.addr_info.some((a) =>
    a.family === "inet" && a.local === address && a.prefixlen === 24
  );
  if (!eth0?.flags.includes("UP") || !has) {
    throw new Error(`${c.key}: container ${netns}: eth0 is not up with ${address}/24 after ADD`);
  }
}

/** Fails unless the host namespace gets an answer from `address`. */
function verifyPing(c: Contender, address: string): void {
  const r = timed("nsenter", [
    `--net=/run/netns/${c.host}`,
    "--",
    "ping",
    "-n",
    "-c",
    "1",
    "-W",
    "2",
    address,
  ]);
  if (r.code !== 0) throw new Error(`${c.key}: no ping answer from ${address} in ${c.host}`);
}

/** Fails unless DEL left no veth on the host, no eth0 in a container and no host-local lease. */
function verifyDeleted(c: Contender, ipamDir: string): void {
  const veths = JSON.parse(
    must("ip", ["-n", c.host, "-j", "link", "show", "type", "veth"]).stdout || "[]",
  ) as { ifname: string }[];
  if (veths.length > 0) {
    throw new Error(`${c.key}: veths left after DEL: ${veths.map((v) => v.ifname).join(", ")}`);
  }
  for (const netns of c.containers) {
    const links = JSON.parse(must("ip", ["-n", netns, "-j", "link", "show"]).stdout) as {
      ifname: string;
    }[];
    if (links.some((l) => l.ifname !== "lo")) {
      throw new Error(`${c.key}: container ${netns} still has ${JSON.stringify(links)}`);
    }
  }
  if (c.key === "ref") {
    const dir = join(ipamDir, "ref");
    const leases = existsSync(dir)
      ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      : [];
    if (leases.length > 0) throw new Error(`ref: host-local leases left: ${leases.join(", ")}`);
  }
}

/** A host namespace like a node's: loopback up, bridge cni0 1.1.1.1/24 up. */
function buildHost(host: string, containers: readonly string[]): void {
  must("ip", ["netns", "add", host]);
  must("ip", ["-n", host, "link", "set", "lo", "up"]);
  must("ip", ["-n", host, "link", "add", "cni0", "type", "bridge"]);
  must("ip", ["-n", host, "addr", "add", "1.1.1.1/24", "dev", "cni0"]);
  must("ip", ["-n", host, "link", "set", "cni0", "up"]);
  for (const netns of containers) must("ip", ["netns", "add", netns]);
}

/** One contender's block of a round: floors, 20 ADDs, checks, 20 DELs, checks. */
async function block(
  c: Contender,
  s: Samples,
  round: number,
  shared: Record<string, string>,
  ipamDir: string,
): Promise<void> {
  const versionConf = '{"cniVersion":"1.0.0"}';
  for (let k = 0; k < COUNT; k++) {
    const r = callPlugin(c, { ...shared, ...cniEnv("VERSION", "", "dummy") }, versionConf);
    if (r.code !== 0 || !r.stdout.includes("supportedVersions")) throw fail(c, "VERSION", r);
    s.version.push(r.ms);
    s.nsenter.push(timed("nsenter", [`--net=/run/netns/${c.host}`, "--", "/bin/true"]).ms);
  }
  await checkpoint();
  const ids = c.containers.map(() => randomBytes(32).toString("hex"));
  const add: number[] = [];
  const addresses: string[] = [];
  for (let k = 0; k < COUNT; k++) {
    const netns = `/run/netns/${c.containers[k]}`;
    const r = callPlugin(c, { ...shared, ...cniEnv("ADD", ids[k], netns) }, c.conf);
    if (r.code !== 0) throw fail(c, `ADD ${c.containers[k]}`, r);
    add.push(r.ms);
    addresses.push(resultAddress(c, r.stdout));
  }
  await checkpoint();
  for (let k = 0; k < COUNT; k++) verifyAdded(c, c.containers[k], addresses[k]);
  if (new Set(addresses).size !== COUNT) {
    throw new Error(`${c.key}: one address given twice: ${addresses.join(", ")}`);
  }
  verifyPing(c, addresses[round % COUNT]);
  const del: number[] = [];
  for (let k = 0; k < COUNT; k++) {
    const netns = `/run/netns/${c.containers[k]}`;
    const r = callPlugin(c, { ...shared, ...cniEnv("DEL", ids[k], netns) }, c.conf);
    if (r.code !== 0) throw fail(c, `DEL ${c.containers[k]}`, r);
    del.push(r.ms);
  }
  verifyDeleted(c, ipamDir);
  const pair = add.map((ms, k) => ms + del[k]);
  s.add.push(...add);
  s.del.push(...del);
  s.pair.push(...pair);
  s.byRound.push({ add, del, pair });
  await checkpoint();
}

async function main(): Promise<void> {
  const hg = hgBinary();
  const dir = mkdtempSync(join(tmpdir(), "hgbench-cni-"));
  const runDir = join(dir, "run");
  const ipamDir = join(dir, "ipam");
  mkdirSync(runDir);
  mkdirSync(ipamDir);
  // The same environment for both: hg's lock files go to our scratch directory, not /run/hg.
  const shared = { HG_RUN_DIR: runDir };
  const contenders: Contender[] = [
    {
      key: "hg",
      host: `${PREFIX}hg`,
      plugin: hg.path,
      conf: JSON.stringify({ cniVersion: "1.0.0", name: "hg", type: "hg", bridge: "cni0" }),
      containers: containerNames("hg"),
    },
    {
      key: "ref",
      host: `${PREFIX}ref`,
      plugin: BRIDGE_PLUGIN,
      conf: JSON.stringify({
        cniVersion: "1.0.0",
        name: "ref",
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "1.1.1.0/24", gateway: "1.1.1.1" }]],
          dataDir: ipamDir,
        },
      }),
      containers: containerNames("ref"),
    },
  ];
  const [hgWay, refWay] = contenders;
  const plugins = timed("dpkg-query", ["-W", "-f", "${Version}", "containernetworking-plugins"]);
  try {
    console.log("# CNI plugin: ADD/DEL, hg vs bridge + host-local\n");
    console.log(machineLine());
    console.log(`hg: ${hg.path}, ${hg.what}`);
    console.log(
      `reference: ${BRIDGE_PLUGIN} + host-local (containernetworking-plugins ${
        plugins.code === 0 ? plugins.stdout.trim() : "?"
      })`,
    );
    console.log(
      `each plugin: nsenter --net=/run/netns/HOST -- PLUGIN, CNI env + config on stdin, cwd /`,
    );
    console.log(
      `rounds: ${ROUNDS}, order swapped each round; per round and contender ${COUNT} ADDs then ` +
        `${COUNT} DELs (${COUNT} container namespaces made beforehand), medians over all rounds\n`,
    );
    for (const c of contenders) buildHost(c.host, c.containers);

    // Warm-up, not timed: the executables into the page cache, one ADD and DEL each.
    for (const c of contenders) {
      const id = randomBytes(32).toString("hex");
      const netns = `/run/netns/${c.containers[0]}`;
      for (const command of ["ADD", "DEL"]) {
        const r = callPlugin(c, { ...shared, ...cniEnv(command, id, netns) }, c.conf);
        if (r.code !== 0) throw fail(c, `warm-up ${command}`, r);
      }
      verifyDeleted(c, ipamDir);
    }

    const samples = new Map<string, Samples>(contenders.map((c) => [c.key, {
      add: [],
      del: [],
      pair: [],
      version: [],
      nsenter: [],
      byRound: [],
    }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [hgWay, refWay] : [refWay, hgWay];
      for (const c of order) await block(c, samples.get(c.key)!, round, shared, ipamDir);
      const line = order.map((c) => {
        const r = samples.get(c.key)!.byRound[round];
        return `${c.key} ADD ${fmtMs(median(r.add))} DEL ${fmtMs(median(r.del))}`;
      }).join(", ");
      console.error(`round ${round + 1}/${ROUNDS} (${order[0].key} first): ${line} ms (medians)`);
    }

    const h = samples.get("hg")!;
    const r = samples.get("ref")!;
    const ratios = (op: "add" | "del" | "pair") =>
      h.byRound.map((hr, i) => median(hr[op]) / median(r.byRound[i][op]));
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}×`;
    const row = (what: string, hs: number[], rs: number[], perRound: string) => [
      what,
      String(hs.length),
      fmtMs(median(hs)),
      fmtMs(median(rs)),
      `**${(median(hs) / median(rs)).toFixed(2)}×**`,
      perRound,
    ];
    console.log(markdownTable(
      [
        "operation",
        "runs each",
        "hg median ms",
        "bridge + host-local median ms",
        "hg / reference",
        "per round (min-max)",
      ],
      [
        row("ADD", h.add, r.add, range(ratios("add"))),
        row("DEL", h.del, r.del, range(ratios("del"))),
        row("ADD + DEL (one container)", h.pair, r.pair, range(ratios("pair"))),
        row("floor: VERSION (start-up, no work)", h.version, r.version, "-"),
        row("floor: nsenter --net=HOST -- /bin/true", h.nsenter, r.nsenter, "-"),
      ],
    ));
    const checks =
      `every ADD gave its container eth0 up with its address (${COUNT * ROUNDS} each), ` +
      `${ROUNDS} ping${ROUNDS === 1 ? "" : "s"} per contender answered, no veth or lease left ` +
      "after DEL";
    console.log(`\nchecks: ${checks}`);
    const leftovers = readdirSync(runDir);
    if (leftovers.length > 0) console.log(`note: left in HG_RUN_DIR: ${leftovers.join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = [
  ...containerNames("hg"),
  ...containerNames("ref"),
  `${PREFIX}hg`,
  `${PREFIX}ref`,
];
// Containers first: deleting them removes their veths from the host namespaces with them.
await withNamespaces(names, main);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(PREFIX));
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
