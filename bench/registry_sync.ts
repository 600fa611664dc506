/**
 * Benchmark helper for `bench/registry_bench.ts`, run inside the scratch namespace `hgbench-s`
 * (nsenter): the namespace's own loopback is where its etcd listens, so everything that talks to
 * that etcd runs in here. Three modes, each printing JSON lines on stdout:
 *
 * - `serve-etcd`: starts a throwaway etcd on this namespace's 127.0.0.1, prints its endpoint,
 *   and stops it (data dir removed) when stdin closes or on SIGTERM/SIGINT.
 * - `fill-etcd URL PREFIX N`: writes the sync config and N leases of other hosts.
 * - `sync URL PREFIX N`: `hg peer sync`'s path, timed: registry read, observe + plan, apply;
 *   then a second sync, which must plan 0 steps.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { startEtcd } from "../tests/support/etcd.ts";
import { observeHost } from "../lib/host/observe.ts";
import { IpSession } from "../lib/ip/session.ts";
import {
  formatAddress,
  formatPrefix,
  nthSubnet,
  parseAddress,
  parsePrefix,
  type Prefix,
} from "../lib/net/mod.ts";
import { planPeerSync } from "../lib/peers/sync.ts";
import { applyPlan } from "../lib/plan/apply.ts";
import { EtcdClient } from "../lib/store/etcd/client.ts";
import { formatNetworkConfig, makeNetworkConfig } from "../lib/store/config.ts";
import { configureNetwork } from "../lib/store/configure.ts";
import { FILE_KIND, type RegistryFile } from "../lib/store/file/format.ts";
import { formatLeaseValue, type LeaseAttrs, leaseValue, subnetKey } from "../lib/store/lease.ts";
import { openStore } from "../lib/store/open.ts";

/** The cluster network of the sync benchmark. */
export const SYNC_NETWORK = "100.64.0.0/10";
/** This host's node name in the sync benchmark (no lease carries it). */
export const SYNC_NODE = "bench";
/** The lifetime of the benchmark's leases: long enough to outlive a run. */
const LEASE_TTL_SECONDS = 3600;
/** Puts in flight at once while filling etcd. */
const FILL_CONCURRENCY = 32;

/** Lease `i` of the sync benchmark: the i-th /24 of 100.64.0.0/10, via 10.0.12.12-200. */
export function syncLease(i: number): { subnet: Prefix; attrs: LeaseAttrs } {
  return {
    subnet: nthSubnet(parsePrefix(SYNC_NETWORK), 24, i),
    attrs: {
      publicIp: parseAddress(`10.0.12.${12 + (i % 189)}`),
      backendType: "host-gw",
      node: `peer-${i}`,
    },
  };
}

/** The routes a sync of `n` leases must leave: destination → gateway. */
export function expectedRoutes(n: number): Map<string, string> {
  const routes = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const { subnet, attrs } = syncLease(i);
    routes.set(formatPrefix(subnet), formatAddress(attrs.publicIp));
  }
  return routes;
}

/** Writes a file registry with the sync config and `n` leases in one go, in the store's format. */
export function writeSyncRegistryFile(path: string, n: number): void {
  const expiration = new Date(Date.now() + LEASE_TTL_SECONDS * 1000).toISOString();
  const leases: Record<string, { attrs: Record<string, unknown>; expiration: string }> = {};
  for (let i = 0; i < n; i++) {
    const { subnet, attrs } = syncLease(i);
    leases[subnetKey(subnet)] = { attrs: leaseValue(attrs), expiration };
  }
  const file: RegistryFile = {
    kind: FILE_KIND,
    version: 1,
    revision: 1,
    config: JSON.parse(formatNetworkConfig(makeNetworkConfig(parsePrefix(SYNC_NETWORK), 24))),
    leases,
  };
  writeFileSync(path, JSON.stringify(file, null, 1) + "\n");
}

/** What one timed sync did; times in ms. */
export interface SyncResult {
  readonly readMs: number;
  readonly observeMs: number;
  readonly planMs: number;
  readonly applyMs: number;
  readonly totalMs: number;
  readonly planned: number;
  readonly peers: number;
  readonly refused: number;
  /** The second sync: its total time, steps planned (must be 0) and leases found unchanged. */
  readonly again: {
    readonly totalMs: number;
    readonly planned: number;
    readonly unchanged: number;
  };
}

