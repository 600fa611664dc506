/**
 * What a lab is now, read without changing anything: its namespaces, its directory's files, its
 * registry and which of its agents run. The lab's planners work from this alone, so that
 * `--dry-run` shows exactly the plan a real run would apply.
 *
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import { labAgentPid } from "./agents.ts";
import { hostsFile, parseHostNumbers } from "./host_numbers.ts";
import { listNetns } from "./netns_dir.ts";
import { etcdEndpoints, etcdHealthy, labDir, type LabRegistry, registryFile } from "./registry.ts";
import { belongsToLab, labTopology } from "./topology.ts";
import type { HostNumbers } from "./host_numbers.ts";

/** A lab as it is now. */
export interface LabObservation {
  readonly name: string;
  /** The lab's namespaces: containers, then hosts, then the underlay (the order they go in). */
  readonly namespaces: readonly string[];
  /** The entries of the lab's directory; undefined when it has none. */
  readonly dirEntries?: readonly string[];
  /** The text of hosts.json and registry.json, when they exist (to put back after a failure). */
  readonly hostsJson?: string;
  readonly registryJson?: string;
  /** The host numbers hosts.json holds (undefined when it is missing or not hg's). */
  readonly numbers?: HostNumbers;
  readonly registry?: LabRegistry;
  /** Whether the lab's etcd answers on the endpoints `lab up` asked about. */
  readonly etcdAnswers: boolean;
  /** The PIDs of the agents that run, by host namespace. */
  readonly agents: ReadonlyMap<string, number>;
}

/**
 * The lab's namespaces in the order they are removed: containers, hosts, the underlay; by
 * number within each (h2 before h10).
 *
 * @example
 * ```ts
 * sortLabNamespaces(["x-ul", "x-h10", "x-h2-c1", "x-h2"]); // ["x-h2-c1", "x-h2", "x-h10", "x-ul"]
 * ```
 */
export function sortLabNamespaces(namespaces: readonly string[]): string[] {
  const rank = (ns: string) => ns.endsWith("-ul") ? 2 : /-c\d+$/.test(ns) ? 0 : 1;
  return [...namespaces].sort((a, b) =>
    rank(a) - rank(b) || a.localeCompare(b, "en", { numeric: true })
  );
}

/**
 * Reads the lab `name`. `etcdMembers`: how many members `lab up` asks for, when it may use the
 * lab's etcd (whether they answer is read only then: it takes an etcdctl in the underlay).
 *
 * @example
 * ```ts
 * (await observeLab("hglab")).namespaces; // ["hglab-h1-c1", ..., "hglab-ul"]
 * ```
 */
export async function observeLab(name: string, etcdMembers?: 1 | 3): Promise<LabObservation> {
  const namespaces = sortLabNamespaces((await listNetns()).filter((ns) => belongsToLab(name, ns)));
  const dirEntries = await readdir(labDir(name)).then((e) => e.sort(), () => undefined);
  const read = (path: string) => readFile(path, "utf8").catch(() => undefined);
  const hostsJson = await read(hostsFile(name));
  const registryJson = await read(registryFile(name));
  const registry = registryJson === undefined ? undefined : JSON.parse(registryJson) as LabRegistry;
  const etcdAnswers = etcdMembers !== undefined && registry?.kind === "etcd" &&
    registry.etcdPids !== undefined &&
    await etcdHealthy(labTopology(name, 1), etcdEndpoints(labTopology(name, 1), etcdMembers));
  const agents = new Map<string, number>();
  for (const ns of namespaces.filter((ns) => /-h\d+$/.test(ns))) {
    const pid = await labAgentPid(name, ns);
    if (pid !== undefined) agents.set(ns, pid);
  }
  return {
    name,
    namespaces,
    dirEntries,
    hostsJson,
    registryJson,
    numbers: hostsJson === undefined ? undefined : parseHostNumbers(hostsJson),
    registry,
    etcdAnswers,
    agents,
  };
}
