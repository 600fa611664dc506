/**
 * Start-up benchmark (issue 15's first target): the CPU time of `hg --version`, `hg status`,
 * `hg status --json` and a CNI VERSION call against `bun -e 0` (the runtime's own start-up),
 * three compiled programs of a few lines each, one that prints a line (the floor of any program
 * built with `bun build --compile`), one that only parses `--version` with commander (the floor
 * of such a CLI built with commander) and one that reads what status reads from one
 * `ip -N -d -j -batch -` (links, addresses, neighbours, both families' routes), parses it and
 * prints it (the floor of a command that asks ip once), and one `ip -j route show`. hg is the release build
 * (the release build, deno.json's compile task, built into a temp dir), or `HG_BIN`;
 * `HG_DENO_BIN` adds the same three rows for another build (the release workflow's
 * `deno compile` one), `HGBENCH_BASE_BIN` for an earlier build, in the same runs.
 *
 * Every way runs in the scratch namespace `hgbench-s` (lo only; `HGBENCH_NETNS=hgbench-xy-`
 * makes it `hgbench-xy-s`) through nsenter, as a child of bash's `time` (CPU = user + sys of the
 * process and its children: `hg status` starts one `ip` process), alternating, medians of
 * `HGBENCH_REPS` (default 30) runs each. Run as root: `deno run -A bench/startup_bench.ts`.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
  NETNS_PREFIX,
  ROOT,
  withNamespaces,
} from "./bench_util.ts";

const PREFIX = process.env.HGBENCH_NETNS ?? NETNS_PREFIX;
if (!PREFIX.startsWith(NETNS_PREFIX)) {
  throw new Error(`HGBENCH_NETNS must start with ${NETNS_PREFIX}`);
}
const NETNS = `${PREFIX}s`;
const REPS = Number(process.env.HGBENCH_REPS ?? 30);
if (!Number.isInteger(REPS) || REPS < 1) {
  throw new Error("HGBENCH_REPS must be a whole number >= 1");
}

/** What the issue asks of hg's start-up: at most this many times `bun -e 0`'s CPU. */
const TARGET = 1.5;

interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** Runs `argv` in the scratch namespace under bash's `time`, stdin from `input`; must exit 0. */
function timeIt(argv: readonly string[], input: string, env: Record<string, string>): Sample {
  const script = `{ time "$@" <"$HGSU_IN" >/dev/null 2>"$HGSU_ERR"; } 2>&1; echo "rc=$?"`;
  const err = join(work, "err");
  const r = spawnSync("bash", [
    "-c",
    script,
    "bash",
    "nsenter",
    `--net=/run/netns/${NETNS}`,
    "--",
    ...argv,
  ], {
    encoding: "utf8",
    env: { ...process.env, ...env, TIMEFORMAT: "%3R %3U %3S", HGSU_IN: input, HGSU_ERR: err },
  });
  const m = /^([\d.]+) ([\d.]+) ([\d.]+)\nrc=(\d+)\s*$/.exec(r.stdout);
  if (!m || m[4] !== "0") {
    throw new Error(`${argv.join(" ")}: ${r.stdout.trim()} ${readFileSync(err, "utf8").trim()}`);
  }
  return { wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000 };
}

/** ENTRY built into OUT from `cwd` as the release is built (deno.json's compile task). */
function compile(entry: string, out: string, cwd: string): void {
  compileRelease(entry, out, cwd);
}

const work = mkdtempSync(join(tmpdir(), "hgbench-startup-"));

