/**
 * A SIGKILL storm on the shared JSON file: waves of real `hg subnet alloc/renew/release`
 * processes against one registry, held still at the lock-created, before-rename and
 * after-rename points (HG_TEST_HOLD_WRITE) and killed there or at random moments, some left to
 * finish. Afterwards the next writer gets through within seconds, the file parses, every write
 * a process reported as done is there, no subnet has two holders and no node two subnets, and
 * after that one clean write no temp, lock or takeover file is left.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hasOpen, hg, hgArgv } from "../e2e/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-storm-"));
const registry = join(dir, "subnets.json");
const lockPath = `${registry}.lock`;
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (low: number, high: number) => low + Math.floor(Math.random() * (high - low));

type Point = "lock-created" | "before-rename" | "after-rename";
type Op = "alloc" | "renew" | "release";
type KillMode = "at-point" | "random" | "never";

interface Plan {
  readonly op: Op;
  readonly node: string;
  readonly ip: string;
  readonly hold?: { readonly point: Point; readonly ms: number };
  readonly kill: KillMode;
}

interface Outcome {
  readonly plan: Plan;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Where it was when it was killed (undefined: not killed, it exited by itself first). */
  readonly killedAt?: string;
}

interface StoredFile {
  revision: number;
  leases: Record<string, { attrs: { HgNode?: string }; expiration: string }>;
}

const readRegistry = (): StoredFile => JSON.parse(readFileSync(registry, "utf8"));

function lockContent(): string | undefined {
  try {
    return readFileSync(lockPath, "utf8");
  } catch {
    return undefined;
  }
}

function leaseOf(file: StoredFile, node: string) {
  return Object.entries(file.leases).find(([, l]) => l.attrs.HgNode === node);
}

/** Whether the writer `pid` running `plan` is at its hold point now. */
function atPoint(plan: Plan, pid: number, expirationAtStart: string | undefined): boolean {
  const lock = lockContent();
  switch (plan.hold?.point) {
    case "lock-created":
      return lock === "" && hasOpen(pid, lockPath);
    case "before-rename":
      return readdirSync(dir).some((f) => f.includes(`.${pid}.`) && f.endsWith(".tmp"));
    case "after-rename": {
      if (!lock?.startsWith(`${pid} `)) return false;
      const mine = leaseOf(readRegistry(), plan.node);
      if (plan.op === "alloc") return mine !== undefined;
      if (plan.op === "release") return mine === undefined;
      return mine !== undefined && mine[1].expiration !== expirationAtStart;
    }
    default:
      return lock?.startsWith(`${pid} `) ?? false;
  }
}

/** Runs one writer to its end: by itself, or killed as its plan says. */
async function runWriter(plan: Plan): Promise<Outcome> {
  const args = plan.op === "release"
    ? ["subnet", "release", "--store", registry, "--node", plan.node]
    : ["subnet", plan.op, "--store", registry, "--node", plan.node, "--public-ip", plan.ip];
  const expirationAtStart = leaseOf(readRegistry(), plan.node)?.[1].expiration;
  const [cmd, ...rest] = hgArgv();
  const env = { ...process.env };
  if (plan.hold) env.HG_TEST_HOLD_WRITE = `${plan.hold.point}:${plan.hold.ms}`;
  else delete env.HG_TEST_HOLD_WRITE;
  const child = spawn(cmd, [...rest, "--json", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  child.stderr!.on("data", (d) => stderr += d);
  let exited = false;
  const done = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      exited = true;
      running.delete(child);
      resolve(code);
    })
  );
  let killedAt: string | undefined;
  const kill = (where: string) => {
    if (exited || child.exitCode !== null) return;
    killedAt = where;
    child.kill("SIGKILL");
  };
  if (plan.kill === "random") {
    await Promise.race([done, sleep(between(0, 1500))]);
    kill("a random moment");
  } else if (plan.kill === "at-point") {
    while (!exited && !atPoint(plan, child.pid!, expirationAtStart)) await sleep(5);
    if (!exited) {
      // Within the hold, so that the kill lands at the point (or just after it, with no hold).
      await Promise.race([done, sleep(between(0, Math.min((plan.hold?.ms ?? 50) * 0.8, 400)))]);
      kill(plan.hold?.point ?? "holding the lock");
    }
  }
  const code = await done;
  return { plan, code, stdout, stderr, killedAt };
}

