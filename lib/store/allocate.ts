/**
 * Subnet allocation on any store, by compare-and-swap only: a host that already holds a lease
 * (same node name or same public address) gets it back; a host that used a subnet before (its
 * bridge still has it) claims that one again when it is free, as flanneld does with its previous
 * subnet; otherwise a free subnet is picked at random and claimed, and a claim lost to another
 * host is retried with a new pick (flanneld exits there instead). Pure choice of candidates,
 * I/O only through the store. A dual-stack lease holds an IPv4 and an IPv6 subnet under one key.
 *
 * @module
 */
import { noConfigError } from "./configure.ts";
import { HgError, InputError } from "../errors.ts";
import { gatewayAddressError } from "../peers/reconcile.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import {
  formatPrefix,
  nthSubnet,
  type Prefix,
  prefixCovers,
  prefixEquals,
  subnetIndex,
} from "../net/prefix.ts";
import { configRanges, describeNetworks, type NetworkConfig, type SubnetRange } from "./config.ts";
import {
  formatLeaseValue,
  leaseAddressError,
  type LeaseAttrs,
  leaseAttrsFor,
  type LeaseSubnets,
  leaseSubnets,
  subnetsOfKey,
} from "./lease.ts";
import type { Lease, RegistryEntry, SubnetStore } from "./store.ts";

/** Every subnet of the network is taken. */
export class NetworkFullError extends HgError {}

/** The subnet a host uses cannot be had again, and the host cannot move (it has containers). */
export class PreviousSubnetError extends HgError {}

/** Who asks for a subnet, and for how long. */
export interface AllocRequest {
  readonly attrs: LeaseAttrs;
  readonly ttlSeconds: number;
  /** The subnet the host uses already (its bridge's, or subnet.env's): claimed first when free. */
  readonly previous?: Prefix;
  /**
   * Throw {@link PreviousSubnetError} instead of taking another subnet when `previous` cannot
   * be had: a host with containers on it cannot simply move.
   */
  readonly keepPrevious?: boolean;
}

/** The lease a host got, and whether it already had it. */
export interface Allocation {
  readonly lease: Lease;
  readonly reused: boolean;
  /**
   * What became of this host's entry in the registry: made (`claimed`), its value written anew
   * (`rewritten`: the host's addresses or attributes changed), or only extended (`renewed`).
   */
  readonly entry: "claimed" | "rewritten" | "renewed";
  /** Why the host's previous subnet could not be had, when another one was taken instead. */
  readonly previousUnavailable?: string;
}

/**
 * Why `subnets` cannot be leased by this host now, or undefined when they are free and valid.
 * A dual-stack lease's IPv6 subnet must be its IPv4 subnet's pair (see {@link subnetsAt}).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "./config.ts";
 * import { leaseOf } from "./lease.ts";
 * const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
 * const entries = [{ key: "1.1.3.0-24", lease: leaseOf({ subnet: parsePrefix("1.1.3.0/24") }, {
 *   publicIp: parseAddress("10.0.12.13"), backendType: "host-gw", node: "h3",
 * }) }];
 * whyNotFree(config, { subnet: parsePrefix("1.1.3.0/24") }, entries); // "it is leased to h3 (10.0.12.13)"
 * ```
 */
export function whyNotFree(
  config: NetworkConfig,
  subnets: LeaseSubnets,
  entries: readonly RegistryEntry[],
): string | undefined {
  return whyNotFreeIn(config, subnets, registryKeys(entries));
}

/** A listing's entries with the subnets each key names, each key parsed once. */
interface RegistryKeys {
  readonly entries: readonly RegistryEntry[];
  /** `subnetsOfKey` of each entry's key, in the same order (undefined: not a lease's key). */
  readonly subnets: readonly (LeaseSubnets | undefined)[];
}

/**
 * Parses every key of a listing once: an allocation asks of them what subnets are taken, how
 * many leases the network holds and whether a previous subnet is free, and a large registry's
 * keys cost to parse.
 */
function registryKeys(entries: readonly RegistryEntry[]): RegistryKeys {
  return { entries, subnets: entries.map((e) => subnetsOfKey(e.key)) };
}