function etcdClientFor(url: string): EtcdClient {
  return new EtcdClient({ endpoints: [url.replace(/^etcd:\/\//, "http://")] });
}

async function serveEtcd(): Promise<void> {
  const etcd = await startEtcd();
  try {
    console.log(JSON.stringify({ endpoint: etcd.endpoints[0], dataDir: etcd.dataDir }));
    // Runs until the benchmark closes stdin (SIGTERM is handled by startEtcd's exit hook).
    for await (const _ of process.stdin) { /* nothing is expected */ }
  } finally {
    await etcd.stop();
  }
}

async function fillEtcd(url: string, prefix: string, n: number): Promise<void> {
  const t0 = performance.now();
  const store = openStore(url, { etcdPrefix: prefix });
  await configureNetwork(store, makeNetworkConfig(parsePrefix(SYNC_NETWORK), 24));
  const client = etcdClientFor(url);
  // One etcd lease for all keys: the benchmark's leases only need to outlive the run.
  const lease = await client.leaseGrant(LEASE_TTL_SECONDS);
  let next = 0;
  const writer = async () => {
    while (next < n) {
      const { subnet, attrs } = syncLease(next++);
      await client.put(`${prefix}/subnets/${subnetKey(subnet)}`, formatLeaseValue(attrs), lease);
    }
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, writer));
  const listed = (await store.listLeases()).entries.filter((e) => "lease" in e).length;
  if (listed !== n) throw new Error(`filled ${n} leases into ${url}${prefix}, found ${listed}`);
  console.log(JSON.stringify({ filled: n, ms: performance.now() - t0 }));
}

async function syncOnce(url: string, prefix: string) {
  const t0 = performance.now();
  const store = openStore(url, { etcdPrefix: prefix });
  // As `hg peer sync` does: both reads at once.
  const { config, listing } = await store.readRegistry();
  await store.close();
  if (!config) throw new Error(`${url} has no network config`);
  const t1 = performance.now();
  const session = IpSession.open();
  const state = await observeHost(session);
  const t2 = performance.now();
  const sync = planPeerSync(state, config, listing.entries, { node: SYNC_NODE, bridge: "cni0" });
  const t3 = performance.now();
  await applyPlan(sync.plan, session);
  const t4 = performance.now();
  return { sync, times: [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0] };
}

async function timedSync(url: string, prefix: string, n: number): Promise<SyncResult> {
  const first = await syncOnce(url, prefix);
  const { sync } = first;
  if (sync.refused.length > 0 || sync.peers.length !== n || sync.plan.length !== n) {
    throw new Error(
      `sync of ${n} leases: ${sync.plan.length} steps, ${sync.peers.length} peers, ` +
        `${sync.refused.length} refused (first: ${JSON.stringify(sync.refused[0])})`,
    );
  }
  const again = await syncOnce(url, prefix);
  const [readMs, observeMs, planMs, applyMs, totalMs] = first.times;
  return {
    readMs,
    observeMs,
    planMs,
    applyMs,
    totalMs,
    planned: sync.plan.length,
    peers: sync.peers.length,
    refused: sync.refused.length,
    again: {
      totalMs: again.times[4],
      planned: again.sync.plan.length,
      unchanged: again.sync.unchanged,
    },
  };
}

if (import.meta.main) {
  const [mode, url, prefix, nText] = process.argv.slice(2);
  const n = Number(nText);
  try {
    if (mode === "serve-etcd") await serveEtcd();
    else if (mode === "fill-etcd" && Number.isInteger(n)) await fillEtcd(url, prefix, n);
    else if (mode === "sync" && Number.isInteger(n)) {
      console.log(JSON.stringify(await timedSync(url, prefix, n)));
    } else {
      console.error(
        "usage: registry_sync.ts serve-etcd | fill-etcd URL PREFIX N | sync URL PREFIX N",
      );
      process.exit(2);
    }
  } catch (e) {
    console.error((e as Error).stack ?? String(e));
    process.exit(1);
  }
  process.exit(0);
}