const POINTS: readonly (Point | undefined)[] = [
  undefined,
  "lock-created",
  "before-rename",
  "after-rename",
];
const KILLS: readonly KillMode[] = ["at-point", "random", "at-point", "never"];
/** Waves of 8 writers; with the 2 s grace of each empty lock, about 5 s a wave. */
const WAVES = 4;

describe("file store SIGKILL storm (real processes)", () => {
  it("writers killed anywhere never wedge, lose or double-hand a lease, and leave nothing behind", async () => {
    const started = Date.now();
    assert.equal(hg(["subnet", "config", "--store", registry, "--network", "1.1.0.0/16"]).code, 0);
    const known: { node: string; ip: string }[] = [];
    const released = new Set<string>();
    const outcomes: Outcome[] = [];
    const waveMs: number[] = [];
    // A first few leases, so that renew and release have something to act on from the start.
    const seeds = Array.from(
      { length: 6 },
      (_, i) => ({ node: `seed${i}`, ip: `10.0.20.${i + 1}` }),
    );
    outcomes.push(
      ...(await Promise.all(
        seeds.map((s) => runWriter({ op: "alloc", ...s, kill: "never" })),
      )),
    );
    known.push(...seeds);

    for (let wave = 0; wave < WAVES; wave++) {
      const plans: Plan[] = [];
      for (let i = 0; i < 8; i++) {
        const point = POINTS[(wave + i) % POINTS.length];
        const hold = point ? { point, ms: between(50, 500) } : undefined;
        // Over the waves, each hold point meets each way of being killed (or not).
        const kill = KILLS[(wave + 2 * i) % KILLS.length];
        if (i < 4) {
          const node = { node: `w${wave}n${i}`, ip: `10.0.${21 + wave}.${i + 1}` };
          plans.push({ op: "alloc", ...node, hold, kill });
          known.push(node);
        } else {
          // Nodes whose allocation is over (earlier waves), none released twice.
          const candidates = known.filter((k) =>
            !released.has(k.node) && !k.node.startsWith(`w${wave}n`)
          );
          const target = candidates[between(0, candidates.length)];
          const op: Op = i < 6 ? "renew" : "release";
          if (op === "release") released.add(target.node);
          plans.push({ op, ...target, hold, kill });
        }
      }
      // A writer stalled at lock-created past the 2 s grace: its empty lock is taken over while
      // it sleeps, it notices, and it tries again; left alive, it must still succeed.
      if (wave === 1) {
        const node = { node: `stall${wave}`, ip: `10.0.30.${wave}` };
        plans.push({
          op: "alloc",
          ...node,
          hold: { point: "lock-created", ms: 2600 },
          kill: "never",
        });
        known.push(node);
      }
      const waveStart = Date.now();
      outcomes.push(...(await Promise.all(plans.map(runWriter))));
      waveMs.push(Date.now() - waveStart);
    }
    // The storm ends on the worst leftovers: a writer killed before its rename (a dead lock and
    // an orphan temp file), then one killed right after creating its lock (an empty lock).
    for (const point of ["before-rename", "lock-created"] as const) {
      const node = { node: `last-${point}`, ip: `10.0.31.${point.length}` };
      const o = await runWriter({
        op: "alloc",
        ...node,
        hold: { point, ms: 20_000 },
        kill: "at-point",
      });
      assert.equal(o.killedAt, point);
      outcomes.push(o);
    }
    assert.equal(lockContent(), "", "an empty lock is left");
    assert.equal(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")).length,
      1,
      "an orphan temp file",
    );
    const stormMs = Date.now() - started;

    // The storm did what it says: kills at each hold point and at random, and survivors.
    const killedAt = (where: string) => outcomes.filter((o) => o.killedAt === where).length;
    for (const point of ["lock-created", "before-rename", "after-rename"]) {
      assert.ok(killedAt(point) >= 1, `some writer was killed at ${point}`);
    }
    assert.ok(outcomes.filter((o) => o.killedAt).length >= 12, "many writers were killed");

    // Nothing that ran to its end failed in a way the registry could cause: no lost lock, no
    // lock given up on, no internal error. Renew and release may find no lease (killed alloc).
    for (const o of outcomes.filter((o) => !o.killedAt)) {
      const why = `${o.plan.op} ${o.plan.node} (hold ${JSON.stringify(o.plan.hold)}): ${o.stderr}`;
      if (o.plan.op === "alloc") assert.equal(o.code, 0, why);
      else if (o.code !== 0) assert.match(o.stderr, /holds no lease|no lease for node/, why);
    }

    // The next writer gets through within seconds (an empty lock waits out its 2 s grace).
    const t = Date.now();
    const next = hg([
      "--json",
      "subnet",
      "alloc",
      "--store",
      registry,
      "--node",
      "after",
      "--public-ip",
      "10.0.99.1",
    ]);
    const recoveryMs = Date.now() - t;
    assert.equal(next.code, 0, next.stderr);
    assert.ok(recoveryMs < 10_000, `the next writer took ${recoveryMs} ms`);

    // After that one clean write: nothing but the registry in its directory.
    assert.deepEqual(readdirSync(dir), ["subnets.json"], "no temp, lock or takeover file left");
    assert.ok(!existsSync(lockPath));

    // The file parses, hg reads it without problems, and it is consistent.
    const final = readRegistry();
    const ls = hg(["--json", "subnet", "ls", "--store", registry]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(JSON.parse(ls.stdout).problems, []);
    const holders = new Map<string, string[]>();
    for (const [key, lease] of Object.entries(final.leases)) {
      const node = lease.attrs.HgNode ?? "?";
      holders.set(node, [...(holders.get(node) ?? []), key]);
    }
    for (const [node, keys] of holders) {
      assert.equal(keys.length, 1, `${node} holds ${keys.join(", ")}`);
      assert.ok(node === "after" || known.some((k) => k.node === node), `${node} is one of ours`);
    }

    // Every write reported done is there: allocations (and renewals) of nodes nobody released
    // hold the subnet they were given, so no subnet went to two nodes; releases are gone.
    const subnetOf = (node: string) => leaseOf(final, node)?.[0].replace("-", "/");
    for (const o of outcomes.filter((o) => !o.killedAt && o.code === 0)) {
      const reported = JSON.parse(o.stdout).subnet as string;
      if (o.plan.op === "release") {
        assert.equal(subnetOf(o.plan.node), undefined, `${o.plan.node} was released`);
      } else if (!released.has(o.plan.node)) {
        assert.equal(
          subnetOf(o.plan.node),
          reported,
          `${o.plan.op} ${o.plan.node} got ${reported}`,
        );
      }
    }
    assert.equal(subnetOf("after"), JSON.parse(next.stdout).subnet);

    console.log(
      `storm: ${outcomes.length} writers in ${stormMs} ms (waves ${waveMs.join(", ")} ms), ${
        outcomes.filter((o) => o.killedAt).length
      } killed (lock-created ${killedAt("lock-created")}, before-rename ${
        killedAt("before-rename")
      }, after-rename ${killedAt("after-rename")}, holding the lock ${
        killedAt("holding the lock")
      }, random ${
        killedAt("a random moment")
      }); next writer ${recoveryMs} ms; revision ${final.revision}`,
    );
  });
});
