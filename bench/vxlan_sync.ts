/**
 * The `hg peer sync` part of `bench/vxlan_bench.ts`: the registry of N VXLAN (or host-gw) peers,
 * the exact `ip -batch` and `bridge -batch` lines a sync of it must amount to (written out here
 * from flannel's layout, not taken from hg's planner), and, run as a program inside the scratch
 * host namespace (nsenter), `hg peer sync`'s path timed phase by phase:
 *
 * `deno run -A bench/vxlan_sync.ts phases REGISTRY_FILE` prints one JSON line ({@link Phases}).
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { listContainers, presentContainers } from "../lib/containers/list.ts";
import { VXLAN_ALIAS } from "../lib/host/marks.ts";
import { observeHost } from "../lib/host/observe.ts";
import { IpSession } from "../lib/ip/session.ts";
import {
  formatAddress,
  formatPrefix,
  nthSubnet,
  parseAddress,
  parsePrefix,
} from "../lib/net/mod.ts";
import { describeChanges } from "../lib/peers/describe.ts";
import { planPeerSync } from "../lib/peers/sync.ts";
import { applyPlan } from "../lib/plan/apply.ts";
import { renderPlan } from "../lib/plan/render.ts";
import { type Backend, formatNetworkConfig, makeNetworkConfig } from "../lib/store/config.ts";
import { FILE_KIND, type RegistryFile } from "../lib/store/file/format.ts";
import { type LeaseAttrs, leaseValue, subnetKey } from "../lib/store/lease.ts";
import { openStore } from "../lib/store/open.ts";
import { vtepMac } from "../lib/vxlan/vtep.ts";

/** The cluster network: /24s of 100.64.0.0/10. */
export const SYNC_NETWORK = "100.64.0.0/10";
/** This host's node name; its lease holds the network's second /24. */
export const SYNC_NODE = "bench";
/** This host's public address: its uplink's (see `buildUplinkPair`). */
export const HOST_ADDRESS = "10.0.12.11";
/** The uplink's other end: the router towards the off-link peers. */
export const ROUTER_ADDRESS = "10.0.12.12";
/** Where the off-link (VXLAN) peers' public addresses are: not on any network of the host. */
export const OFFLINK_NETWORK = "10.1.0.0/16";
/** hg's VXLAN device on the default VNI. */
export const DEVICE = "flannel.1";
/** The uplink's MTU less VXLAN's 50 bytes. */
export const DEVICE_MTU = 1450;

/** How the peers are reached: over VXLAN (off-link), or host-gw (on-link). */
export type PeerKind = "vxlan" | "host-gw";

const BACKENDS: Record<PeerKind, Backend> = {
  "vxlan": { type: "vxlan", vni: 1, port: 8472, directRouting: true },
  "host-gw": { type: "host-gw" },
};

/** This host's own lease: the network's second /24 (flannel's SubnetMin). */
export function ownLease(kind: PeerKind): { subnet: string; attrs: LeaseAttrs } {
  const publicIp = parseAddress(HOST_ADDRESS);
  return {
    subnet: formatPrefix(nthSubnet(parsePrefix(SYNC_NETWORK), 24, 1)),
    attrs: {
      publicIp,
      backendType: kind,
      node: SYNC_NODE,
      ...(kind === "vxlan" ? { vtep: { mac: vtepMac(publicIp), vni: 1 } } : {}),
    },
  };
}

/**
 * Peer `i`'s lease: the (i+2)-th /24 of the network. A VXLAN peer is off-link, at
 * 10.1.(1 + i/250).(1 + i%250), with hg's VTEP MAC for that address (distinct for every peer);
 * a host-gw peer is on the uplink's 10.0.12.0/22, at 10.0.12.12 + i.
 */
export function peerLease(kind: PeerKind, i: number): { subnet: string; attrs: LeaseAttrs } {
  const n = 12 + i;
  const publicIp = parseAddress(
    kind === "vxlan"
      ? `10.1.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`
      : `10.0.${12 + (n >> 8)}.${n & 255}`,
  );
  return {
    subnet: formatPrefix(nthSubnet(parsePrefix(SYNC_NETWORK), 24, i + 2)),
    attrs: {
      publicIp,
      backendType: kind,
      node: `peer-${i}`,
      ...(kind === "vxlan" ? { vtep: { mac: vtepMac(publicIp), vni: 1 } } : {}),
    },
  };
}

/** Writes a file registry (the store's format) with the config, this host's lease and `n` peers. */
export function writeRegistry(path: string, kind: PeerKind, n: number): void {
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  const leases: Record<string, { attrs: Record<string, unknown>; expiration: string }> = {};
  for (
    const lease of [
      ownLease(kind),
      ...Array.from({ length: n }, (_, i) => peerLease(kind, i)),
    ]
  ) {
    leases[subnetKey(parsePrefix(lease.subnet))] = { attrs: leaseValue(lease.attrs), expiration };
  }
  const config = makeNetworkConfig(parsePrefix(SYNC_NETWORK), 24, {}, BACKENDS[kind]);
  const file: RegistryFile = {
    kind: FILE_KIND,
    version: 1,
    revision: 1,
    config: JSON.parse(formatNetworkConfig(config)),
    leases,
  };
  writeFileSync(path, JSON.stringify(file, null, 1) + "\n");
}

