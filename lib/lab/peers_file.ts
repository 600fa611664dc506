/**
 * The peers file of a lab without a registry: the hosts' fixed subnets and addresses written as
 * a registry file (the network config and one lease per host), so that each host routes to all
 * the others with one `hg peer sync --store FILE` instead of one `hg peer add` per peer. Those
 * are n×(n-1) hg processes, the whole cost of a big lab (2,450 at 50 hosts); a sync each is n.
 *
 * @module
 */
import { rm } from "node:fs/promises";
import { formatPrefix } from "../net/prefix.ts";
import {
  formatNetworkConfig,
  makeNetworkConfig,
  makeSubnetRange,
  type NetworkConfig,
  parseBackend,
} from "../store/config.ts";
import { parseRegistryFile } from "../store/file/format.ts";
import {
  type LeaseAttrs,
  leaseAttrsFor,
  leaseKey,
  type LeaseSubnets,
  leaseValue,
} from "../store/lease.ts";
import { openStore } from "../store/open.ts";
import { HgError } from "../errors.ts";
import { labDir } from "./registry.ts";
import type { LabTopology } from "./topology.ts";

/**
 * Up to this many hosts, a lab without a registry routes with one `hg peer add` per peer, as
 * an operator types them on the seed's two or three hosts; beyond, through its peers file.
 */
export const PEER_ADD_MAX_HOSTS = 3;

/**
 * The peers file's leases do not run out while the lab stands: ten years, in seconds (the file
 * store keeps an expiry on every lease; the lab's own file is rewritten by each `lab up`).
 */
export const PEERS_FILE_TTL = 10 * 365 * 24 * 3600;

/** What the peers file holds: the network config and each host's lease. */
export interface LabPeers {
  readonly config: NetworkConfig;
  readonly leases: readonly { readonly subnets: LeaseSubnets; readonly attrs: LeaseAttrs }[];
}

/** Where the lab `name` keeps its peers file. */
export const peersFile = (name: string): string => `${labDir(name)}/peers.json`;

/**
 * The network config of a lab's cluster network, as `hg subnet config` writes it for a lab with
 * a registry: /24 subnets (/64 in an IPv6-only lab, and a dual-stack lab's IPv6 side); with
 * VXLAN, flannel's defaults and DirectRouting (hosts on one segment route to each other plainly).
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * labNetworkConfig(labTopology("hglab", 2)).subnetLen; // 24
 * ```
 */
export function labNetworkConfig(lab: LabTopology): NetworkConfig {
  return makeNetworkConfig(
    lab.network,
    lab.family === "ipv6" ? 64 : 24,
    {},
    lab.backend === "vxlan" ? parseBackend({ Type: "vxlan", DirectRouting: true }) : undefined,
    lab.ipv6Network ? makeSubnetRange(lab.ipv6Network, 64) : undefined,
  );
}

/**
 * The peers file of `lab`: each host's lease, named after its namespace (what `hg peer sync
 * --node` matches its own by), carrying its subnets and the addresses the others route them
 * through, and on a VXLAN network its VTEP (whose MAC derives from its address). Pure.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * labPeers(labTopology("hglab", 4)).leases.length; // 4
 * ```
 */
export function labPeers(lab: LabTopology): LabPeers {
  const config = labNetworkConfig(lab);
  return {
    config,
    leases: lab.hosts.map((host) => ({
      subnets: {
        subnet: host.subnet,
        ...(host.ipv6Subnet ? { ipv6Subnet: host.ipv6Subnet } : {}),
      },
      attrs: leaseAttrsFor({
        publicIp: host.publicIp,
        ...(host.ipv6Subnet && host.ipv6Address ? { publicIpv6: host.ipv6Address } : {}),
        backendType: lab.backend,
        node: host.netns,
      }, config),
    })),
  };
}

/**
 * Whether `text` (the peers file as it is, undefined when there is none) holds exactly `peers`:
 * the same network config, the same leases with the same values, none running out within a
 * year of `now` (ms since the epoch). Then `lab up` leaves it as it is.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * peersFileHolds(undefined, labPeers(labTopology("hglab", 4)), Date.now()); // false
 * ```
 */
export function peersFileHolds(text: string | undefined, peers: LabPeers, now: number): boolean {
  if (text === undefined) return false;
  let file;
  try {
    file = parseRegistryFile(text, "peers file");
  } catch {
    return false; // not hg's, or broken: written again
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const year = 365 * 24 * 3600 * 1000;
  return same(file.config, JSON.parse(formatNetworkConfig(peers.config))) &&
    Object.keys(file.leases).length === peers.leases.length &&
    peers.leases.every(({ subnets, attrs }) => {
      const stored = file.leases[leaseKey(subnets)];
      return stored !== undefined && same(stored.attrs, leaseValue(attrs)) &&
        Date.parse(stored.expiration) > now + year;
    });
}

/**
 * Writes `peers` to `path` through the file store, in place of what was there: the lab derives
 * the file whole from its hosts, and no hg command reads it while the lab writes it.
 */
export async function writePeersFile(path: string, peers: LabPeers): Promise<void> {
  await rm(path, { force: true });
  const store = openStore(path);
  try {
    if (!(await store.putConfig(peers.config, undefined))) {
      throw new HgError(`${path} was written by someone else while the lab wrote it`);
    }
    for (const { subnets, attrs } of peers.leases) {
      if (!(await store.claim(subnets, attrs, PEERS_FILE_TTL))) {
        throw new HgError(`${path} has ${formatPrefix(subnets.subnet)} twice`);
      }
    }
  } finally {
    await store.close();
  }
}
