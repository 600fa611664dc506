/**
 * The doctor corpus (e2e, root): every fault of tests/corpus/faults.ts in a fresh 2-host lab
 * (file registry) and every odd-but-working set-up, each checked with a real ping from h1's
 * container to h2's.
 *
 * Faults: the ping works, `make` breaks the lab, the ping fails (2 echoes, none answered); then
 * `hg doctor --json --to C2 --from c1 --peer-netns h2` in h1 exits 1 with `findings[0].id` the
 * fault's id, and running `findings[0].fix` makes the ping work again (a few seconds of grace
 * for the neighbour cache).
 * Working set-ups: after `make` the ping works; doctor exits 0, says ok, and no fix line of any
 * finding removes or replaces anything.
 *
 * Fix lines: `#...` is a comment; `hg ARGS` runs in h1; `ip netns exec NS hg ARGS` runs hg in NS;
 * any other line runs as `sh -c LINE` in h1 (lines for another namespace say so themselves).
 *
 * HG_CORPUS_BREAKS_ONLY=1: only the kernel half (make, the ping fails, the fault's reference
 * `repair` makes it work; working set-ups: the ping works), without doctor.
 * HG_CORPUS_JOBS (default 8): labs at once. The corpus runs once, with the compiled binary
 * (`deno task test:corpus`).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { hgArgv, labName, netnsList, type Run } from "../e2e/harness.ts";
import { type Case, type Fault, FAULTS, type Lab, openLab, type Side, WORKING } from "./faults.ts";

const BREAKS_ONLY = process.env.HG_CORPUS_BREAKS_ONLY === "1";
const JOBS = Math.max(1, Number(process.env.HG_CORPUS_JOBS ?? 8));

interface Finding {
  id: string;
  severity: string;
  where?: string;
  fix: string[];
}
interface Diagnosis {
  ok: boolean;
  verdict: string;
  findings: Finding[];
}

/** Runs a program without blocking the other labs; killed after `ms`. */
function exec(cmd: string, args: readonly string[], ms = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 1,
        stdout,
        stderr: signal ? `${stderr}\nkilled (${signal})` : stderr,
      });
    });
  });
}

const inNetns = (netns: string, argv: readonly string[], ms?: number) =>
  exec("nsenter", [`--net=/run/netns/${netns}`, "--", ...argv], ms);
const hgInAsync = (netns: string, args: readonly string[]) =>
  inNetns(netns, [...hgArgv(), ...args]);

/** One ping from c1 to c2 (`count` echoes 0.2 s apart, 1 s wait): whether any was answered. */
async function pings(lab: Lab, c: Case, count = 1): Promise<boolean> {
  const argv = ["ping", "-n", "-c", String(count), "-i", "0.2", "-W", "1", ...(c.ping ?? [])];
  return (await inNetns(lab.c1, [...argv, lab.c2Ip], 30_000)).code === 0;
}

/** Whether the ping works again within a few seconds (neighbour entries may need a re-probe). */
async function pingsWithin(lab: Lab, c: Case, tries = 5): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await pings(lab, c)) return true;
  return false;
}

async function doctor(lab: Lab): Promise<Diagnosis & { code: number }> {
  const r = await hgInAsync(lab.h1, [
    "doctor",
    "--json",
    "--store",
    lab.store,
    "--node",
    lab.h1,
    "--to",
    lab.c2Ip,
    "--from",
    lab.c1,
    "--peer-netns",
    lab.h2,
  ]);
  assert.ok(r.code === 0 || r.code === 1, `doctor exit ${r.code}: ${r.stderr}`);
  let d: Diagnosis;
  try {
    d = JSON.parse(r.stdout) as Diagnosis;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { ...d, code: r.code };
}

/** Runs fix lines as the contract says; each must exit 0. */
async function applyFix(lab: Lab, fix: readonly string[]): Promise<void> {
  for (const raw of fix) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const hgElsewhere = /^ip netns exec (\S+) hg (.*)$/.exec(line);
    const r = line.startsWith("hg ")
      ? await hgInAsync(lab.h1, line.slice(3).split(/\s+/))
      : hgElsewhere
      ? await hgInAsync(hgElsewhere[1], hgElsewhere[2].split(/\s+/))
      : await inNetns(lab.h1, ["sh", "-c", line]);
    assert.equal(r.code, 0, `fix line failed: ${line}: ${r.stderr}`);
  }
}

/** A fix line that takes something away or changes a setting: never right for a working set-up. */
const CHANGES = new RegExp(
  [
    String.raw`\b(del|delete|flush|rm|remove|release|replace|down|destroy|nomaster|reset)\b`,
    String.raw`\b(teardown|sync)\b`,
    String.raw`(^|\s)-[DFXPRZ](\s|$)`,
    String.raw`(^|\s)--(delete|flush|policy|replace)\b`,
    String.raw`\bsysctl\b.*=`,
    String.raw`\bmtu\b`,
    String.raw`\barp off\b`,
  ].join("|"),
);

const findingsText = (d: Diagnosis) =>
  JSON.stringify(d.findings.map((f) => ({ id: f.id, severity: f.severity, where: f.where })));

/**
 * The harness's `withLab(2, body, "file")` with lab up and down run asynchronously, so that
 * labs build and go while others ping: always takes the lab down, and asserts nothing is left.
 */