/** {@link whyNotFree} over keys parsed already. */
function whyNotFreeIn(
  config: NetworkConfig,
  subnets: LeaseSubnets,
  keys: RegistryKeys,
): string | undefined {
  const index = candidateIndex(config, subnets.subnet);
  if (index === undefined) return notInRange(config, config);
  const pair = subnetsAt(config, index);
  if (config.ipv6 && subnets.ipv6Subnet && !prefixEquals(subnets.ipv6Subnet, pair.ipv6Subnet!)) {
    return `${formatPrefix(subnets.ipv6Subnet)} is not the IPv6 pair of ${
      formatPrefix(subnets.subnet)
    } (${formatPrefix(pair.ipv6Subnet!)})`;
  }
  const mine = new Set(leaseSubnets(pair).map(formatPrefix));
  for (let i = 0; i < keys.entries.length; i++) {
    const entry = keys.entries[i];
    const held = keys.subnets[i];
    if (!held || !leaseSubnets(held).some((p) => mine.has(formatPrefix(p)))) continue;
    if (!("lease" in entry)) return `its registry key holds something else (${entry.problem})`;
    const { node, publicIp } = entry.lease.attrs;
    return `it is leased to ${node ?? "a host"} (${formatAddress(publicIp)})`;
  }
  return undefined;
}

/** Why a subnet is not one of `range`'s. */
function notInRange(config: NetworkConfig, range: SubnetRange): string {
  return `it is not one of the network's subnets (/${range.subnetLen} of ${
    formatPrefix(range.network)
  } from ${formatAddress(range.subnetMin)} to ${formatAddress(range.subnetMax)}${
    config.ipv6 && range === config ? `, paired with ${describeNetworks(config)}` : ""
  })`;
}

/** The indexes of the first and last subnet handed out (SubnetMin, SubnetMax), and how many. */
function subnetRange(range: SubnetRange): { first: bigint; last: bigint; size: bigint } {
  const index = (address: IpAddress) =>
    subnetIndex(range.network, { address, length: range.subnetLen });
  const first = index(range.subnetMin);
  const last = index(range.subnetMax);
  return { first, last, size: last - first + 1n };
}

/**
 * How many leases the network holds: the primary range's size, or a dual-stack network's
 * smaller range's (the n-th IPv4 subnet pairs with the n-th IPv6 one).
 */
function candidateCount(config: NetworkConfig): bigint {
  const sizes = configRanges(config).map((r) => subnetRange(r).size);
  return sizes.reduce((a, b) => (a < b ? a : b));
}

/**
 * The subnets of the `n`-th lease of the network, counting from SubnetMin. Dual-stack, the n-th
 * IPv4 subnet pairs with the n-th IPv6 subnet, so one key claims both: two hosts can never hold
 * the same subnet of either family, on any store, because they would race for the same key.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * import { HOST_GW, makeNetworkConfig, makeSubnetRange } from "./config.ts";
 * const ipv6 = makeSubnetRange(parsePrefix("fd00:1::/48"));
 * const dualStack = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24, {}, HOST_GW, ipv6);
 * subnetsAt(dualStack, 0n); // { subnet: 1.1.1.0/24, ipv6Subnet: fd00:1:0:1::/64 }
 * ```
 */
export function subnetsAt(config: NetworkConfig, n: bigint): LeaseSubnets {
  const at = (range: SubnetRange) =>
    nthSubnet(range.network, range.subnetLen, subnetRange(range).first + n);
  return config.ipv6 ? { subnet: at(config), ipv6Subnet: at(config.ipv6) } : { subnet: at(config) };
}

/** Which lease of the network (see {@link subnetsAt}) has primary subnet `subnet`, if any. */
function candidateIndex(config: NetworkConfig, subnet: Prefix): bigint | undefined {
  if (
    subnet.length !== config.subnetLen || !prefixCovers(config.network, subnet)
  ) return undefined;
  const n = subnetIndex(config.network, subnet) - subnetRange(config).first;
  return n < 0n || n >= candidateCount(config) ? undefined : n;
}

/** The lease that belongs to this host: same node name, or same public address. */
export function ownLease(entries: readonly RegistryEntry[], attrs: LeaseAttrs): Lease | undefined {
  for (const entry of entries) {
    if (!("lease" in entry)) continue;
    const held = entry.lease.attrs;
    if (attrs.node !== undefined && held.node === attrs.node) return entry.lease;
    if (addressEquals(held.publicIp, attrs.publicIp)) return entry.lease;
  }
  return undefined;
}

