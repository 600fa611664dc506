/**
 * Benchmark helper: installs N peer routes (the first N /24s of 100.64.0.0/10 via 10.0.12.12,
 * or with `--ipv6` the first N /64s of fd00:64::/48 via fd00:12::12) in the network namespace
 * this process runs in, the way `hg peer` does it: observe the host, reconcile in "sync" mode,
 * apply the plan. Prints one JSON line with the times.
 *
 * Start it inside a scratch namespace only:
 * `nsenter --net=/run/netns/hgbench-r -- deno run -A bench/hg_install_routes.ts [--ipv6] 1000`
 *
 * @module
 */
import process from "node:process";
import { observeHost } from "../lib/host/observe.ts";
import { IpSession } from "../lib/ip/session.ts";
import { nthSubnet, parseAddress, parsePrefix } from "../lib/net/mod.ts";
import type { PeerRequest } from "../lib/peers/request.ts";
import { reconcilePeers } from "../lib/peers/reconcile.ts";
import { applyPlan } from "../lib/plan/apply.ts";

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

if (import.meta.main) {
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
