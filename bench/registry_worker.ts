/**
 * Benchmark helper: one registry client of `bench/registry_bench.ts`. It opens the store, says
 * it is ready, and on "go" (a line on stdin) allocates `count` subnets one after the other
 * (node `c<client>-<i>`, a public address of its own per allocation, TTL 1 h), timing each
 * `allocate` with `performance.now()`; it keeps them all and reports them (with the errors of
 * allocations that failed). On "release" it
 * releases them, timing each, reports and exits. Every message is one JSON line on stdout.
 *
 * `deno run -A bench/registry_worker.ts STORE_URL ETCD_PREFIX CLIENT COUNT`
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { parseAddress } from "../lib/net/address.ts";
import { formatPrefix, type Prefix } from "../lib/net/prefix.ts";
import { HgError } from "../lib/errors.ts";
import { allocate } from "../lib/store/allocate.ts";
import { type LeaseAttrs, subnetKey } from "../lib/store/lease.ts";
import { openStore } from "../lib/store/open.ts";
import type { SubnetStore } from "../lib/store/store.ts";

/** The TTL every benchmark allocation asks for. */
export const WORKER_TTL_SECONDS = 3600;

/** The node name of allocation `i` of client `client`. */
export function workerNode(client: number, i: number): string {
  return `c${client}-${i}`;
}

/**
 * The public address of allocation `i` of client `client`: distinct for every client and
 * allocation (10.128.0.0/9 has room for 2^23 of them), so no allocation finds another's lease.
 */
export function workerPublicIp(client: number, i: number): string {
  const n = client * 65_536 + i + 1;
  return `10.${128 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/** What a worker reports after its allocations. */
export interface AllocatedReport {
  readonly allocated: { readonly subnet: string; readonly node: string; readonly ms: number }[];
  /** Allocations that came back as an existing lease (must be none). */
  readonly reused: number;
  /** The errors of the allocations that failed (each counted, the loop goes on). */
  readonly failures: string[];
  /** Claims another client won first (each costs `allocate` another round). */
  readonly lostClaims: number;
}

/** What a worker reports after releasing: the times of the releases that worked, and the rest. */
export interface ReleasedReport {
  readonly released: number[];
  /** Releases hg refused with an error (the lease is still there). */
  readonly failures: { readonly subnet: string; readonly error: string }[];
}

function describe(e: unknown, ms: number): string {
  return `${(e as Error).name}: ${(e as Error).message} (after ${ms.toFixed(0)} ms)`;
}

/** `store`, counting the claims it loses (a proxy: the stores keep state in private fields). */
function countingClaims(store: SubnetStore): SubnetStore & { lostClaims(): number } {
  let lost = 0;
  const claim: SubnetStore["claim"] = async (subnet, attrs, ttlSeconds) => {
    const won = await store.claim(subnet, attrs, ttlSeconds);
    if (!won) lost++;
    return won;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "claim") return claim;
      if (prop === "lostClaims") return () => lost;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as SubnetStore & { lostClaims(): number };
}

function send(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function main(): Promise<void> {
  const [url, etcdPrefix, clientText, countText] = process.argv.slice(2);
  const client = Number(clientText);
  const count = Number(countText);
  if (!Number.isInteger(client) || client < 0 || client > 100 || !Number.isInteger(count)) {
    throw new Error("usage: registry_worker.ts STORE_URL ETCD_PREFIX CLIENT(0-100) COUNT");
  }
  const store = countingClaims(openStore(url, { etcdPrefix }));
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const expect = async (word: string) => {
    const next = await lines.next();
    if (next.done) throw new Error(`stdin closed while waiting for "${word}"`);
    if (next.value.trim() !== word) throw new Error(`expected "${word}", got ${next.value}`);
  };
  try {
    // One read before the clock starts: the connection (etcd) and the code paths are warm, so
    // the first allocation is not charged for them.
    if (!(await store.getConfig())) throw new Error(`${url} has no network config`);
    send({ ready: true });
    await expect("go");
    const held: { subnet: Prefix; node: string; ms: number }[] = [];
    const failures: string[] = [];
    let reused = 0;
    for (let i = 0; i < count; i++) {
      const attrs: LeaseAttrs = {
        publicIp: parseAddress(workerPublicIp(client, i)),
        backendType: "host-gw",
        node: workerNode(client, i),
      };
      const t0 = performance.now();
      try {
        const got = await allocate(store, { attrs, ttlSeconds: WORKER_TTL_SECONDS });
        const ms = performance.now() - t0;
        if (got.reused) reused++;
        held.push({ subnet: got.lease.subnet, node: attrs.node!, ms });
      } catch (e) {
        // Counted, not thrown: the benchmark reports failed allocations under load.
        failures.push(describe(e, performance.now() - t0));
      }
    }
    send(
      {
        allocated: held.map((h) => ({ subnet: formatPrefix(h.subnet), node: h.node, ms: h.ms })),
        reused,
        failures,
        lostClaims: store.lostClaims(),
      } satisfies AllocatedReport,
    );
    await expect("release");
    const released: number[] = [];
    const kept: { subnet: string; error: string }[] = [];
    for (const h of held) {
      const t0 = performance.now();
      try {
        const gone = await store.release(subnetKey(h.subnet));
        released.push(performance.now() - t0);
        // Every lease this client holds must still be there: a missing one was lost.
        if (!gone) throw new Error(`release of ${formatPrefix(h.subnet)} found no lease`);
      } catch (e) {
        if (!(e instanceof HgError)) throw e;
        kept.push({ subnet: formatPrefix(h.subnet), error: describe(e, performance.now() - t0) });
      }
    }
    send({ released, failures: kept } satisfies ReleasedReport);
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  try {
    await main();
    process.exit(0);
  } catch (e) {
    send({ error: (e as Error).stack ?? String(e) });
    process.exit(1);
  }
}
