/**
 * Takes a snapshot of the host this process runs on: one `ip` process for the host's links,
 * addresses, routes and neighbours, one per hg container, the sysctls that matter, the
 * firewall (`iptables-save`, `nft -j`), and the registry when one is given. The edge of doctor:
 * everything here runs processes or reads files; the checks only ever see the document.
 *
 * @module
 */
import { readdir } from "node:fs/promises";
import { runProcess } from "../exec/run.ts";
import { netnsExists } from "../containers/observe.ts";
import { parseContainerAlias } from "../host/marks.ts";
import { parseLinks } from "../ip/link.ts";
import { IpSession } from "../ip/session.ts";
import { readSysctl } from "../sysctl/sysctl.ts";
import { formatNetworkConfig } from "../store/config.ts";
import { leaseValue } from "../store/lease.ts";
import type { SubnetStore } from "../store/store.ts";
import {
  type NamespaceCapture,
  type RegistryCapture,
  SNAPSHOT_VERSION,
  type SnapshotDocument,
} from "./snapshot.ts";

const asList = (text: string): unknown[] => {
  const trimmed = text.trim();
  return trimmed === "" ? [] : JSON.parse(trimmed);
};

/** Reads one namespace through one `ip -batch` process; neighbours and rules too for the host. */
async function captureNamespace(netns: string | undefined, neigh: boolean) {
  const session = IpSession.open(netns);
  try {
    const out = await session.read([
      ["link", "show"],
      ["addr", "show"],
      ["route", "show", "table", "main"],
      ...(neigh ? [["neigh", "show"], ["rule", "show"]] : []),
    ]);
    return {
      link: asList(out[0]),
      addr: asList(out[1]),
      route: asList(out[2]),
      neigh: neigh ? asList(out[3]) : [],
      rule: neigh ? asList(out[4]) : [],
    };
  } finally {
    await session.close();
  }
}

/** `net.ipv4.ip_forward` and the rp_filter of `all`, `default` and every interface. */
async function captureSysctls(): Promise<Record<string, string>> {
  const names = await readdir("/proc/sys/net/ipv4/conf").catch(() => [] as string[]);
  const keys = ["net.ipv4.ip_forward", ...names.sort().map((n) => `net.ipv4.conf.${n}.rp_filter`)];
  const values = await Promise.all(keys.map(readSysctl));
  return Object.fromEntries(
    keys.flatMap((k, i) => values[i] === undefined ? [] : [[k, values[i]!]]),
  );
}

/** Runs a reader of the firewall; a missing program or a failure is a note, not an error. */
async function tryRun(command: string, args: readonly string[], notes: string[]) {
  try {
    const r = await runProcess(command, args);
    if (r.code === 0) return r.stdout;
    notes.push(`${command} ${args.join(" ")} failed: ${r.stderr.trim().split("\n")[0]}`);
  } catch {
    notes.push(`${command} is not installed: that part of the firewall was not read`);
  }
  return undefined;
}

async function captureFirewall(): Promise<SnapshotDocument["firewall"]> {
  const notes: string[] = [];
  const [iptablesSave, nft] = await Promise.all([
    tryRun("iptables-save", ["-t", "filter"], notes),
    tryRun("nft", ["-j", "list", "ruleset"], notes),
  ]);
  return {
    ...(iptablesSave === undefined ? {} : { iptablesSave }),
    ...(nft === undefined ? {} : { nft: JSON.parse(nft) }),
    notes,
  };
}

async function captureRegistry(store: SubnetStore): Promise<RegistryCapture> {
  try {
    const { config, listing } = await store.readRegistry();
    if (!config) return { url: store.url, error: `${store.url} has no network config` };
    return {
      url: store.url,
      revision: listing.revision,
      config: JSON.parse(formatNetworkConfig(config)),
      leases: listing.entries.map((e) =>
        "lease" in e
          ? {
            key: e.key,
            value: leaseValue(e.lease.attrs),
            ...(e.lease.expiresAt === undefined ? {} : { expiresAt: e.lease.expiresAt }),
          }
          : { key: e.key, problem: e.problem }
      ),
    };
  } catch (e) {
    return { url: store.url, error: (e as Error).message };
  }
}

/** What a snapshot is taken with. */
export interface CaptureOptions {
  readonly bridge: string;
  readonly node?: string;
  readonly hgVersion: string;
  readonly store?: SubnetStore;
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
  const takenAt = new Date().toISOString();
  const [host, sysctl, firewall, registry] = await Promise.all([
    captureNamespace(undefined, true),
    captureSysctls(),
    captureFirewall(),
    options.store ? captureRegistry(options.store) : Promise.resolve(undefined),
  ]);
  const names = parseLinks(host.link).flatMap((l) => parseContainerAlias(l.alias)?.name ?? []);
  const containers = await Promise.all(
    [...new Set(names)].sort().map(async (name) => {
      if (!netnsExists(name)) return { name, error: `namespace /run/netns/${name} does not exist` };
      try {
        const { link, addr, route } = await captureNamespace(name, false);
        const capture: NamespaceCapture = { link, addr, route };
        return { name, capture };
      } catch (e) {
        return { name, error: (e as Error).message };
      }
    }),
  );
  return {
    hgSnapshot: SNAPSHOT_VERSION,
    takenAt,
    hgVersion: options.hgVersion,
    bridge: options.bridge,
    ...(options.node === undefined ? {} : { node: options.node }),
    host,
    sysctl,
    firewall,
    containers,
    ...(registry ? { registry } : {}),
  };
}