async function withLab(body: (name: string) => Promise<void>): Promise<void> {
  const name = labName();
  let failure: unknown;
  try {
    const [cmd, ...rest] = hgArgv();
    const up = await exec(cmd, [
      ...rest,
      "lab",
      "up",
      "--nodes",
      "2",
      "--name",
      name,
      "--store",
      "file",
    ]);
    if (up.code !== 0) throw new Error(`hg lab up failed (${up.code}): ${up.stderr}\n${up.stdout}`);
    await body(name);
  } catch (e) {
    failure = e;
  }
  const [cmd, ...rest] = hgArgv();
  const down = await exec(cmd, [...rest, "lab", "down", "--name", name]);
  const left = netnsList().filter((ns) => ns.startsWith(`${name}-`));
  if (failure) throw failure;
  if (down.code !== 0 || left.length > 0) {
    throw new Error(
      `hg lab down failed (${down.code}: ${down.stderr}); left behind: ${left.join(" ")}`,
    );
  }
}

/** The probe removed its trace tables from every namespace it watched. */
async function assertNoProbeTables(lab: Lab): Promise<void> {
  for (const ns of [lab.h1, lab.c1, lab.h2, lab.c2]) {
    const r = await exec("nsenter", [`--net=/run/netns/${ns}`, "--", "nft", "list", "tables"]);
    assert.doesNotMatch(r.stdout, /hgprobe_/, `the probe left its table in ${ns}`);
  }
}

async function checkFault(f: Fault): Promise<void> {
  await withLab(async (name) => {
    const lab = openLab(name);
    assert.ok(await pings(lab, f), "the lab works before the fault");
    f.make(lab);
    assert.ok(!(await pings(lab, f, 2)), "the fault stops the ping");
    if (BREAKS_ONLY) {
      await applyFix(lab, f.repair(lab));
      assert.ok(await pingsWithin(lab, f), `the reference repair (${f.repair(lab)}) works`);
      return;
    }
    const d = await doctor(lab);
    assert.equal(d.code, 1, `doctor exits 1 (${d.verdict})`);
    assert.ok(d.findings.length > 0, `doctor names a cause (${d.verdict})`);
    assert.equal(d.findings[0].id, f.id, `first finding (${d.verdict}): ${findingsText(d)}`);
    await assertNoProbeTables(lab);
    await applyFix(lab, d.findings[0].fix);
    assert.ok(
      await pingsWithin(lab, f),
      `doctor's fix (${d.findings[0].fix.join("; ")}) makes the ping work`,
    );
  });
}

async function checkWorking(w: Case): Promise<void> {
  await withLab(async (name) => {
    const lab = openLab(name);
    assert.ok(await pings(lab, w), "the lab works before the change");
    w.make(lab);
    assert.ok(await pings(lab, w, 2), "the set-up still works");
    if (BREAKS_ONLY) return;
    const d = await doctor(lab);
    assert.equal(d.code, 0, `doctor exits 0 (${d.verdict}): ${findingsText(d)}`);
    assert.equal(d.ok, true, d.verdict);
    await assertNoProbeTables(lab);
    for (const finding of d.findings) {
      for (const line of finding.fix) {
        if (line.trim().startsWith("#")) continue;
        assert.ok(
          !CHANGES.test(line),
          `${finding.id} suggests a change to a working set-up: ${line}`,
        );
      }
    }
  });
}

/** Every case runs once, JOBS labs at a time; each `it` awaits its own. */
const started = performance.now();
let results: Map<string, Promise<unknown>> | undefined;
function result(name: string): Promise<unknown> {
  if (!results) {
    results = new Map();
    const queue: [string, () => Promise<void>][] = [
      ...FAULTS.map((f) => [f.name, () => checkFault(f)] as [string, () => Promise<void>]),
      ...WORKING.map((w) => [w.name, () => checkWorking(w)] as [string, () => Promise<void>]),
    ];
    const settle = new Map<string, (e: unknown) => void>();
    for (const [n] of queue) results.set(n, new Promise((r) => settle.set(n, r)));
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [n, check] = next;
        settle.get(n)!(await check().then(() => undefined, (e) => e ?? new Error("failed")));
      }
    };
    for (let i = 0; i < JOBS; i++) void worker();
  }
  return results.get(name)!;
}

async function expectPassed(name: string): Promise<void> {
  const error = await result(name);
  if (error) throw error;
}

const SIDES: readonly Side[] = [
  "sending host",
  "receiving host",
  "sending container",
  "receiving container",
];

describe(`doctor corpus (e2e, root${BREAKS_ONLY ? ", breaks only" : ""})`, () => {
  it("is well formed: enough distinct cases, every side, every netfilter family and hook", () => {
    const names = [...FAULTS, ...WORKING].map((c) => c.name);
    assert.equal(new Set(names).size, names.length, "case names are unique");
    assert.ok(FAULTS.length >= 34, `${FAULTS.length} faults`);
    assert.ok(WORKING.length >= 12, `${WORKING.length} working set-ups`);
    for (const side of SIDES) assert.ok(FAULTS.some((f) => f.side === side), side);
    const categories = FAULTS.map((f) => f.category).join("\n");
    for (
      const word of [
        "ip filter",
        "ip mangle",
        "ip raw",
        "nft ip",
        "inet",
        "bridge prerouting",
        "bridge input",
        "bridge output",
        "netdev ingress",
        "netdev egress",
        "arp input",
        "arp output",
        "postrouting",
        "forward",
        "reject",
        "policy",
      ]
    ) assert.match(categories, new RegExp(word), word);
    for (const c of [...FAULTS, ...WORKING]) assert.ok(c.kernel.length > 40, c.name);
  });

  for (const f of FAULTS) {
    it(`fault [${f.side}] ${f.name} -> ${f.id}`, () => expectPassed(f.name));
  }
  for (const w of WORKING) {
    it(`works [${w.side}] ${w.name}`, () => expectPassed(w.name));
  }

  it("took (wall clock)", async () => {
    await Promise.all([...FAULTS, ...WORKING].map((c) => result(c.name)));
    console.log(
      `doctor corpus: ${FAULTS.length} faults, ${WORKING.length} working set-ups, ${JOBS} labs ` +
        `at once: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
