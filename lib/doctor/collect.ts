/**
 * Takes a snapshot of a host (the one this process runs on, or a host that is a named network
 * namespace here): one `ip -batch` process for the host's links, addresses, rules and
 * neighbours and one `ip` for all its routes, one `ip -batch` per hg container (started as soon
 * as the host's links name them), the sysctls that matter (read here for this namespace, one
 * process for another), the firewall (`iptables-save`, `ip6tables-save`, `nft -j`), and the
 * registry when one is given. The edge of doctor:
 * everything here runs processes or reads files; the checks only ever see the document.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { type ContainerEntry, listContainers } from "../containers/list.ts";
import { containerNetns } from "../containers/where.ts";
import { netnsPath, runWhere } from "../exec/netns.ts";
import { ipRead } from "../ip/exec.ts";
import { parseLinks } from "../ip/link.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import { IpSession } from "../ip/session.ts";
import { readDoctorSysctls } from "./sysctls.ts";
import { splitRouteDump } from "../ip/route_dump.ts";
import { formatNetworkConfig, parseNetworkConfig } from "../store/config.ts";
import { leaseValue } from "../store/lease.ts";
import type { SubnetStore } from "../store/store.ts";
import type { Observation, RegistryObservation } from "./observation.ts";
import {
  type NamespaceCapture,
  parseSnapshot,
  type RegistryCapture,
  SNAPSHOT_VERSION,
  type SnapshotDocument,
} from "./snapshot.ts";

const asList = (text: string): unknown[] => {
  const trimmed = text.trim();
  return trimmed === "" ? [] : JSON.parse(trimmed);
};

/**
 * Every route of both families in one dump: IPv4 main, IPv6 main and the IPv4 others are
 * sorted from it (lib/ip/route_dump.ts). A process of its own beside the namespace's session: a
 * one-shot read of a big table's megabyte costs hg a tenth of what the session's pipe does
 * (lib/exec/run.ts). Without `-d`, ip leaves out what is the default (type unicast, table
 * main, protocol boot, scope global): for 10,000 routes a third less JSON, and ip's own CPU
 * drops to that of a plain `ip -j route show`.
 */
const ROUTE_DUMP = ["-N", "-j", "route", "show", "table", "all"];

/**
 * Reads the host's namespace: one `ip -batch` process for its links, addresses, neighbours and
 * policy rules, the route dump beside it, and the fdb of hg's VXLAN device when there is one.
 * `onLinks` is given the links as soon as they are read (the containers' reads start then,
 * while the dump is still being printed).
 */
async function captureHost(netns: string | undefined, onLinks: (link: unknown[]) => void) {
  const session = IpSession.open(netns);
  const dump = ipRead(ROUTE_DUMP, netns);
  // Awaited below; when the session fails first, its error is the one reported.
  dump.catch(() => {});
  let out: string[];
  try {
    out = await session.read([["link", "show"], ["addr", "show"], ["neigh", "show"], [
      "rule",
      "show",
    ]]);
  } finally {
    await session.close();
  }
  const link = asList(out[0]);
  onLinks(link);
  const [routes, fdb] = await Promise.all([
    dump.then((text) => splitRouteDump(asList(text))),
    captureFdb(netns, link),
  ]);
  return {
    link,
    addr: asList(out[1]),
    route: routes.main,
    route6: routes.main6,
    neigh: asList(out[2]),
    rule: asList(out[3]),
    routeTables: routes.others,
    ...fdb,
  };
}

/**
 * Reads a container's namespace: links, addresses and its few routes (both families, from one
 * `route show table all`) through one `ip -batch` process.
 */
async function captureContainer(netns: string): Promise<Omit<NamespaceCapture, "sysctl">> {
  const session = IpSession.open(netns);
  try {
    const [link, addr, dump] = await session.read([["link", "show"], ["addr", "show"], [
      "route",
      "show",
      "table",
      "all",
    ]]);
    const routes = splitRouteDump(asList(dump));
    return { link: asList(link), addr: asList(addr), route: routes.main, route6: routes.main6 };
  } finally {
    await session.close();
  }
}

/** The fdb of hg's VXLAN device, when the host has one (`ip -batch` knows no fdb). */
async function captureFdb(netns: string | undefined, link: unknown[]) {
  const vxlan = findVxlanDevice({ links: parseLinks(link) });
  if (!vxlan) return {};
  const dev = vxlan.ifname;
  return {
    fdb: { dev, entries: asList(await ipRead(["-j", "fdb", "show", "dev", dev], netns, "bridge")) },
  };
}