async function main(): Promise<void> {
  const hg = process.env.HG_BIN ?? join(work, "hg");
  if (!process.env.HG_BIN) compile("cli/main.ts", hg, ROOT);
  // The floor: commander parsing --version in a compiled program of its own.
  const floorDir = join(work, "floor");
  must("mkdir", ["-p", floorDir]);
  symlinkSync(join(ROOT, "node_modules"), join(floorDir, "node_modules"));
  writeFileSync(
    join(floorDir, "main.ts"),
    `import { Command } from "@commander-js/extra-typings";\n` +
      `new Command("hg").version("0.0.0", "-V, --version").parse(process.argv);\n`,
  );
  const floor = join(work, "floor-bin");
  compile("main.ts", floor, floorDir);
  // The runtime's floor: a compiled program that prints a line, as `hg --version` does.
  writeFileSync(join(floorDir, "print.ts"), `console.log("0.0.0");\n`);
  const printer = join(work, "print-bin");
  compile("print.ts", printer, floorDir);
  // A command's floor that asks ip once: what status reads, from one ip process (Bun's own
  // spawnSync: no streams, no node: module), parsed and printed.
  writeFileSync(
    join(floorDir, "ip_once.ts"),
    `const lines = "link show\\naddr show\\nneigh show nud permanent\\nroute show table main\\n" +\n` +
      `  "route show table all root ::/0\\n";\n` +
      `const r = (globalThis as any).Bun.spawnSync(["ip", "-N", "-d", "-j", "-batch", "-"], ` +
      `{ stdin: new TextEncoder().encode(lines), stdout: "pipe", stderr: "pipe" });\n` +
      `const read = r.stdout.toString().split("\\n").filter(Boolean).map((l: string) => JSON.parse(l));\n` +
      `console.log(JSON.stringify(read, null, 2));\n`,
  );
  const ipOnce = join(work, "ip-once-bin");
  compile("ip_once.ts", ipOnce, floorDir);
  const none = "/dev/null";
  const versionConf = join(work, "version.json");
  writeFileSync(versionConf, JSON.stringify({ cniVersion: "1.1.0" }));
  const hgWays = (bin: string, label: string): Record<string, () => Sample> => ({
    [`\`hg --version\`${label}`]: () => timeIt([bin, "--version"], none, {}),
    [`\`hg status\`${label}`]: () => timeIt([bin, "status"], none, { HG_RUN_DIR: work }),
    [`\`hg status --json\`${label}`]: () =>
      timeIt([bin, "status", "--json"], none, { HG_RUN_DIR: work }),
    [`CNI VERSION (\`CNI_COMMAND=VERSION hg\`)${label}`]: () =>
      timeIt([bin], versionConf, { CNI_COMMAND: "VERSION", HG_RUN_DIR: work }),
  });
  const ways: Record<string, () => Sample> = {
    "`bun -e 0`": () => timeIt(["bun", "-e", "0"], none, {}),
    "compiled `console.log` (floor of bun --compile)": () => timeIt([printer], none, {}),
    "compiled commander `--version` (floor with commander)": () =>
      timeIt([floor, "--version"], none, {}),
    "compiled one `ip -batch` read, parsed and printed (floor of asking ip once)": () =>
      timeIt([ipOnce], none, {}),
    ...hgWays(hg, ""),
    ...(process.env.HG_DENO_BIN ? hgWays(process.env.HG_DENO_BIN, ", HG_DENO_BIN") : {}),
    ...(process.env.HGBENCH_BASE_BIN
      ? hgWays(process.env.HGBENCH_BASE_BIN, ", HGBENCH_BASE_BIN")
      : {}),
    "`ip -j route show`": () => timeIt(["ip", "-j", "route", "show"], none, {}),
  };
  const names = Object.keys(ways);
  const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (const name of names) ways[name](); // warm the page cache, not counted
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(rep + k) % names.length];
      samples.get(name)!.push(ways[name]());
    }
    await checkpoint();
  }
  const base = median(samples.get(names[0])!.map((s) => s.cpuMs));
  const commanderFloor = median(samples.get(names[2])!.map((s) => s.cpuMs));
  const rows = names.map((name) => {
    const s = samples.get(name)!;
    const cpu = median(s.map((x) => x.cpuMs));
    const isHg = name.includes("hg");
    return [
      name,
      String(s.length),
      fmtMs(median(s.map((x) => x.wallMs))),
      fmtMs(cpu),
      `${(cpu / base).toFixed(2)}×`,
      `${(cpu / commanderFloor).toFixed(2)}×`,
      isHg ? (cpu / base <= TARGET ? "met" : "NOT MET") : "",
    ];
  });
  console.log(machineLine());
  console.log(
    `hg: ${process.env.HG_BIN ? `HG_BIN=${hg}` : "release build of this tree"}; ` +
      `${REPS} runs each, alternating, medians; CPU = user + sys from bash's time\n`,
  );
  console.log(markdownTable(
    [
      "way",
      "runs",
      "wall ms",
      "CPU ms",
      "CPU vs bun -e 0",
      "CPU vs commander floor",
      `target ≤ ${TARGET}×`,
    ],
    rows,
  ));
}

try {
  await withNamespaces([NETNS], async () => {
    must("ip", ["netns", "add", NETNS]);
    must("ip", ["-n", NETNS, "link", "set", "lo", "up"]);
    await main();
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
