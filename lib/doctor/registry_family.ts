/**
 * The registry as one address family sees it: each lease's subnet and holder's address of that
 * family, and the config's range of it. Doctor judges each family by the same checks (IPv4 in
 * the host's own context, IPv6 in its IPv6 view), and a check of one family must not see the
 * other's subnets: a dual-stack lease is two leases, one per family.
 *
 * @module
 */
import type { Family } from "../net/address.ts";
import type { NetworkConfig } from "../store/config.ts";
import type { Lease, RegistryEntry } from "../store/store.ts";
import type { RegistryObservation } from "./observation.ts";

/** A lease as `family` sees it; none for a lease without a subnet of that family. */
function leaseOfFamily(lease: Lease, family: Family): Lease | undefined {
  // A lease of this family alone is itself (no copy of each of 10,000 leases).
  if (
    lease.subnet.address.family === family && lease.ipv6Subnet === undefined &&
    lease.attrs.publicIpv6 === undefined
  ) return lease;
  const { ipv6Subnet, ...primary } = lease;
  const { publicIpv6, ...attrs } = lease.attrs;
  if (lease.subnet.address.family === family) return { ...primary, attrs };
  if (family === 4 || !ipv6Subnet || !publicIpv6) return undefined;
  return { ...primary, subnet: ipv6Subnet, attrs: { ...attrs, publicIp: publicIpv6 } };
}

/** The config as `family` sees it: its range of that family, or none. */
function configOfFamily(config: NetworkConfig, family: Family): NetworkConfig | undefined {
  const { ipv6, ...primary } = config;
  if (config.network.address.family === family) return primary;
  return family === 6 && ipv6 ? { ...primary, ...ipv6 } : undefined;
}

/**
 * The registry as `family` sees it: undefined when its network has no range of that family
 * (an error reading it stays, for either).
 *
 * @example
 * ```ts
 * import type { RegistryObservation } from "./observation.ts";
 * declare const registry: RegistryObservation;
 * registryOfFamily(registry, 6); // the IPv6 subnets, via the hosts' IPv6 addresses
 * ```
 */
export function registryOfFamily(
  registry: RegistryObservation | undefined,
  family: Family,
): RegistryObservation | undefined {
  if (!registry || !("config" in registry)) return registry;
  const config = configOfFamily(registry.config, family);
  if (!config) return undefined;
  // An entry whose lease is itself in this family is kept as it is (no copy per lease).
  const entries: RegistryEntry[] = [];
  for (const e of registry.entries) {
    if (!("lease" in e)) {
      entries.push(e);
      continue;
    }
    const lease = leaseOfFamily(e.lease, family);
    if (lease) entries.push(lease === e.lease ? e : { key: e.key, lease });
  }
  return { ...registry, config, entries };
}