/** The namespace's IPv4 and IPv6 settings as a plain record, sorted by key. */
async function captureSysctls(netns: string | undefined): Promise<Record<string, string>> {
  const values = await readDoctorSysctls(netns);
  return Object.fromEntries([...values].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

/** Runs a reader of the firewall; a missing program or a failure is a note, not an error. */
async function tryRun(netns: string | undefined, argv: readonly string[], notes: string[]) {
  try {
    const r = await runWhere(netns, argv);
    if (r.code === 0) return r.stdout;
    // nsenter exits 127 when the program is missing.
    notes.push(
      r.code === 127
        ? `${argv[0]} is not installed: that part of the firewall was not read`
        : `${argv.join(" ")} failed: ${r.stderr.trim().split("\n")[0]}`,
    );
  } catch {
    notes.push(`${argv[0]} is not installed: that part of the firewall was not read`);
  }
  return undefined;
}

async function captureFirewall(netns: string | undefined): Promise<SnapshotDocument["firewall"]> {
  const notes: string[] = [];
  const [iptablesSave, ip6tablesSave, nft] = await Promise.all([
    tryRun(netns, ["iptables-save", "-t", "filter"], notes),
    tryRun(netns, ["ip6tables-save", "-t", "filter"], notes),
    tryRun(netns, ["nft", "-j", "list", "ruleset"], notes),
  ]);
  return {
    ...(iptablesSave === undefined ? {} : { iptablesSave }),
    ...(ip6tablesSave === undefined ? {} : { ip6tablesSave }),
    ...(nft === undefined ? {} : { nft: JSON.parse(nft) }),
    notes,
  };
}

/** The registry as read, typed (as the store parsed it), with its revision. */
interface RegistryRead {
  readonly registry: RegistryObservation;
  readonly revision?: string;
}

async function readRegistry(store: SubnetStore): Promise<RegistryRead> {
  try {
    const { config, listing } = await store.readRegistry();
    if (!config) {
      return { registry: { url: store.url, error: `${store.url} has no network config` } };
    }
    return {
      // The config as a snapshot holds it, read back (one small object: the same defaults).
      registry: {
        url: store.url,
        config: parseNetworkConfig(formatNetworkConfig(config)),
        entries: listing.entries,
      },
      revision: listing.revision,
    };
  } catch (e) {
    return { registry: { url: store.url, error: (e as Error).message } };
  }
}

/** The registry as the snapshot document holds it: flannel's lease values. */
function registryCapture({ registry, revision }: RegistryRead): RegistryCapture {
  if ("error" in registry) return { url: registry.url, error: registry.error };
  return {
    url: registry.url,
    revision,
    config: JSON.parse(formatNetworkConfig(registry.config)),
    leases: registry.entries.map((e) =>
      "lease" in e
        ? {
          key: e.key,
          value: leaseValue(e.lease.attrs),
          ...(e.lease.expiresAt === undefined ? {} : { expiresAt: e.lease.expiresAt }),
        }
        : { key: e.key, problem: e.problem }
    ),
  };
}

/** What a snapshot is taken with. */
export interface CaptureOptions {
  /** The named network namespace whose host to take (default: this process's own). */
  readonly netns?: string;
  readonly bridge: string;
  readonly node?: string;
  readonly hgVersion: string;
  readonly store?: SubnetStore;
}

/** One of hg's containers as the snapshot holds it: its namespace read, or why it was not. */
async function captureContainerOf(
  c: ContainerEntry,
): Promise<SnapshotDocument["containers"][number]> {
  const { name, hostVeth } = c;
  const netns = containerNetns(c);
  if (netns === undefined) {
    return { name, hostVeth, error: "its network namespace's path was not recorded" };
  }
  if (!existsSync(netnsPath(netns))) {
    return {
      name,
      hostVeth,
      error: c.kind === "netns"
        ? `namespace /run/netns/${name} does not exist`
        : `namespace ${netns} is not visible here: run doctor where the runtime's ` +
          `/run/netns is (its mount namespace)`,
    };
  }
  try {
    const [state, sysctl] = await Promise.all([captureContainer(netns), captureSysctls(netns)]);
    const capture: NamespaceCapture = { ...state, sysctl };
    return { name, hostVeth, capture };
  } catch (e) {
    return { name, hostVeth, error: (e as Error).message };
  }
}

/** A host as collected: the document without its registry, and the registry as read. */
interface Collected {
  readonly document: SnapshotDocument;
  readonly registry?: RegistryRead;
}

async function collect(options: CaptureOptions): Promise<Collected> {
  const takenAt = new Date().toISOString();
  let containers: Promise<SnapshotDocument["containers"]> | undefined;
  const [host, sysctl, firewall, registry] = await Promise.all([
    captureHost(options.netns, (link) => {
      containers = Promise.all(
        listContainers({ links: parseLinks(link) }).map((c) => captureContainerOf(c)),
      );
    }),
    captureSysctls(options.netns),
    captureFirewall(options.netns),
    options.store ? readRegistry(options.store) : Promise.resolve(undefined),
  ]);
  const document: SnapshotDocument = {
    hgSnapshot: SNAPSHOT_VERSION,
    takenAt,
    hgVersion: options.hgVersion,
    bridge: options.bridge,
    ...(options.node === undefined ? {} : { node: options.node }),
    host,
    sysctl,
    firewall,
    containers: await containers!,
  };
  return { document, ...(registry ? { registry } : {}) };
}

/**
 * Takes the snapshot of this host.
 *
 * @example
 * ```ts
 * const doc = await takeSnapshot({ bridge: "cni0", hgVersion: "0.1.0" });
 * ```
 */
export async function takeSnapshot(options: CaptureOptions): Promise<SnapshotDocument> {
  const { document, registry } = await collect(options);
  return registry ? { ...document, registry: registryCapture(registry) } : document;
}

/** A live host: its document (for a peer's view) and its observation. */
export interface LiveObservation {
  /** The document without the registry (live doctor never writes it out). */
  readonly document: SnapshotDocument;
  readonly observation: Observation;
}

/**
 * Observes this host as doctor checks it: the same observation as parsing its snapshot, with
 * the registry taken as the store parsed it (not written as flannel's values and parsed again).
 *
 * @example
 * ```ts
 * const { observation } = await observeHost({ bridge: "cni0", hgVersion: "0.1.0" });
 * ```
 */
export async function observeHost(options: CaptureOptions): Promise<LiveObservation> {
  const { document, registry } = await collect(options);
  return { document, observation: parseSnapshot(document, registry?.registry) };
}
