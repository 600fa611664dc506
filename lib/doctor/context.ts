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
import { onLinkInterface } from "../peers/onlink.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import type { InterfaceAddress } from "../ip/addr.ts";
import type { Route } from "../ip/route.ts";
import type { HostState } from "../host/state.ts";
import type { Family, IpAddress } from "../net/address.ts";
import {
  type Prefix,
  prefixContains,
  prefixCovers,
  prefixEquals,
  prefixOf,
} from "../net/prefix.ts";
import type { NetworkConfig } from "../store/config.ts";
import type { Lease, RegistryEntry } from "../store/store.ts";
import { type Routing, routingOf } from "./lookup.ts";
import { registryOfFamily } from "./registry_family.ts";
import type { ContainerObservation, Observation } from "./observation.ts";
import { prefixId } from "./route_index.ts";
import { leasesHolding } from "./lease_index.ts";

/** An hg container: its mark on the host-side veth, and its namespace as observed. */
export interface Container extends ContainerEntry {
  readonly observed?: ContainerObservation;
}

/** What the checks share. */
export interface DoctorContext {
  /**
   * The address family these facts are of: 4, or 6 for the IPv6 view (ipv6_view.ts), whose
   * routes, neighbours, bridge address, containers' addresses and leases are IPv6.
   */
  readonly family: Family;
  readonly obs: Observation;
  readonly bridge?: BridgeState;
  /**
   * This host's subnet: its lease's, when the bridge's address lies in it, else the one the
   * containers were given, else the bridge's network (a bridge may have a wider mask than the
   * subnet; the other hosts route only the subnet here).
   */
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
  /** The leases by subnet, keyed by {@link prefixId} (no prefix formatted per lease). */
  readonly leaseBySubnet: ReadonlyMap<number | string, Lease>;
  /** This host's own lease (the one for the bridge's subnet). */
  readonly ownLease?: Lease;
  /** The containers' network: the registry's, else the smallest prefix covering this host's subnet and hg's routes. */
  readonly clusterNetwork?: Prefix;
  /** The interface peers are reached by. */
  readonly uplink?: string;
  /** The host's rules and tables, for lookups. */
  readonly routing: Routing;
}

/**
 * hg's routes among `routes` (proto 104), and the smallest prefix that covers `first` (when
 * given) and their destinations (of one family): one pass over the table.
 */
function hgRoutesOf(
  routes: readonly Route[],
  first: Prefix | undefined,
): { hgRoutes: Route[]; covering?: Prefix } {
  const hgRoutes: Route[] = [];
  let base = first?.address;
  // IPv4: the leading bits every address shares with the first, in plain numbers.
  let length = first?.length ?? 128;
  let ipv4 = base === undefined || base.family === 4;
  let differ = 0;
  let baseValue = base?.family === 4 ? Number(base.value) : 0;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i];
    if (r.protocol !== HG_ROUTE_PROTOCOL) continue;
    hgRoutes.push(r);
    const p = r.dst;
    if (base === undefined) {
      base = p.address;
      ipv4 = base.family === 4;
      baseValue = ipv4 ? Number(base.value) : 0;
    }
    if (p.length < length) length = p.length;
    if (p.address.family !== 4) ipv4 = false;
    else if (ipv4) differ |= baseValue ^ Number(p.address.value);
  }
  if (base === undefined) return { hgRoutes };
  if (ipv4) return { hgRoutes, covering: prefixOf(base, Math.min(length, Math.clz32(differ))) };
  const from = base;
  const coversAll = (net: Prefix) =>
    (first === undefined || prefixContains(net, first.address)) &&
    hgRoutes.every((r) => prefixContains(net, r.dst.address));
  while (length > 0 && !coversAll(prefixOf(from, length))) length--;
  return { hgRoutes, covering: prefixOf(from, length) };
}

/** This host's address for its peers: its lease's public address, else its uplink's address. */
export function selfAddress(ctx: DoctorContext): IpAddress | undefined {
  return ctx.ownLease?.attrs.publicIp ??
    ctx.obs.host.addresses.find((l) => l.ifname === ctx.uplink)?.addresses
      .find((a) => a.address.family === ctx.family && a.scope === "global")?.address;
}

