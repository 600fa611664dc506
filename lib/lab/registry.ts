/**
 * The lab's subnet registry: a shared JSON file, or a throwaway etcd running in the underlay
 * namespace (so the lab hosts reach it over their uplinks, and nothing listens in the root
 * namespace). Its files live in `<run dir>/lab-<name>/`.
 *
 * @module
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { EnvironmentError, HgError } from "../errors.ts";
import { startDaemon, stopDaemon } from "../exec/daemon.ts";
import { runProcess } from "../exec/run.ts";
import { runDir } from "../host/lock.ts";
import { formatAddress } from "../net/address.ts";
import { runInNetns } from "../exec/netns.ts";
import type { LabHost, LabTopology } from "./topology.ts";

/** Which registry a lab uses. */
export type LabStoreKind = "file" | "etcd";

/** What a running lab remembers about its registry. */
export interface LabRegistry {
  readonly kind: LabStoreKind;
  readonly url: string;
  /** The etcd members' PIDs, in the order of the URL's endpoints. */
  readonly etcdPids?: readonly number[];
  /** The hosts run agents. */
  readonly agents?: boolean;
  /** The agents' lease TTL in seconds (`lab up --ttl`; 60 when a lab made by an older hg has none). */
  readonly agentTtl?: number;
}

/** How a lab's registry is made. */
export interface LabRegistryOptions {
  readonly kind: LabStoreKind;
  /** Members of the etcd cluster (etcd only): 1, or 3 to show an agent failing over. */
  readonly etcdMembers?: 1 | 3;
  /** The hosts run agents. */
  readonly agents?: boolean;
  /** The agents' lease TTL in seconds. */
  readonly agentTtl?: number;
}

/** The directory of the lab `name`'s registry files. */
export function labDir(name: string): string {
  return `${runDir()}/lab-${name}`;
}

/** Where a lab records its registry (and its etcd members' PIDs). */
export const registryFile = (name: string): string => `${labDir(name)}/registry.json`;

/** Client ports of the members (etcd's own convention for a cluster on one machine). */
const CLIENT_PORTS = [2379, 22379, 32379];

/**
 * The client URLs of the lab's etcd members, on the underlay namespace's address.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * etcdEndpoints(labTopology("hglab", 1), 3); // ["http://10.0.12.2:2379", "http://10.0.12.2:22379", "http://10.0.12.2:32379"]
 * ```
 */
export function etcdEndpoints(topology: LabTopology, members: 1 | 3 = 1): string[] {
  const address = formatAddress(topology.registryAddress);
  return CLIENT_PORTS.slice(0, members).map((port) => `http://${address}:${port}`);
}

/**
 * The store URL the lab's hosts use for a registry of `kind`.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * labRegistryUrl(labTopology("hglab", 1), "etcd", 1); // "etcd://10.0.12.2:2379"
 * labRegistryUrl(labTopology("hglab", 1), "file"); // "/run/hg/lab-hglab/subnets.json"
 * ```
 */
export function labRegistryUrl(
  topology: LabTopology,
  kind: LabStoreKind,
  members: 1 | 3 = 1,
): string {
  return kind === "file"
    ? `${labDir(topology.name)}/subnets.json`
    : `etcd://${etcdEndpoints(topology, members).map((e) => e.slice("http://".length)).join(",")}`;
}

/**
 * Whether the lab's etcd answers on every one of `endpoints` (asked from the underlay namespace:
 * a read, it changes nothing).
 */
export async function etcdHealthy(
  topology: LabTopology,
  endpoints: readonly string[],
): Promise<boolean> {
  const r = await runInNetns(topology.underlayNetns, [
    "etcdctl",
    `--endpoints=${endpoints.join(",")}`,
    "--dial-timeout=1s",
    "endpoint",
    "health",
  ]);
  return r.code === 0;
}

/**
 * Starts the etcd members in the underlay namespace: clients reach them on the registry
 * address, the members talk to each other on the namespace's loopback.
 */