/**
 * The free leases between SubnetMin and SubnetMax (at most `limit`), in order. A lease is free
 * when no key names any of its subnets; keys count even when their value is broken: claiming
 * over them would fail anyway.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "./config.ts";
 * import { leaseOf } from "./lease.ts";
 * const entries = [{ key: "1.1.1.0-24", lease: leaseOf({ subnet: parsePrefix("1.1.1.0/24") }, {
 *   publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1",
 * }) }];
 * freeSubnets(makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24), takenSubnets(entries), 2);
 * // [{ subnet: 1.1.2.0/24 }, { subnet: 1.1.3.0/24 }]
 * ```
 */
export function freeSubnets(
  config: NetworkConfig,
  taken: ReadonlySet<string>,
  limit = 1000,
): LeaseSubnets[] {
  const count = candidateCount(config);
  const free: LeaseSubnets[] = [];
  for (let i = 0n; i < count && free.length < limit; i++) {
    const subnets = subnetsAt(config, i);
    if (!leaseSubnets(subnets).some((p) => taken.has(formatPrefix(p)))) free.push(subnets);
  }
  return free;
}

/** Every subnet (as `formatPrefix` writes it) a key of the listing names, valid lease or not. */
export function takenSubnets(entries: readonly RegistryEntry[]): Set<string> {
  return takenIn(registryKeys(entries));
}

/** {@link takenSubnets} over keys parsed already. */
function takenIn(keys: RegistryKeys): Set<string> {
  const taken = new Set<string>();
  for (const subnets of keys.subnets) {
    if (subnets) { for (const p of leaseSubnets(subnets)) taken.add(formatPrefix(p)); }
  }
  return taken;
}

/** A free lease picked at random (among the first 1000 free ones). */
function randomFree(
  config: NetworkConfig,
  taken: ReadonlySet<string>,
  random: () => number,
): LeaseSubnets {
  const free = freeSubnets(config, taken);
  return free[Math.floor(random() * free.length)];
}

/** When a lease taken or renewed now runs out (the store's clock may differ slightly). */
function expiry(request: AllocRequest): number {
  return Date.now() + request.ttlSeconds * 1000;
}

/**
 * A lease every other host's `peer sync` would refuse is never written: each family's subnets are
 * routed through the holder's address of that family, outside the cluster network.
 */
function refuseUnroutable(config: NetworkConfig, attrs: LeaseAttrs): void {
  const containers = configRanges(config).map((r) => ({
    prefix: r.network,
    what: "the cluster network",
  }));
  const family = config.network.address.family;
  const unusable = leaseAddressError("public address", attrs.publicIp, family) ??
    gatewayAddressError("public address", attrs.publicIp, containers);
  if (unusable) throw unusable;
  if (!config.ipv6) return;
  if (!attrs.publicIpv6) {
    throw new InputError(
      `the network is dual-stack (${
        describeNetworks(config)
      }): this host needs a public IPv6 address as well (--public-ipv6, or a global IPv6 address on its interface)`,
    );
  }
  const unusable6 = leaseAddressError("public IPv6 address", attrs.publicIpv6, 6) ??
    gatewayAddressError("public IPv6 address", attrs.publicIpv6, containers);
  if (unusable6) throw unusable6;
}

function networkFull(config: NetworkConfig): NetworkFullError {
  const ranges = configRanges(config).map((r) =>
    `/${r.subnetLen} from ${formatAddress(r.subnetMin)} to ${formatAddress(r.subnetMax)}`
  ).join(" paired with ");
  const networks = configRanges(config).map((r) => formatPrefix(r.network)).join(" + ");
  return new NetworkFullError(`network ${networks} is full: every ${ranges} is leased`);
}

/** What {@link allocate} does with a listing: the decision, before any write. */
export type AllocationPreview =
  | { readonly kind: "renew"; readonly lease: Lease }
  | { readonly kind: "previous"; readonly subnets: LeaseSubnets }
  | {
    readonly kind: "new";
    readonly first: LeaseSubnets;
    readonly free: number;
    /** Why the host's previous subnet could not be had. */
    readonly previousUnavailable?: string;
  };

/**
 * What {@link allocate} would do with `entries` (the listing read now), refusing what it would
 * refuse; `allocate` acts on it, a dry run prints it. Which new subnet is taken is a random pick,
 * so only the first free one and the number of free ones are told. `url` names the registry in
 * messages.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "./config.ts";
 * const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
 * const attrs = { publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1" };
 * previewAllocation(config, [], { attrs, ttlSeconds: 86400 }, "file:///var/lib/hg/subnets.json");
 * // { kind: "new", first: { subnet: 1.1.1.0/24 }, free: 255 }
 * ```
 */
