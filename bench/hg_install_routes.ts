/**
 * Benchmark helper: installs N peer routes (the first N /24s of 100.64.0.0/10 via 10.0.12.12,
 * or with `--ipv6` the first N /64s of fd00:64::/48 via fd00:12::12) in the network namespace
 * this process runs in, the way `hg peer` does it: observe the host, reconcile in "sync" mode,
 * apply the plan. Prints one JSON line with the times.
 *
 * With `--sync FILE` it instead makes the library calls `hg peer sync --store FILE` makes (read
 * the registry, observe, plan, apply; without the host lock and the output), timing each phase
 * in wall and this process's CPU time.
 *
 * Start it inside a scratch namespace only:
 * `nsenter --net=/run/netns/hgbench-ap-r -- deno run -A bench/hg_install_routes.ts [--ipv6] 1000`
 * or `... bench/hg_install_routes.ts --sync /tmp/registry.json`
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { observeHost } from "../lib/host/observe.ts";
import { IpSession } from "../lib/ip/session.ts";
import { formatPrefix, nthSubnet, parseAddress, parsePrefix } from "../lib/net/mod.ts";
import type { PeerRequest } from "../lib/peers/request.ts";
import { reconcilePeers } from "../lib/peers/reconcile.ts";
import { planPeerSync } from "../lib/peers/sync.ts";
import { applyPlan } from "../lib/plan/apply.ts";
import { openStore } from "../lib/store/open.ts";

/** The network the benchmark's peer subnets are taken from. */
export const PEER_NETWORK = "100.64.0.0/10";
/** The on-link gateway every benchmark route goes via. */
export const PEER_GATEWAY = "10.0.12.12";

/** The IPv6 network and on-link gateway of `--ipv6` (bench/ipv6_routes_bench.ts's peer). */
export const PEER_NETWORK6 = "fd00:64::/48";
export const PEER_GATEWAY6 = "fd00:12::12";

/**
 * The first `n` /24s of {@link PEER_NETWORK} via {@link PEER_GATEWAY}, or for IPv6 the first
 * `n` /64s of {@link PEER_NETWORK6} via {@link PEER_GATEWAY6}.
 */
export function benchRequests(n: number, family: 4 | 6 = 4): PeerRequest[] {
  const network = parsePrefix(family === 4 ? PEER_NETWORK : PEER_NETWORK6);
  const via = parseAddress(family === 4 ? PEER_GATEWAY : PEER_GATEWAY6);
  const length = family === 4 ? 24 : 64;
  return Array.from({ length: n }, (_, i) => ({ subnet: nthSubnet(network, length, i), via }));
}

/** What one install did and how long each phase took. */
export interface InstallResult {
  readonly ms: number;
  readonly observeMs: number;
  readonly reconcileMs: number;
  readonly applyMs: number;
  readonly planned: number;
  readonly rejected: number;
  readonly unchanged: number;
}

/** Observes, reconciles and applies `requests` in this process's namespace, timing each phase. */
export async function installRoutes(requests: readonly PeerRequest[]): Promise<InstallResult> {
  const t0 = performance.now();
  // The same path as hg's changing commands: observe and apply through one ip process.
  const session = IpSession.open();
  const state = await observeHost(session);
  const t1 = performance.now();
  const { plan, rejected, unchanged } = reconcilePeers(state, requests, "sync");
  const t2 = performance.now();
  await applyPlan(plan, session);
  const t3 = performance.now();
  if (rejected.length > 0) {
    throw new Error(`${rejected.length} requests rejected, first: ${rejected[0].error.message}`);
  }
  return {
    ms: t3 - t0,
    observeMs: t1 - t0,
    reconcileMs: t2 - t1,
    applyMs: t3 - t2,
    planned: plan.length,
    rejected: rejected.length,
    unchanged,
  };
}

/** This host's node name in `--sync` runs and the benchmark's `hg peer sync`: no lease's. */
export const SYNC_SELF = "bench-self";

/**
 * Writes a file registry (hg's format, written directly) whose leases are {@link benchRequests}
 * `n`: lease i holds the i-th /24 of {@link PEER_NETWORK}, via {@link PEER_GATEWAY}, node
 * `peer-i`; so a sync of it installs the routes the raw batch installs.
 */
export function writeBenchRegistry(path: string, n: number): void {
  const leases: Record<string, unknown> = {};
  benchRequests(n).forEach((r, i) => {
    leases[formatPrefix(r.subnet).replace("/", "-")] = {
      attrs: { PublicIP: PEER_GATEWAY, BackendType: "host-gw", HgNode: `peer-${i}` },
      expiration: "2099-01-01T00:00:00.000Z",
    };
  });
  const config = { Network: PEER_NETWORK, SubnetLen: 24, Backend: { Type: "host-gw" } };
  const file = { kind: "hg-subnet-registry", version: 1, revision: 1, config, leases };
  writeFileSync(path, JSON.stringify(file, null, 1) + "\n");
}

/** Wall and CPU (this process's user+sys, not its children's) of one phase, in ms. */
export interface PhaseCost {
  readonly ms: number;
  readonly cpuMs: number;
}

/** The phases of one `--sync` run. */
export interface SyncPhases {
  readonly read: PhaseCost;
  readonly observe: PhaseCost;
  readonly plan: PhaseCost;
  readonly apply: PhaseCost;
  readonly planned: number;
  readonly refused: number;
}

/** The library calls of `hg peer sync --store FILE`, each phase timed. */
export async function syncPhases(file: string): Promise<SyncPhases> {
  const marks: { t: number; cpu: number }[] = [];
  const mark = () => {
    const u = process.cpuUsage();
    marks.push({ t: performance.now(), cpu: (u.user + u.system) / 1000 });
  };
  mark();
  const store = openStore(file);
  const { config, listing } = await store.readRegistry();
  await store.close();
  if (!config) throw new Error(`${file} has no network config`);
  mark();
  const session = IpSession.open();
  try {
    const host = await observeHost(session);
    mark();
    const sync = planPeerSync(host, config, listing.entries, { node: SYNC_SELF, bridge: "cni0" });
    mark();
    await applyPlan(sync.plan, session);
    mark();
    const phase = (i: number): PhaseCost => ({
      ms: marks[i + 1].t - marks[i].t,
      cpuMs: marks[i + 1].cpu - marks[i].cpu,
    });
    return {
      read: phase(0),
      observe: phase(1),
      plan: phase(2),
      apply: phase(3),
      planned: sync.plan.length,
      refused: sync.refused.length,
    };
  } finally {
    await session.close();
  }
}

if (import.meta.main && process.argv.includes("--sync")) {
  console.log(JSON.stringify(await syncPhases(process.argv[process.argv.indexOf("--sync") + 1])));
} else if (import.meta.main) {
  const n = Number(process.argv[process.argv.length - 1]);
  const family = process.argv.includes("--ipv6") ? 6 : 4;
  if (!Number.isInteger(n) || n < 1 || n > 16384) {
    console.error(
      "usage: hg_install_routes.ts [--ipv6] N   (1 <= N <= 16384, the /24s in 100.64.0.0/10)",
    );
    process.exit(2);
  }
  // Built before the clock starts: the requests are the input, not part of hg's work.
  const requests = benchRequests(n, family);
  console.log(JSON.stringify(await installRoutes(requests)));
}