/**
 * A route of the container network: hg's, or anyone's to a subnet inside the cluster network.
 *
 * @example
 * ```ts
 * import { parseRoutes } from "../ip/route.ts";
 * declare const ctx: DoctorContext;
 * const [route] = parseRoutes('[{"dst":"1.1.2.0/24","gateway":"10.0.12.12","protocol":"104","flags":[]}]', 4);
 * isPeerRoute(ctx, route); // true
 * ```
 */
export function isPeerRoute(ctx: DoctorContext, route: Route): boolean {
  return route.protocol === HG_ROUTE_PROTOCOL ||
    (ctx.clusterNetwork !== undefined && route.dst.length > 0 &&
      prefixCovers(ctx.clusterNetwork, route.dst));
}

/** The leases by {@link prefixId} of their subnets (the last of one subnet, as a map keeps). */
function leasesBySubnet(leases: readonly Lease[]): Map<number | string, Lease> {
  const map = new Map<number | string, Lease>();
  for (const l of leases) map.set(prefixId(l.subnet), l);
  return map;
}

/** The lease for exactly `subnet`. */
export function leaseOfSubnet(ctx: DoctorContext, subnet: Prefix): Lease | undefined {
  return ctx.leaseBySubnet.get(prefixId(subnet));
}

/** The lease whose subnet holds `address`. */
export function leaseFor(ctx: DoctorContext, address: IpAddress): Lease | undefined {
  return leasesHolding(ctx.leases, address)[0];
}

/**
 * Derives the shared facts.
 *
 * @example
 * ```ts
 * import { parseSnapshot } from "./snapshot.ts";
 * declare const document: unknown;
 * const ctx = doctorContext(parseSnapshot(document));
 * ctx.subnet; // 1.1.1.0/24
 * ```
 */
export function doctorContext(obs: Observation, family: Family = 4): DoctorContext {
  const found = findBridge(obs.host, obs.bridge);
  // The IPv6 view's bridge address is its global IPv6 one (the containers' IPv6 gateway).
  const bridge = found && family === 6
    ? { ...found, gateway: globalAddress(obs.host.addresses, obs.bridge, 6) }
    : found;
  const gateway = bridge?.gateway?.address;
  const observed = (c: ContainerEntry) =>
    obs.containers.find((o) => o.hostVeth === c.hostVeth) ??
      obs.containers.find((o) => o.hostVeth === undefined && o.name === c.name);
  const marked = listContainers(obs.host).map((c) => ({ ...c, observed: observed(c) }));
  // hg's mark holds a container's IPv4 address; its IPv6 one is on its interface.
  const containers = family === 4 ? marked : marked.flatMap((c) => {
    const own = globalAddress(c.observed?.state?.addresses ?? [], c.ifname, 6);
    return own ? [{ ...c, address: own.address, prefixLength: own.prefix.length }] : [];
  });
  // IPv4's context sees the registry's IPv4 side (the IPv6 view's observation holds its own).
  const ofFamily = family === 4 ? registryOfFamily(obs.registry, 4) : obs.registry;
  const registry = ofFamily && "config" in ofFamily ? ofFamily : undefined;
  const leases: Lease[] = [];
  let ownLease: Lease | undefined;
  for (const e of registry?.entries ?? []) {
    if (!("lease" in e)) continue;
    const l = e.lease;
    leases.push(l);
    if (
      ownLease === undefined &&
      (obs.node !== undefined && l.attrs.node !== undefined
        ? l.attrs.node === obs.node
        : gateway !== undefined && prefixContains(l.subnet, gateway))
    ) ownLease = l;
  }
  const subnet = subnetOf(bridge, ownLease, containers);
  const { hgRoutes, covering } = hgRoutesOf(obs.host.routes, subnet);
  const clusterNetwork = registry?.config.network ?? covering;
  const uplink = uplinkOf(obs, ownLease, leases, hgRoutes);
  return {
    family,
    obs,
    bridge,
    subnet,
    containers,
    hgRoutes,
    registry,
    leases,
    leaseBySubnet: leasesBySubnet(leases),
    ownLease,
    clusterNetwork: clusterNetwork?.length === 0 ? undefined : clusterNetwork,
    uplink,
    routing: routingOf(obs),
  };
}

/** The first global address of `family` on `ifname`. */
function globalAddress(
  links: HostState["addresses"],
  ifname: string,
  family: Family,
): InterfaceAddress | undefined {
  return links.find((l) => l.ifname === ifname)?.addresses.find((a) =>
    a.address.family === family && a.scope === "global"
  );
}