export function previewAllocation(
  config: NetworkConfig,
  entries: readonly RegistryEntry[],
  request: AllocRequest,
  url: string,
): AllocationPreview {
  return previewIn(config, registryKeys(entries), request, url).preview;
}

/**
 * {@link previewAllocation} over keys parsed already; with the taken subnets when it counted
 * them (a new subnet), for the random pick.
 */
function previewIn(
  config: NetworkConfig,
  keys: RegistryKeys,
  request: AllocRequest,
  url: string,
): { preview: AllocationPreview; taken?: ReadonlySet<string> } {
  const { entries } = keys;
  const attrs = leaseAttrsFor(request.attrs, config);
  refuseUnroutable(config, attrs);
  const { previous } = request;
  const mine = ownLease(entries, attrs);
  if (mine) {
    if (previous && !prefixEquals(previous, mine.subnet) && request.keepPrevious) {
      throw new PreviousSubnetError(
        `this host uses ${formatPrefix(previous)} but its lease in ${url} is for ${
          formatPrefix(mine.subnet)
        }`,
      );
    }
    return { preview: { kind: "renew", lease: mine } };
  }
  let previousUnavailable: string | undefined;
  if (previous) {
    // A dual-stack host claims its IPv4 subnet's pair with it.
    const index = candidateIndex(config, previous);
    const subnets = index === undefined ? { subnet: previous } : subnetsAt(config, index);
    previousUnavailable = whyNotFreeIn(config, subnets, keys);
    if (previousUnavailable === undefined) return { preview: { kind: "previous", subnets } };
    if (request.keepPrevious) {
      throw new PreviousSubnetError(
        `this host uses ${
          formatPrefix(previous)
        }, which it cannot lease again: ${previousUnavailable}`,
      );
    }
  }
  const taken = takenIn(keys);
  const [first] = freeSubnets(config, taken, 1);
  if (!first) throw networkFull(config);
  // Held leases whose primary subnet is one of the network's (the rest take no room).
  const held =
    keys.subnets.filter((subnets) =>
      subnets !== undefined && candidateIndex(config, subnets.subnet) !== undefined
    ).length;
  return {
    preview: {
      kind: "new",
      first,
      free: Number(candidateCount(config)) - held,
      ...(previousUnavailable === undefined ? {} : { previousUnavailable }),
    },
    taken,
  };
}

/**
 * Allocates (or gives back) this host's subnet; the lease's backend attributes follow the
 * network config (see `leaseAttrsFor`).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { SubnetStore } from "./store.ts";
 * declare const store: SubnetStore;
 * const publicIp = parseAddress("10.0.12.11");
 * const { lease, reused } = await allocate(store, { attrs: { publicIp, backendType: "host-gw", node: "h1" }, ttlSeconds: 86400 });
 * ```
 */
export async function allocate(
  store: SubnetStore,
  request: AllocRequest,
  random: () => number = Math.random,
  maxAttempts = 1000,
): Promise<Allocation> {
  const config = await store.getConfig();
  if (!config) throw noConfigError(store.url);
  const { ttlSeconds } = request;
  // The lease says what the network's backend needs of this host (a VXLAN host's VTEP MAC).
  const attrs = leaseAttrsFor(request.attrs, config);
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const { entries } = await store.listLeases();
    // Each key parsed once per attempt: for the preview, the count and the random pick.
    const { preview, taken } = previewIn(config, registryKeys(entries), request, store.url);
    if (preview.kind === "renew") {
      const mine = preview.lease;
      if (await store.renew(mine, mine.attrs.publicIp, ttlSeconds, attrs)) {
        const same = formatLeaseValue(mine.attrs) === formatLeaseValue(attrs);
        return {
          lease: { ...mine, attrs, expiresAt: expiry(request) },
          reused: true,
          entry: same ? "renewed" : "rewritten",
        };
      }
      continue; // it expired or was released in between: look again
    }
    const subnets = preview.kind === "previous"
      ? preview.subnets
      : randomFree(config, taken!, random);
    if (await store.claim(subnets, attrs, ttlSeconds)) {
      const lease = { ...subnets, attrs, expiresAt: expiry(request) };
      if (preview.kind === "previous") return { lease, reused: true, entry: "claimed" };
      const { previousUnavailable } = preview;
      return {
        lease,
        reused: false,
        entry: "claimed",
        ...(previousUnavailable === undefined ? {} : { previousUnavailable }),
      };
    }
    // another host was faster: look again
  }
  throw new HgError(`gave up allocating a subnet in ${store.url} after ${maxAttempts} lost races`);
}
