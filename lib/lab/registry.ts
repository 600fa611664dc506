/**
 * The lab's subnet registry: a shared JSON file, or a throwaway etcd running in the underlay
 * namespace (so the lab hosts reach it over their uplinks, and nothing listens in the root
 * namespace). Its files live in `<run dir>/lab-<name>/`.
 *
 * @module
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { EnvironmentError, HgError } from "../errors.ts";
import { startDaemon } from "../exec/daemon.ts";
import { runProcess } from "../exec/run.ts";
import { runDir } from "../host/lock.ts";
import { formatAddress } from "../net/address.ts";
import { runInNetns } from "./nsenter.ts";
import type { LabHost, LabTopology } from "./topology.ts";

/** Which registry a lab uses. */
export type LabStoreKind = "file" | "etcd";

/** What a running lab remembers about its registry. */
export interface LabRegistry {
  readonly kind: LabStoreKind;
  readonly url: string;
  readonly etcdPid?: number;
  /** The hosts run agents. */
  readonly agents?: boolean;
}

/** The directory of the lab `name`'s registry files. */
export function labDir(name: string): string {
  return `${runDir()}/lab-${name}`;
}

const ETCD_PORT = 2379;

async function etcdHealthy(topology: LabTopology, url: string): Promise<boolean> {
  const r = await runInNetns(topology.underlayNetns, [
    "etcdctl",
    `--endpoints=${url}`,
    "--dial-timeout=1s",
    "endpoint",
    "health",
  ]);
  return r.code === 0;
}

/**
 * Starts the lab's registry (only when it is not running yet) and returns how to reach it.
 *
 * @example
 * ```ts
 * (await startLabRegistry(topology, "etcd")).url; // "etcd://10.0.12.2:2379"
 * ```
 */
export async function startLabRegistry(
  topology: LabTopology,
  kind: LabStoreKind,
  agents = false,
): Promise<LabRegistry> {
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
    registry = { kind, url: `${dir}/subnets.json`, agents };
  } else {
    const url = `http://${formatAddress(topology.registryAddress)}:${ETCD_PORT}`;
    if (known?.etcdPid !== undefined && (await etcdHealthy(topology, url))) return known;
    if ((await runProcess("etcd", ["--version"])).code !== 0) {
      throw new EnvironmentError("etcd does not run");
    }
    const pid = startDaemon("nsenter", [
      `--net=/run/netns/${topology.underlayNetns}`,
      "etcd",
      "--name=lab",
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=lab=http://127.0.0.1:2380",
      "--heartbeat-interval=10",
      "--election-timeout=100",
    ], `${dir}/etcd.log`);
    registry = {
      kind,
      url: `etcd://${formatAddress(topology.registryAddress)}:${ETCD_PORT}`,
      etcdPid: pid,
      agents,
    };
    await writeFile(`${dir}/registry.json`, JSON.stringify(registry));
    const deadline = Date.now() + 10_000;
    while (!(await etcdHealthy(topology, url))) {
      if (Date.now() > deadline) {
        throw new HgError(`the lab's etcd did not become healthy: see ${dir}/etcd.log`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await writeFile(`${dir}/registry.json`, JSON.stringify(registry));
  return registry;
}

/** The registry of a running lab, if it has one. */
export async function readLabRegistry(name: string): Promise<LabRegistry | undefined> {
  const text = await readFile(`${labDir(name)}/registry.json`, "utf8").catch(() => undefined);
  return text === undefined ? undefined : JSON.parse(text) as LabRegistry;
}

/** Stops the lab's etcd (if any) and removes the registry's files. */
export async function stopLabRegistry(name: string): Promise<void> {
  const registry = await readLabRegistry(name);
  if (registry?.etcdPid !== undefined) {
    // nsenter exec()s etcd, so the PID is etcd's own.
    try {
      process.kill(registry.etcdPid, "SIGTERM");
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        process.kill(registry.etcdPid, 0);
        await new Promise((r) => setTimeout(r, 20));
      }
      process.kill(registry.etcdPid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await rm(labDir(name), { recursive: true, force: true });
}

/**
 * The flags that tell hg who a lab host is in the registry: `--store URL --node HOST
 * --public-ip ADDRESS --subnet-file <lab dir>/HOST.env`.
 */
export function hostRegistryArgs(name: string, host: LabHost, url: string): string[] {
  return [
    "--store",
    url,
    "--node",
    host.netns,
    "--public-ip",
    formatAddress(host.address),
    "--subnet-file",
    `${labDir(name)}/${host.netns}.env`,
  ];
}
