/**
 * The snapshot: everything doctor reads about a host, as one JSON document (`hg snapshot`), and
 * its parsing into the typed {@link Observation} the checks run on. Doctor on a live host takes
 * a snapshot and parses it the same way, so a snapshot diagnosed elsewhere gives the same answer.
 * The document keeps what the tools printed (`ip -j` arrays, `iptables-save` text, `nft -j`
 * JSON, sysctl values) so that a bug report carries the evidence itself.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { parseAddresses } from "../ip/addr.ts";
import { parseFdb } from "../ip/fdb.ts";
import { parseLinks } from "../ip/link.ts";
import { parseNeighbours } from "../ip/neigh.ts";
import { IpOutputError } from "../ip/output_error.ts";
import { parseRoutes, parseRouteTables } from "../ip/route.ts";
import { parseRules } from "../ip/rule.ts";
import { parseNetworkConfig } from "../store/config.ts";
import { leaseAttrsOf, leaseOf, subnetsOfKey } from "../store/lease.ts";
import type { RegistryEntry } from "../store/store.ts";
import { parseIptablesSave } from "./iptables.ts";
import { parseNftRuleset } from "./nft.ts";
import type { Observation, RegistryObservation } from "./observation.ts";

/** The snapshot format's version; a document of another version is refused. */
export const SNAPSHOT_VERSION = 1;

/** One namespace's state as `ip -N -d -j` printed it. */
export interface NamespaceCapture {
  /** `ip -d -j link show` */
  readonly link: readonly unknown[];
  /** `ip -j addr show` */
  readonly addr: readonly unknown[];
  /**
   * The IPv4 routes of table main, as `ip -N [-d] -j route show table all` printed them (a
   * host's without `-d`, a container's with it).
   */
  readonly route: readonly unknown[];
  /** The IPv6 routes of table main, likewise (absent in snapshots from before IPv6). */
  readonly route6?: readonly unknown[];
  /**
   * The namespace's IPv4 settings that doctor reads (forwarding, rp_filter, arp_ignore,
   * arp_filter per interface; ip_forward, icmp_echo_ignore_all) and IPv6 settings (see
   * {@link SnapshotDocument.sysctl}), for containers; the host's are in
   * {@link SnapshotDocument.sysctl}.
   */
  readonly sysctl?: Readonly<Record<string, string>>;
}

/** The registry as read: its network config and leases in flannel's format. */
export interface RegistryCapture {
  readonly url: string;
  /** Why the registry could not be read (the rest is then absent). */
  readonly error?: string;
  readonly revision?: string;
  /** The network config, as flannel's JSON. */
  readonly config?: unknown;
  readonly leases?: readonly (
    | { readonly key: string; readonly value: unknown; readonly expiresAt?: number }
    | { readonly key: string; readonly problem: string }
  )[];
}