/**
 * This host's subnet: the lease's or the containers' when it holds the bridge's address and is
 * no wider than the bridge's network, else the bridge's network.
 */
function subnetOf(
  bridge: BridgeState | undefined,
  own: Lease | undefined,
  containers: readonly ContainerEntry[],
): Prefix | undefined {
  const net = bridge?.gateway?.prefix;
  if (!net) return undefined;
  const inside = (p: Prefix) =>
    p.length >= net.length && prefixContains(p, bridge!.gateway!.address);
  if (own && inside(own.subnet)) return own.subnet;
  const marked = containers.map((c) => prefixOf(c.address, c.prefixLength));
  if (marked.length > 0 && marked.every((p) => prefixEquals(p, marked[0])) && inside(marked[0])) {
    return marked[0];
  }
  return net;
}

/**
 * The interface of this host's public address (unless that is a loopback address, as for an
 * address on lo), else the one the most peers are on-link on, else the one most hg routes use
 * (those through hg's VXLAN device count for the device's uplink),
 * else the default route's.
 */
function uplinkOf(
  obs: Observation,
  own: Lease | undefined,
  leases: readonly Lease[],
  hgRoutes: readonly Route[],
) {
  const link = own && interfaceWithAddress(obs.host, own.attrs.publicIp);
  const loopback = link && (link.ifname === "lo" ||
    obs.host.links.find((l) => l.ifname === link.ifname)?.kind === "dummy" ||
    link.addresses.find((a) => a.address.value === own!.attrs.publicIp.value)?.prefix.length ===
      32);
  if (link && !loopback) return link.ifname;
  const peers = new Map<string, number>();
  // Many leases, few hosts' addresses (a number's key for IPv4): each address looked up once.
  const onLink = new Map<number | bigint, string | undefined>();
  for (const l of leases) {
    if (l === own) continue;
    const ip = l.attrs.publicIp;
    const key = ip.family === 4 ? Number(ip.value) : ip.value;
    let ifname = onLink.get(key);
    if (ifname === undefined && !onLink.has(key)) {
      onLink.set(key, ifname = onLinkInterface(obs.host, ip)?.ifname);
    }
    if (ifname) peers.set(ifname, (peers.get(ifname) ?? 0) + 1);
  }
  const facing = [...peers].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (facing) return facing;
  // Routes through hg's VXLAN device leave by the device's own uplink.
  const tunnel = findVxlanDevice(obs.host);
  const counts = new Map<string, number>();
  // Counted by runs of one device (a table's routes mostly share theirs): few map updates.
  let run: string | undefined;
  let length = 0;
  const flush = () => {
    if (run) counts.set(run, (counts.get(run) ?? 0) + length);
  };
  for (const r of hgRoutes) {
    if (r.dev === run && r.dev !== tunnel?.ifname) {
      length++;
      continue;
    }
    const dev = r.dev !== undefined && r.dev === tunnel?.ifname ? tunnel.vxlan?.dev : r.dev;
    if (dev === run) {
      length++;
      continue;
    }
    flush();
    run = dev;
    length = 1;
  }
  flush();
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  return busiest ?? obs.host.routes.find((r) => r.dst.length === 0 && r.dev)?.dev;
}

/**
 * The host as hg's sync sees it, with the bridge's address narrowed to this host's subnet: a
 * bridge with a wider mask than its subnet makes the sync refuse every lease inside that mask,
 * which doctor reports once (bridge-mask-wide), not per lease.
 */
export function syncView(ctx: DoctorContext): HostState {
  const host = ctx.obs.host;
  const subnet = ctx.subnet;
  if (!subnet || !ctx.bridge?.gateway || ctx.bridge.gateway.prefix.length >= subnet.length) {
    return host;
  }
  const wide = ctx.bridge.gateway.prefix;
  return {
    ...host,
    // The kernel's route for the bridge's network, narrowed like its address.
    routes: host.routes.map((r) =>
      r.dev === ctx.obs.bridge && r.gateway === undefined && prefixEquals(r.dst, wide)
        ? { ...r, dst: subnet }
        : r
    ),
    addresses: host.addresses.map((l) =>
      l.ifname !== ctx.obs.bridge ? l : {
        ...l,
        addresses: l.addresses.map((a) =>
          prefixContains(subnet, a.address) ? { ...a, prefix: subnet } : a
        ),
      }
    ),
  };
}
