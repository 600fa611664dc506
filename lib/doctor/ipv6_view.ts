/**
 * The IPv6 view of a host: the same observation with IPv6 in the places doctor's checks read
 * (table main's IPv6 routes, NDP's neighbours, ip6tables, the registry's IPv6 subnets and
 * addresses), so that the route, gateway, neighbour, forwarding and firewall checks judge IPv6
 * by the same rules as IPv4 instead of a copy of them. Policy routing rules are not read for
 * IPv6: the view has table main and this host's addresses only.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";
import type { Prefix } from "../net/prefix.ts";
import type { NetworkConfig } from "../store/config.ts";
import type { Lease, RegistryEntry } from "../store/store.ts";
import { type DoctorContext, doctorContext } from "./context.ts";
import type { Observation, RegistryObservation } from "./observation.ts";

/** A lease's IPv6 side as the dual-stack registry model carries it. */
interface DualStackLease {
  readonly ipv6Subnet?: Prefix;
  readonly attrs: { readonly publicIpv6?: IpAddress };
}

/**
 * A lease as IPv6 sees it: a dual-stack lease's IPv6 subnet and address, an IPv6-only lease as
 * it is; none for a lease without IPv6.
 */
function ipv6Lease(lease: Lease): Lease | undefined {
  if (lease.subnet.address.family === 6) return lease;
  const dual = lease as Lease & DualStackLease;
  if (!dual.ipv6Subnet || !dual.attrs.publicIpv6) return undefined;
  return {
    ...lease,
    subnet: dual.ipv6Subnet,
    attrs: { ...lease.attrs, publicIp: dual.attrs.publicIpv6 },
  };
}

/** A dual-stack config's IPv6 range, as the registry model carries it. */
interface DualStackConfig {
  readonly ipv6?: Pick<NetworkConfig, "network" | "subnetLen" | "subnetMin" | "subnetMax">;
}

/** The network config of IPv6: a dual-stack config's IPv6 range, an IPv6-only config itself. */
function ipv6Config(config: NetworkConfig): NetworkConfig | undefined {
  if (config.network.address.family === 6) return config;
  const { ipv6, ...rest } = config as NetworkConfig & DualStackConfig;
  return ipv6 ? { ...rest, ...ipv6 } : undefined;
}

function ipv6Registry(registry: RegistryObservation | undefined): RegistryObservation | undefined {
  if (!registry || !("config" in registry)) return registry;
  const config = ipv6Config(registry.config);
  if (!config) return undefined;
  const entries = registry.entries.flatMap((e): RegistryEntry[] => {
    if (!("lease" in e)) return [e];
    const lease = ipv6Lease(e.lease);
    return lease ? [{ key: e.key, lease }] : [];
  });
  return { ...registry, config, entries };
}

/**
 * The observation with IPv6 where the checks read routes, neighbours, the ip(6)tables filter
 * and the registry.
 *
 * @example
 * ```ts
 * import type { Observation } from "./observation.ts";
 * declare const obs: Observation;
 * ipv6Observation(obs).host.routes; // the IPv6 routes of table main
 * ```
 */
export function ipv6Observation(obs: Observation): Observation {
  const neighbours = obs.neighbours6 ?? [];
  const registry = ipv6Registry(obs.registry);
  const { rules: _rules, routeTables: _tables, registry: _registry, ...rest } = obs;
  return {
    ...rest,
    host: {
      ...obs.host,
      routes: obs.routes6 ?? [],
      neighbours: neighbours.filter((n) => n.state.includes("PERMANENT")),
      forwarding: obs.sysctl.get("net.ipv6.conf.all.forwarding") === "1",
    },
    neighbours,
    firewall: { ...obs.firewall, iptables: obs.firewall.ip6tables },
    containers: obs.containers.map((c) =>
      c.state ? { ...c, state: { ...c.state, routes: [...(c.routes6 ?? [])] } } : c
    ),
    ...(registry ? { registry } : {}),
  };
}

/**
 * The shared facts of the IPv6 view.
 *
 * @example
 * ```ts
 * import type { Observation } from "./observation.ts";
 * declare const obs: Observation;
 * ipv6Context(obs).bridge?.gateway; // fd00:1:1::1/64
 * ```
 */
export function ipv6Context(obs: Observation): DoctorContext {
  return doctorContext(ipv6Observation(obs), 6);
}

/**
 * Whether this host carries IPv6 for its containers: its bridge has a global IPv6 address, or
 * hg routes IPv6 subnets, or the registry holds IPv6 subnets. A host that does not is not
 * judged on IPv6 (a link-local-only bridge, IPv6 forwarding off, are fine there).
 *
 * @example
 * ```ts
 * declare const ctx6: DoctorContext;
 * carriesIpv6(ctx6); // true when cni0 has fd00:1:1::1/64
 * ```
 */
export function carriesIpv6(ctx6: DoctorContext): boolean {
  return ctx6.bridge?.gateway !== undefined || ctx6.hgRoutes.length > 0 ||
    ctx6.leases.length > 0;
}

/**
 * The facts without the containers whose IPv6 address failed DAD: the kernel never uses that
 * address, so it is nobody's duplicate on the bridge; address-dad-failed says it, once.
 *
 * @example
 * ```ts
 * declare const ctx6: DoctorContext;
 * withoutDadFailed(ctx6).containers.length;
 * ```
 */
export function withoutDadFailed(ctx: DoctorContext): DoctorContext {
  if (ctx.family !== 6) return ctx;
  const failed = (c: DoctorContext["containers"][number]) =>
    c.observed?.state?.addresses.some((l) =>
      l.addresses.some((a) => a.address.value === c.address.value && a.flags?.includes("dadfailed"))
    ) ?? false;
  return { ...ctx, containers: ctx.containers.filter((c) => !failed(c)) };
}