function startMembers(topology: LabTopology, dir: string, endpoints: readonly string[]): number[] {
  const peer = (i: number) => `http://127.0.0.1:${CLIENT_PORTS[i] + 1}`;
  const cluster = endpoints.map((_, i) => `lab${i}=${peer(i)}`).join(",");
  return endpoints.map((url, i) =>
    startDaemon("nsenter", [
      `--net=/run/netns/${topology.underlayNetns}`,
      "etcd",
      `--name=lab${i}`,
      `--data-dir=${dir}/etcd${i}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer(i)}`,
      `--initial-advertise-peer-urls=${peer(i)}`,
      `--initial-cluster=${cluster}`,
      `--initial-cluster-token=lab-${topology.name}`,
      "--heartbeat-interval=10",
      "--election-timeout=100",
    ], `${dir}/etcd${i}.log`)
  );
}

/**
 * Starts the lab's registry (only when it is not running yet) and returns how to reach it.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * (await startLabRegistry(labTopology("hglab", 2), { kind: "etcd" })).url; // "etcd://10.0.12.2:2379"
 * ```
 */
export async function startLabRegistry(
  topology: LabTopology,
  options: LabRegistryOptions,
): Promise<LabRegistry> {
  const { kind, agents = false, agentTtl } = options;
  const dir = labDir(topology.name);
  const known = await readLabRegistry(topology.name);
  if (known && known.kind !== kind) {
    throw new HgError(
      `lab ${topology.name} already uses the ${known.kind} registry: "hg lab down" first`,
    );
  }
  await mkdir(dir, { recursive: true });
  let registry: LabRegistry;
  if (kind === "file") {
    registry = { kind, url: labRegistryUrl(topology, kind), agents, agentTtl };
  } else {
    const endpoints = etcdEndpoints(topology, options.etcdMembers);
    if (known?.etcdPids !== undefined && (await etcdHealthy(topology, endpoints))) return known;
    if ((await runProcess("etcd", ["--version"])).code !== 0) {
      throw new EnvironmentError("etcd does not run");
    }
    registry = {
      kind,
      url: labRegistryUrl(topology, kind, options.etcdMembers),
      etcdPids: startMembers(topology, dir, endpoints),
      agents,
      agentTtl,
    };
    await writeFile(registryFile(topology.name), JSON.stringify(registry));
    const deadline = Date.now() + 10_000;
    while (!(await etcdHealthy(topology, endpoints))) {
      if (Date.now() > deadline) {
        // No path to its logs here: a failed lab up moves them (and says where) as it cleans up.
        throw new HgError(`the lab's etcd did not become healthy within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await writeFile(registryFile(topology.name), JSON.stringify(registry));
  return registry;
}

/** The registry of a running lab, if it has one. */
export async function readLabRegistry(name: string): Promise<LabRegistry | undefined> {
  const text = await readFile(registryFile(name), "utf8").catch(() => undefined);
  return text === undefined ? undefined : JSON.parse(text) as LabRegistry;
}

/** Stops the lab's etcd members (if any) and removes the registry's files. */
export async function stopLabRegistry(name: string): Promise<void> {
  const registry = await readLabRegistry(name);
  // nsenter exec()s etcd, so the PIDs are etcd's own.
  await Promise.all((registry?.etcdPids ?? []).map((pid) => stopDaemon(pid, 5000)));
  await rm(labDir(name), { recursive: true, force: true });
}

/**
 * The flags that tell hg who a lab host is in the registry: `--store URL --node HOST
 * --public-ip ADDRESS --subnet-file <lab dir>/HOST.env`. The address is of the lab's primary
 * family (IPv6 in an IPv6-only lab); a dual-stack host's IPv6 address is found beside it on its
 * uplink, as hg finds it on a real host.
 */
export function hostRegistryArgs(name: string, host: LabHost, url: string): string[] {
  return [
    "--store",
    url,
    "--node",
    host.netns,
    "--public-ip",
    formatAddress(host.publicIp),
    "--subnet-file",
    subnetFilePath(name, host.netns),
  ];
}

/** Where a lab host's hg writes its subnet.env (`--subnet-file`). */
export function subnetFilePath(name: string, netns: string): string {
  return `${labDir(name)}/${netns}.env`;
}