/**
 * The `ip -batch` and `bridge -batch` lines that take an empty host to `n` synced peers: for
 * VXLAN, the device (made, marked, addressed, up), one onlink route and one permanent neighbour
 * per peer, and one fdb entry per peer; for host-gw, one route per peer.
 */
export function rawLines(kind: PeerKind, n: number): { ip: string[]; bridge: string[] } {
  const peers = Array.from({ length: n }, (_, i) => peerLease(kind, i));
  if (kind === "host-gw") {
    return {
      ip: peers.map((p) =>
        `route replace ${p.subnet} via ${formatAddress(p.attrs.publicIp)} dev eth0 proto 104`
      ),
      bridge: [],
    };
  }
  const own = ownLease(kind);
  const network = (subnet: string) => subnet.split("/")[0];
  return {
    ip: [
      `link add ${DEVICE} address ${own.attrs.vtep!.mac} mtu ${DEVICE_MTU} type vxlan id 1 ` +
      `local ${HOST_ADDRESS} dev eth0 nolearning dstport 8472`,
      `link set ${DEVICE} alias ${VXLAN_ALIAS}`,
      `addr add ${network(own.subnet)}/32 dev ${DEVICE}`,
      `link set ${DEVICE} up`,
      ...peers.map((p) =>
        `route replace ${p.subnet} via ${network(p.subnet)} dev ${DEVICE} onlink proto 104`
      ),
      ...peers.map((p) =>
        `neigh replace ${network(p.subnet)} lladdr ${p.attrs.vtep!.mac} dev ${DEVICE} nud permanent`
      ),
    ],
    bridge: peers.map((p) =>
      `fdb replace ${p.attrs.vtep!.mac} dev ${DEVICE} dst ${
        formatAddress(p.attrs.publicIp)
      } self permanent`
    ),
  };
}

/** One timed sync's phases, in ms, as `hg peer sync` runs them. */
export interface SyncPhases {
  /** `readRegistry()` of the file store: config and leases. */
  readonly readMs: number;
  /** `IpSession.open()` + `observeHost` (links, addresses, routes, neighbours; fdb of the device). */
  readonly observeMs: number;
  /** `planPeerSync` (validation, path choice, the diff). */
  readonly planMs: number;
  /** `renderPlan` + `describeChanges`: the CLI's output lines. */
  readonly renderMs: number;
  /** `applyPlan`: the session's `ip -batch`, then one `bridge -batch`. */
  readonly applyMs: number;
  readonly totalMs: number;
  readonly steps: number;
  readonly peers: number;
  readonly refused: number;
}

/** The helper's report: the first sync (from empty) and the second (must plan 0 steps). */
export interface Phases {
  readonly first: SyncPhases;
  readonly again: SyncPhases;
}

async function syncOnce(path: string): Promise<SyncPhases> {
  const t0 = performance.now();
  const store = openStore(path);
  const { config, listing } = await store.readRegistry();
  await store.close();
  if (!config) throw new Error(`${path} has no network config`);
  const t1 = performance.now();
  const session = IpSession.open();
  const state = await observeHost(session);
  const t2 = performance.now();
  const sync = planPeerSync(state, config, listing.entries, {
    node: SYNC_NODE,
    bridge: "cni0",
    present: presentContainers(listContainers(state)),
  });
  const t3 = performance.now();
  const lines = [...renderPlan(sync.plan), ...describeChanges(sync.plan, sync.peers)];
  const t4 = performance.now();
  await applyPlan(sync.plan, session);
  const t5 = performance.now();
  if (lines.length < sync.plan.length) throw new Error("rendered fewer lines than steps");
  return {
    readMs: t1 - t0,
    observeMs: t2 - t1,
    planMs: t3 - t2,
    renderMs: t4 - t3,
    applyMs: t5 - t4,
    totalMs: t5 - t0,
    steps: sync.plan.length,
    peers: sync.peers.length,
    refused: sync.refused.length,
  };
}

if (import.meta.main) {
  const [mode, path] = process.argv.slice(2);
  try {
    if (mode !== "phases" || !path) {
      console.error("usage: vxlan_sync.ts phases REGISTRY_FILE");
      process.exit(2);
    }
    const first = await syncOnce(path);
    const again = await syncOnce(path);
    console.log(JSON.stringify({ first, again } satisfies Phases));
  } catch (e) {
    console.error((e as Error).stack ?? String(e));
    process.exit(1);
  }
  process.exit(0);
}