/** The whole document `hg snapshot` writes. */
export interface SnapshotDocument {
  readonly hgSnapshot: typeof SNAPSHOT_VERSION;
  readonly takenAt: string;
  readonly hgVersion: string;
  /** The bridge doctor checks (`--bridge`). */
  readonly bridge: string;
  /** This host's node name in the registry, when given (`--node`, HG_NODE). */
  readonly node?: string;
  readonly host: NamespaceCapture & {
    readonly neigh: readonly unknown[];
    /** `ip -N -j rule show` (IPv4 policy routing rules). */
    readonly rule?: readonly unknown[];
    /**
     * The IPv4 routes of every table but main (from `ip -N -j route show table all`; table
     * main is `route`): the tables policy rules can choose. Older snapshots hold every table
     * of both families here, main included.
     */
    readonly routeTables?: readonly unknown[];
    /** `bridge -j fdb show dev DEV` of hg's VXLAN device, when there is one. */
    readonly fdb?: { readonly dev: string; readonly entries: readonly unknown[] };
  };
  /**
   * `net.ipv4.ip_forward`, `icmp_echo_ignore_all` and every interface's `forwarding`,
   * `rp_filter`, `arp_ignore` and `arp_filter`, as read; since IPv6 also every interface's
   * `net.ipv6.conf.IF.forwarding`, `force_forwarding`, `disable_ipv6` and `accept_dad` (`all`
   * and `default` among them).
   */
  readonly sysctl: Readonly<Record<string, string>>;
  readonly firewall: {
    /** `iptables-save -t filter`, when iptables is installed. */
    readonly iptablesSave?: string;
    /** `ip6tables-save -t filter`, when ip6tables is installed (not before IPv6). */
    readonly ip6tablesSave?: string;
    /** `nft -j list ruleset`, when nft is installed. */
    readonly nft?: unknown;
    /** Why a part could not be read. */
    readonly notes: readonly string[];
  };
  /** hg's containers (from the host-side veths' marks) and what their namespaces hold. */
  readonly containers: readonly {
    readonly name: string;
    /** The container's host-side veth (snapshots before runtime containers lack it). */
    readonly hostVeth?: string;
    readonly capture?: NamespaceCapture;
    readonly error?: string;
  }[];
  readonly registry?: RegistryCapture;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(`snapshot: ${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new InputError(`snapshot: ${what} is not a list`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== "string") throw new InputError(`snapshot: ${what} is not a string`);
  return value;
}

function sysctlMap(value: unknown, what: string): Map<string, string> {
  return new Map(Object.entries(record(value, what)).map(([k, v]) => [k, text(v, `${what} ${k}`)]));
}

function parseRegistry(value: unknown): RegistryObservation {
  const r = record(value, "registry");
  const url = text(r.url, "registry.url");
  if (r.error !== undefined) return { url, error: text(r.error, "registry.error") };
  const config = parseNetworkConfig(JSON.stringify(record(r.config, "registry.config")));
  const entries: RegistryEntry[] = array(r.leases, "registry.leases").map((item, i) => {
    const lease = record(item, `registry.leases[${i}]`);
    const key = text(lease.key, `registry.leases[${i}].key`);
    if (lease.problem !== undefined) {
      return { key, problem: text(lease.problem, `registry.leases[${i}].problem`) };
    }
    // A dual-stack key names both subnets (`1.1.1.0-24&fd00:1:1::-64`).
    const subnets = subnetsOfKey(key);
    if (!subnets) return { key, problem: `${key} is not a subnet key` };
    try {
      const held = leaseOf(subnets, leaseAttrsOf(lease.value));
      const expiresAt = typeof lease.expiresAt === "number" ? lease.expiresAt : undefined;
      return { key, lease: { ...held, ...(expiresAt === undefined ? {} : { expiresAt }) } };
    } catch (e) {
      return { key, problem: (e as Error).message };
    }
  });
  return { url, config, entries };
}

/**
 * Parses a snapshot document (as `hg snapshot` wrote it) into the typed observation doctor
 * checks. Anything malformed is an {@link InputError} naming the part. `registry`, when given,
 * is the registry already parsed (live doctor has it typed from the store) and stands for the
 * document's.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * const observation = parseSnapshot(JSON.parse(await readFile("host.json", "utf8")));
 * ```
 */
export function parseSnapshot(value: unknown, registry?: RegistryObservation): Observation {
  const doc = record(value, "the document");
  if (doc.hgSnapshot !== SNAPSHOT_VERSION) {
    throw new InputError(
      `this is not an hg snapshot of version ${SNAPSHOT_VERSION} (hgSnapshot: ${
        JSON.stringify(doc.hgSnapshot)
      }): make it with "hg snapshot"`,
    );
  }
  const host = record(doc.host, "host");
  const sysctl = sysctlMap(doc.sysctl, "sysctl");
  const firewall = record(doc.firewall, "firewall");
  try {
    const neighbours = parseNeighbours(array(host.neigh, "host.neigh"));
    const fdb = host.fdb === undefined ? undefined : record(host.fdb, "host.fdb");
    return {
      takenAt: text(doc.takenAt, "takenAt"),
      bridge: text(doc.bridge, "bridge"),
      node: doc.node === undefined ? undefined : text(doc.node, "node"),
      host: {
        links: parseLinks(array(host.link, "host.link")),
        addresses: parseAddresses(array(host.addr, "host.addr")),
        routes: parseRoutes(array(host.route, "host.route"), 4),
        neighbours: neighbours.filter((n) => n.state.includes("PERMANENT")),
        fdb: fdb
          ? parseFdb(array(fdb.entries, "host.fdb.entries"), text(fdb.dev, "host.fdb.dev"))
          : [],
        forwarding: sysctl.get("net.ipv4.ip_forward") === "1",
        forwarding6: sysctl.get("net.ipv6.conf.all.forwarding") === "1",
      },
      neighbours: neighbours.filter((n) => n.dst.family === 4),
      neighbours6: neighbours.filter((n) => n.dst.family === 6),
      ...(host.route6 === undefined
        ? {}
        : { routes6: parseRoutes(array(host.route6, "host.route6"), 6) }),
      ...(host.rule === undefined ? {} : { rules: parseRules(array(host.rule, "host.rule")) }),
      ...(host.routeTables === undefined
        ? {}
        : { routeTables: parseRouteTables(array(host.routeTables, "host.routeTables")) }),
      sysctl,
      firewall: {
        iptables: firewall.iptablesSave === undefined
          ? undefined
          : parseIptablesSave(text(firewall.iptablesSave, "firewall.iptablesSave")),
        ...(firewall.ip6tablesSave === undefined ? {} : {
          ip6tables: parseIptablesSave(text(firewall.ip6tablesSave, "firewall.ip6tablesSave")),
        }),
        nft: firewall.nft === undefined ? undefined : parseNftRuleset(firewall.nft),
        notes: array(firewall.notes, "firewall.notes").map((n) => text(n, "firewall note")),
      },
      containers: array(doc.containers, "containers").map((item, i) => {
        const c = record(item, `containers[${i}]`);
        const name = text(c.name, `containers[${i}].name`);
        const hostVeth = c.hostVeth === undefined
          ? {}
          : { hostVeth: text(c.hostVeth, `containers[${i}].hostVeth`) };
        if (c.capture === undefined) {
          return {
            name,
            ...hostVeth,
            error: c.error === undefined ? "not read" : text(c.error, "error"),
          };
        }
        const capture = record(c.capture, `containers[${i}].capture`);
        return {
          name,
          ...hostVeth,
          sysctl: sysctlMap(capture.sysctl ?? {}, `${name} sysctl`),
          state: {
            links: parseLinks(array(capture.link, `${name} link`)),
            addresses: parseAddresses(array(capture.addr, `${name} addr`)),
            routes: parseRoutes(array(capture.route, `${name} route`), 4),
            // Doctor reads no container's configured neighbours.
            neighbours: [],
          },
          ...(capture.route6 === undefined
            ? {}
            : { routes6: parseRoutes(array(capture.route6, `${name} route6`), 6) }),
        };
      }),
      registry: registry ??
        (doc.registry === undefined ? undefined : parseRegistry(doc.registry)),
    };
  } catch (e) {
    if (e instanceof IpOutputError) throw new InputError(`snapshot: ${e.message}`);
    throw e;
  }
}
