/**
 * What a lab is now, read without changing anything: its namespaces, its directory's files, its
 * registry, which of its agents run, and its segments (which bridges the underlay namespace has,
 * and which of them each host's uplink is a port of). The lab's planners work from this alone,
 * so that `--dry-run` shows exactly the plan a real run would apply.
 *
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import { ipRead } from "../ip/exec.ts";
import { type Link, parseLinks } from "../ip/link.ts";
import { labAgentPid } from "./agents.ts";
import { hostsFile, parseHostNumbers } from "./host_numbers.ts";
import { listNetns } from "./netns_dir.ts";
import { peersFile } from "./peers_file.ts";
import { etcdEndpoints, etcdHealthy, labDir, type LabRegistry, registryFile } from "./registry.ts";
import {
  belongsToLab,
  defaultBackend,
  type LabBackend,
  type LabFamily,
  type LabShape,
  labTopology,
} from "./topology.ts";
import type { HostNumbers } from "./host_numbers.ts";

/** A lab as it is now. */
export interface LabObservation {
  readonly name: string;
  /** The lab's namespaces: containers, then hosts, then the underlay (the order they go in). */
  readonly namespaces: readonly string[];
  /** The entries of the lab's directory; undefined when it has none. */
  readonly dirEntries?: readonly string[];
  /**
   * The text of hosts.json, registry.json and peers.json, when they exist (to put back after a
   * failure).
   */
  readonly hostsJson?: string;
  readonly registryJson?: string;
  readonly peersJson?: string;
  /** The host numbers hosts.json holds (undefined when it is missing or not hg's). */
  readonly numbers?: HostNumbers;
  readonly registry?: LabRegistry;
  /** Whether the lab's etcd answers on the endpoints `lab up` asked about. */
  readonly etcdAnswers: boolean;
  /** The PIDs of the agents that run, by host namespace. */
  readonly agents: ReadonlyMap<string, number>;
  /** How many segments (bridges `ul{k}`) the underlay namespace has; undefined without one. */
  readonly segments?: number;
  /** The segment each host's uplink is on now (host number → segment), as the bridges say. */
  readonly placement?: ReadonlyMap<number, number>;
}

/**
 * The segments of a lab's underlay namespace from its links (`ip -j -d link`): how many bridges
 * `ul{k}` it has, and which of them each host's port `ul-hN` is on.
 *
 * @example
 * ```ts
 * import { ipRead } from "../ip/exec.ts";
 * import { parseLinks } from "../ip/link.ts";
 * const json = await ipRead(["-j", "-d", "link", "show"], "hglab-ul");
 * underlaySegments(parseLinks(json)); // { segments: 2, placement: Map { 1 => 0, 2 => 1 } }
 * ```
 */
export function underlaySegments(
  links: readonly Link[],
): { segments: number; placement: Map<number, number> } {
  const bridges = links.filter((l) => l.kind === "bridge" && /^ul\d+$/.test(l.ifname));
  const placement = new Map<number, number>();
  for (const link of links) {
    const port = /^ul-h(\d+)$/.exec(link.ifname);
    const bridge = /^ul(\d+)$/.exec(link.master ?? "");
    if (port && bridge) placement.set(Number(port[1]), Number(bridge[1]));
  }
  return { segments: bridges.length, placement };
}

/**
 * The backend the lab's records say it was built with; undefined when it has no records (a lab
 * that is not there, or lost its directory).
 */
export function recordedBackend(obs: LabObservation): LabBackend | undefined {
  return obs.numbers === undefined ? undefined : obs.numbers.backend ?? "host-gw";
}

/**
 * The address families the lab's records say it was built with; undefined when it has no
 * records.
 */
export function recordedFamily(obs: LabObservation): LabFamily | undefined {
  return obs.numbers === undefined ? undefined : obs.numbers.family ?? "ipv4";
}

/**
 * The shape of the lab as `lab up` builds it: what is asked, else what the lab is (its bridges
 * and records), else one segment, host-gw on one segment or VXLAN across several, and IPv4.
 *
 * @example
 * ```ts
 * labShape(await observeLab("nolab"), { segments: 2 }); // { segments: 2, backend: "vxlan", family: "ipv4" }
 * ```
 */
export function labShape(obs: LabObservation, wanted: Partial<LabShape> = {}): LabShape {
  // An underlay without a single bridge (broken by hand) counts as a lab of one segment.
  const segments = wanted.segments ?? (obs.segments || 1);
  return {
    segments,
    backend: wanted.backend ?? recordedBackend(obs) ?? defaultBackend(segments),
    family: wanted.family ?? recordedFamily(obs) ?? "ipv4",
  };
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
  const peersJson = await read(peersFile(name));
  const registry = registryJson === undefined ? undefined : JSON.parse(registryJson) as LabRegistry;
  const etcdAnswers = etcdMembers !== undefined && registry?.kind === "etcd" &&
    registry.etcdPids !== undefined &&
    await etcdHealthy(labTopology(name, 1), etcdEndpoints(labTopology(name, 1), etcdMembers));
  const agents = new Map<string, number>();
  for (const ns of namespaces.filter((ns) => /-h\d+$/.test(ns))) {
    const pid = await labAgentPid(name, ns);
    if (pid !== undefined) agents.set(ns, pid);
  }
  const underlay = namespaces.includes(`${name}-ul`)
    ? underlaySegments(parseLinks(await ipRead(["-j", "-d", "link", "show"], `${name}-ul`)))
    : undefined;
  return {
    name,
    namespaces,
    dirEntries,
    hostsJson,
    registryJson,
    peersJson,
    numbers: hostsJson === undefined ? undefined : parseHostNumbers(hostsJson),
    registry,
    etcdAnswers,
    agents,
    ...(underlay === undefined ? {} : underlay),
  };
}
