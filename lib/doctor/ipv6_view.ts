/**
 * The IPv6 view of a host: the same observation with IPv6 in the places doctor's checks read
 * (table main's IPv6 routes, NDP's neighbours, ip6tables, the registry's IPv6 subnets and
 * addresses), so that the route, gateway, neighbour, forwarding and firewall checks judge IPv6
 * by the same rules as IPv4 instead of a copy of them. Policy routing rules are not read for
 * IPv6: the view has table main and this host's addresses only.
 *
 * @module
 */
import { type DoctorContext, doctorContext } from "./context.ts";
import type { Observation } from "./observation.ts";
import { registryOfFamily } from "./registry_family.ts";

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
  const registry = registryOfFamily(obs.registry, 6);
  const { rules: _rules, routeTables: _tables, registry: _registry, ...rest } = obs;
  return {
    ...rest,
    host: {
      ...obs.host,
      routes: obs.routes6 ?? [],
      neighbours: neighbours.filter((n) => n.state.includes("PERMANENT")),
      forwarding: obs.host.forwarding6,
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
 * import type { DoctorContext } from "./context.ts";
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
 * import type { DoctorContext } from "./context.ts";
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
