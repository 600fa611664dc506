/**
 * Container creation benchmark: `hg netns add` against the manual sequence of 10 `ip`
 * processes, 10 containers each way (alternating), on a host namespace `hgbench-h` prepared with
 * `hg setup --subnet 1.1.1.0/24`. Prints a markdown table of the median time per container.
 *
 * Run as root: `deno run -A bench/netns_bench.ts` (or `bun bench/netns_bench.ts`). Uses the
 * compiled `dist/hg` when present (or `HG_BIN`), otherwise hg from source. Every namespace it
 * makes is named `hgbench-*` and deleted at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkpoint,
  fmtMs,
  hgCommand,
  inNetns,
  machineLine,
  markdownTable,
  median,
  must,
  timed,
  withNamespaces,
} from "./bench_util.ts";

const HOST = "hgbench-h";
const BRIDGE = "cni0";
const GATEWAY = "1.1.1.1";
const COUNT = 10;
const hgName = (k: number) => `hgbench-c${k}`;
const manualName = (k: number) => `hgbench-m${k}`;
const hgAddress = (k: number) => `1.1.1.${10 + k}`;
const manualAddress = (k: number) => `1.1.1.${100 + k}`;

/**
 * The manual way to make container `c` with host-side veth `veth` and address `addr`: 10 `ip`
 * processes, the seed's 8 configuration steps plus making sure the bridge is up and reading the
 * address back (hg observes the host before and knows the result after).
 */
export function manualCommands(c: string, veth: string, addr: string): string[][] {
  return [
    ["netns", "add", c],
    ["-n", HOST, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", c],
    ["-n", HOST, "link", "set", veth, "master", BRIDGE],
    ["-n", HOST, "link", "set", veth, "up"],
    ["-n", HOST, "link", "set", BRIDGE, "up"],
    ["-n", c, "addr", "add", `${addr}/24`, "dev", "eth0"],
    ["-n", c, "link", "set", "lo", "up"],
    ["-n", c, "link", "set", "eth0", "up"],
    ["-n", c, "route", "add", "default", "via", GATEWAY, "dev", "eth0"],
    ["-n", c, "-j", "addr", "show", "dev", "eth0"],
  ];
}

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

async function main(): Promise<void> {
  const hg = hgCommand(["netns", "add"]);
  // hg's lock files go to a directory of our own, removed at the end, not to /run/hg.
  const runDir = mkdtempSync(join(tmpdir(), "hgbench-run-"));
  const env = { HG_RUN_DIR: runDir };
  const hgIn = (args: string[]) => {
    const [cmd, rest] = inNetns(HOST, [...hg.argv, ...args]);
    return must(cmd, rest, undefined, env);
  };
  try {
    console.log(machineLine());
    console.log(`hg: ${hg.argv.join(" ")}, ${hg.what}`);
    console.log(`containers: ${COUNT} each way, alternating; medians per container\n`);
    console.log(
      "manual sequence (one `ip` process each), for container C with host veth V and address X:",
    );
    for (const argv of manualCommands("C", "V", "1.1.1.X")) console.log(`    ip ${argv.join(" ")}`);
    console.log();

    must("ip", ["netns", "add", HOST]);
    must("ip", ["-n", HOST, "link", "set", "lo", "up"]);
    hgIn(["setup", "--subnet", "1.1.1.0/24"]);
    // Brings the executable into the page cache so the first timed run does not read it from disk.
    hgIn(["netns", "ls"]);

    const hgMs: number[] = [];
    const manualMs: number[] = [];
    for (let k = 0; k < COUNT; k++) {
      const byHg = () => {
        hgMs.push(hgIn(["netns", "add", hgName(k), "--ip", hgAddress(k)]).ms);
        verifyContainer(hgName(k), hgAddress(k));
      };
      const byHand = () => {
        const t0 = performance.now();
        for (const argv of manualCommands(manualName(k), `hgbmv${k}`, manualAddress(k))) {
          must("ip", argv);
        }
        manualMs.push(performance.now() - t0);
        verifyContainer(manualName(k), manualAddress(k));
      };
      if (k % 2 === 0) {
        byHg();
        byHand();
      } else {
        byHand();
        byHg();
      }
      await checkpoint();
    }
    // Both kinds of container are really on the bridge: each reaches the gateway and the other kind.
    verifyPing(hgName(0), GATEWAY);
    verifyPing(manualName(0), GATEWAY);
    verifyPing(hgName(0), manualAddress(0));

    const base = median(manualMs);
    const row = (way: string, ms: number[]) => [
      way,
      String(ms.length),
      fmtMs(median(ms)),
      fmtMs(Math.min(...ms)),
      fmtMs(Math.max(...ms)),
      `${(median(ms) / base).toFixed(2)}×`,
    ];
    console.log(markdownTable(
      ["way", "containers", "median ms", "min ms", "max ms", "vs manual"],
      [
        row("`hg netns add` (one process, incl. start-up)", hgMs),
        row("manual: 10 `ip` processes", manualMs),
      ],
    ));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

const containers = Array.from({ length: COUNT }, (_, k) => [hgName(k), manualName(k)]).flat();
// Containers first: deleting them removes their veths from the host namespace with them.
await withNamespaces([...containers, HOST], main);
const left = timed("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
  l.startsWith("hgbench-")
);
if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
