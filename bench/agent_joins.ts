/**
 * The measuring half of `bench/agent_bench.ts`, run inside the lab's underlay namespace (where
 * the lab's etcd listens): writes `JOINS` leases of new hosts to the registry one after another
 * and times, for each, when its route appears on every lab host (`ip -n HOST monitor route`),
 * then releases them and times the routes going. As a floor, the same process watches the
 * registry itself (`watchLeases`, what the agents react to) and times its notification.
 *
 * Usage: `agent_joins.ts STORE_URL JOINS HOST...`; prints one JSON document.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { formatPrefix, parseAddress } from "../lib/net/mod.ts";
import { freeSubnets, takenSubnets } from "../lib/store/allocate.ts";
import { openStore } from "../lib/store/open.ts";
import { subnetKey } from "../lib/store/lease.ts";

const [url, joinsText, ...hosts] = process.argv.slice(2);
const joins = Number(joinsText);
const store = openStore(url);

/** One join or leave: ms from the start of the registry write. */
export interface Sample {
  /** The write itself (claim or release) was acknowledged. */
  readonly writeMs: number;
  /** This process's own watch of the registry saw the change. */
  readonly notifiedMs: number;
  /** The route changed on each host, in `hosts` order. */
  readonly hostMs: readonly number[];
}

// The first time each host's route table showed "<subnet> added" or "<subnet> deleted".
const seen = new Map<string, number>();
const waiters = new Set<() => void>();
const monitors = hosts.map((host) => {
  const child = spawn("ip", ["-n", host, "monitor", "route"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    const at = performance.now();
    const deleted = line.startsWith("Deleted ");
    const dst = (deleted ? line.slice(8) : line).split(" ")[0];
    const key = `${host} ${dst} ${deleted ? "deleted" : "added"}`;
    if (!seen.has(key)) seen.set(key, at);
    for (const wake of waiters) wake();
  });
  return child;
});

let notified = 0;
let lastNotice = 0;
const watching = new AbortController();
const listing = await store.listLeases();
(async () => {
  for await (const _ of store.watchLeases(listing.revision, watching.signal)) {
    notified++;
    lastNotice = performance.now();
    for (const wake of waiters) wake();
  }
})().catch(() => {});

/** Resolves when `ready()` holds, checking on every event; fails after 10 s. */
function until(ready: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`timed out waiting for ${what}`));
    }, 10_000);
    const check = () => {
      if (!ready()) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve();
    };
    waiters.add(check);
    check();
  });
}

/** Times one registry write until every host's routes show `dst` `change`. */
async function measure(
  dst: string,
  change: "added" | "deleted",
  write: () => Promise<unknown>,
): Promise<Sample> {
  const before = notified;
  const t0 = performance.now();
  await write();
  const writeMs = performance.now() - t0;
  const keys = hosts.map((h) => `${h} ${dst} ${change}`);
  await until(() => notified > before && keys.every((k) => seen.has(k)), `${change} ${dst}`);
  return {
    writeMs,
    notifiedMs: lastNotice - t0,
    hostMs: keys.map((k) => seen.get(k)! - t0),
  };
}

// Give the monitors a moment to subscribe before the first write.
await new Promise((r) => setTimeout(r, 300));
const config = (await store.getConfig())!;
const subnets = freeSubnets(config, takenSubnets(listing.entries)).slice(0, joins);
const pause = () => new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
const joined: Sample[] = [];
for (const [i, { subnet }] of subnets.entries()) {
  const attrs = {
    publicIp: parseAddress(`10.0.13.${i + 1}`),
    backendType: "host-gw",
    node: `bench-${i}`,
  };
  joined.push(
    await measure(formatPrefix(subnet), "added", async () => {
      if (!(await store.claim({ subnet }, attrs, 600))) {
        throw new Error(`lost ${formatPrefix(subnet)}`);
      }
    }),
  );
  await pause();
}
const left: Sample[] = [];
for (const { subnet } of subnets) {
  left.push(await measure(formatPrefix(subnet), "deleted", () => store.release(subnetKey(subnet))));
  await pause();
}
watching.abort();
for (const m of monitors) m.kill();
await store.close();
console.log(JSON.stringify({ joined, left }));
process.exit(0);
