/**
 * Facts doctor derives once from an observation and every check shares: the bridge and this
 * host's subnet, hg's containers, hg's routes, the registry's leases, the cluster network and
 * the uplink.
 *
 * @module
 */
import { type BridgeState, findBridge } from "../host/bridge.ts";
import { interfaceWithAddress } from "../host/public_address.ts";
import { type ContainerEntry, listContainers } from "../containers/list.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import type { Route } from "../ip/route.ts";
import type { IpAddress } from "../net/address.ts";
import { type Prefix, prefixContains, prefixEquals, prefixOf } from "../net/prefix.ts";
import type { NetworkConfig } from "../store/config.ts";
import type { Lease, RegistryEntry } from "../store/store.ts";
import type { ContainerObservation, Observation } from "./observation.ts";

/** An hg container: its mark on the host-side veth, and its namespace as observed. */
export interface Container extends ContainerEntry {
  readonly observed?: ContainerObservation;
}

/** What the checks share. */
export interface DoctorContext {
  readonly obs: Observation;
  readonly bridge?: BridgeState;
  /** This host's subnet: the bridge's network. */
  readonly subnet?: Prefix;
  readonly containers: readonly Container[];
  /** Routes hg made (proto 104). */
  readonly hgRoutes: readonly Route[];
  /** The registry, when it was read. */
  readonly registry?: {
    readonly url: string;
    readonly config: NetworkConfig;
    readonly entries: readonly RegistryEntry[];
  };
  readonly leases: readonly Lease[];
  /** This host's own lease (the one for the bridge's subnet). */
  readonly ownLease?: Lease;
  /** The containers' network: the registry's, else the smallest prefix covering this host's subnet and hg's routes. */
  readonly clusterNetwork?: Prefix;
  /** The interface peers are reached by. */
  readonly uplink?: string;
}

/** The smallest prefix that covers all of `prefixes` (IPv4). */
function coveringPrefix(prefixes: readonly Prefix[]): Prefix | undefined {
  if (prefixes.length === 0) return undefined;
  let length = Math.min(...prefixes.map((p) => p.length));
  const first = prefixes[0].address;
  while (length > 0 && !prefixes.every((p) => prefixContains(prefixOf(first, length), p.address))) {
    length--;
  }
  return prefixOf(first, length);
}

/** This host's address for its peers: its lease's public address, else its uplink's address. */
export function selfAddress(ctx: DoctorContext): IpAddress | undefined {
  return ctx.ownLease?.attrs.publicIp ??
    ctx.obs.host.addresses.find((l) => l.ifname === ctx.uplink)?.addresses
      .find((a) => a.address.family === 4)?.address;
}

/** The lease whose subnet holds `address`. */
export function leaseFor(ctx: DoctorContext, address: IpAddress): Lease | undefined {
  return ctx.leases.find((l) => prefixContains(l.subnet, address));
}

/**
 * Derives the shared facts.
 *
 * @example
 * ```ts
 * const ctx = doctorContext(parseSnapshot(document));
 * ctx.subnet; // 1.1.1.0/24
 * ```
 */
export function doctorContext(obs: Observation): DoctorContext {
  const bridge = findBridge(obs.host, obs.bridge);
  const subnet = bridge?.gateway?.prefix;
  const observed = new Map(obs.containers.map((c) => [c.name, c]));
  const containers = listContainers(obs.host).map((c) => ({
    ...c,
    observed: observed.get(c.name),
  }));
  const hgRoutes = obs.host.routes.filter((r) => r.protocol === HG_ROUTE_PROTOCOL);
  const registry = obs.registry && "config" in obs.registry ? obs.registry : undefined;
  const leases = (registry?.entries ?? []).flatMap((e) => "lease" in e ? [e.lease] : []);
  const ownLease = leases.find((l) =>
    obs.node !== undefined && l.attrs.node !== undefined
      ? l.attrs.node === obs.node
      : subnet !== undefined && prefixEquals(l.subnet, subnet)
  );
  const clusterNetwork = registry?.config.network ??
    coveringPrefix([...(subnet ? [subnet] : []), ...hgRoutes.map((r) => r.dst)]);
  const uplink = uplinkOf(obs, ownLease, hgRoutes);
  return {
    obs,
    bridge,
    subnet,
    containers,
    hgRoutes,
    registry,
    leases,
    ownLease,
    clusterNetwork: clusterNetwork?.length === 0 ? undefined : clusterNetwork,
    uplink,
  };
}

/** The interface of this host's public address, else the one most hg routes use, else the default route's. */
function uplinkOf(obs: Observation, own: Lease | undefined, hgRoutes: readonly Route[]) {
  const link = own && interfaceWithAddress(obs.host, own.attrs.publicIp);
  if (link) return link.ifname;
  const counts = new Map<string, number>();
  for (const r of hgRoutes) if (r.dev) counts.set(r.dev, (counts.get(r.dev) ?? 0) + 1);
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  return busiest ?? obs.host.routes.find((r) => r.dst.length === 0 && r.dev)?.dev;
}
