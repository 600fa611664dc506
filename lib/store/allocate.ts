/**
 * Subnet allocation on any store, by compare-and-swap only: a host that already holds a lease
 * (same node name or same public address) gets it back; a host that used a subnet before (its
 * bridge still has it) claims that one again when it is free, as flanneld does with its previous
 * subnet; otherwise a free subnet is picked at random and claimed, and a claim lost to another
 * host is retried with a new pick (flanneld exits there instead). Pure choice of candidates,
 * I/O only through the store.
 *
 * @module
 */
import { noConfigError } from "./configure.ts";
import { HgError } from "../errors.ts";
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
import type { NetworkConfig } from "./config.ts";
import {
  leaseAddressError,
  type LeaseAttrs,
  leaseAttrsFor,
  subnetKey,
  subnetOfKey,
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
  /** Why the host's previous subnet could not be had, when another one was taken instead. */
  readonly previousUnavailable?: string;
}

/**
 * Why `subnet` cannot be leased by this host now, or undefined when it is free and valid.
 *
 * @example
 * ```ts
 * whyNotFree(config, parsePrefix("1.1.3.0/24"), entries); // "it is leased to h3 (10.0.12.13)"
 * ```
 */
export function whyNotFree(
  config: NetworkConfig,
  subnet: Prefix,
  entries: readonly RegistryEntry[],
): string | undefined {
  const { first, last } = subnetRange(config);
  if (
    subnet.length !== config.subnetLen || !prefixCovers(config.network, subnet) ||
    subnetIndex(config.network, subnet) < first || subnetIndex(config.network, subnet) > last
  ) {
    return `it is not one of the network's subnets (/${config.subnetLen} of ${
      formatPrefix(config.network)
    } from ${formatAddress(config.subnetMin)} to ${formatAddress(config.subnetMax)})`;
  }
  const entry = entries.find((e) => e.key === subnetKey(subnet));
  if (!entry) return undefined;
  if (!("lease" in entry)) return `its registry key holds something else (${entry.problem})`;
  const { node, publicIp } = entry.lease.attrs;
  return `it is leased to ${node ?? "a host"} (${formatAddress(publicIp)})`;
}

/** The indexes of the first and last subnet handed out (SubnetMin, SubnetMax), and how many. */
function subnetRange(config: NetworkConfig): { first: bigint; last: bigint; size: bigint } {
  const index = (address: IpAddress) =>
    subnetIndex(config.network, { address, length: config.subnetLen });
  const first = index(config.subnetMin);
  const last = index(config.subnetMax);
  return { first, last, size: last - first + 1n };
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
 * The free subnets between SubnetMin and SubnetMax (at most `limit`), in order. Keys that name a
 * subnet count as taken even when their value is broken: claiming over them would fail anyway.
 *
 * @example
 * ```ts
 * freeSubnets(makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24), new Set(["1.1.1.0-24"]), 2);
 * // [1.1.2.0/24, 1.1.3.0/24]
 * ```
 */
export function freeSubnets(
  config: NetworkConfig,
  taken: ReadonlySet<string>,
  limit = 1000,
): Prefix[] {
  const { first, last } = subnetRange(config);
  const free: Prefix[] = [];
  for (let i = first; i <= last && free.length < limit; i++) {
    const subnet = nthSubnet(config.network, config.subnetLen, i);
    if (!taken.has(subnetKey(subnet))) free.push(subnet);
  }
  return free;
}

/** The keys of every subnet a listing holds, valid lease or not. */
export function takenKeys(entries: readonly RegistryEntry[]): Set<string> {
  return new Set(entries.filter((e) => subnetOfKey(e.key) !== undefined).map((e) => e.key));
}

/** A free subnet picked at random (among the first 1000 free ones). */
function randomFree(
  config: NetworkConfig,
  entries: readonly RegistryEntry[],
  random: () => number,
): Prefix {
  const free = freeSubnets(config, takenKeys(entries));
  return free[Math.floor(random() * free.length)];
}

/** When a lease taken or renewed now runs out (the store's clock may differ slightly). */
function expiry(request: AllocRequest): number {
  return Date.now() + request.ttlSeconds * 1000;
}

/** A lease every other host's `peer sync` would refuse is never written. */
function refuseUnroutable(config: NetworkConfig, attrs: LeaseAttrs): void {
  const { publicIp } = attrs;
  const unusable = leaseAddressError("public address", publicIp) ??
    gatewayAddressError("public address", publicIp, [
      { prefix: config.network, what: "the cluster network" },
    ]);
  if (unusable) throw unusable;
}

function networkFull(config: NetworkConfig): NetworkFullError {
  return new NetworkFullError(
    `network ${formatPrefix(config.network)} is full: every /${config.subnetLen} from ` +
      `${formatAddress(config.subnetMin)} to ${formatAddress(config.subnetMax)} is leased`,
  );
}

/** What {@link allocate} does with a listing: the decision, before any write. */
export type AllocationPreview =
  | { readonly kind: "renew"; readonly lease: Lease }
  | { readonly kind: "previous"; readonly subnet: Prefix }
  | {
    readonly kind: "new";
    readonly first: Prefix;
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
 * previewAllocation(config, entries, { attrs, ttlSeconds: 86400 }, store.url); // { kind: "new", first: 1.1.1.0/24, free: 254 }
 * ```
 */
export function previewAllocation(
  config: NetworkConfig,
  entries: readonly RegistryEntry[],
  request: AllocRequest,
  url: string,
): AllocationPreview {
  refuseUnroutable(config, request.attrs);
  const { previous } = request;
  const mine = ownLease(entries, request.attrs);
  if (mine) {
    if (previous && !prefixEquals(previous, mine.subnet) && request.keepPrevious) {
      throw new PreviousSubnetError(
        `this host uses ${formatPrefix(previous)} but its lease in ${url} is for ${
          formatPrefix(mine.subnet)
        }`,
      );
    }
    return { kind: "renew", lease: mine };
  }
  let previousUnavailable: string | undefined;
  if (previous) {
    previousUnavailable = whyNotFree(config, previous, entries);
    if (previousUnavailable === undefined) return { kind: "previous", subnet: previous };
    if (request.keepPrevious) {
      throw new PreviousSubnetError(
        `this host uses ${
          formatPrefix(previous)
        }, which it cannot lease again: ${previousUnavailable}`,
      );
    }
  }
  const taken = takenKeys(entries);
  const [first] = freeSubnets(config, taken, 1);
  if (!first) throw networkFull(config);
  const inRange = [...taken].filter((key) =>
    whyNotFree(config, subnetOfKey(key)!, []) === undefined
  );
  return {
    kind: "new",
    first,
    free: Number(subnetRange(config).size) - inRange.length,
    ...(previousUnavailable === undefined ? {} : { previousUnavailable }),
  };
}

/**
 * Allocates (or gives back) this host's subnet; the lease's backend attributes follow the
 * network config (see `leaseAttrsFor`).
 *
 * @example
 * ```ts
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
  const attrs = leaseAttrsFor(request.attrs, config.backend);
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const { entries } = await store.listLeases();
    const preview = previewAllocation(config, entries, request, store.url);
    if (preview.kind === "renew") {
      const mine = preview.lease;
      if (await store.renew(mine.subnet, mine.attrs.publicIp, ttlSeconds, attrs)) {
        return { lease: { ...mine, attrs, expiresAt: expiry(request) }, reused: true };
      }
      continue; // it expired or was released in between: look again
    }
    const subnet = preview.kind === "previous"
      ? preview.subnet
      : randomFree(config, entries, random);
    if (await store.claim(subnet, attrs, ttlSeconds)) {
      const lease = { subnet, attrs, expiresAt: expiry(request) };
      if (preview.kind === "previous") return { lease, reused: true };
      const { previousUnavailable } = preview;
      return {
        lease,
        reused: false,
        ...(previousUnavailable === undefined ? {} : { previousUnavailable }),
      };
    }
    // another host was faster: look again
  }
  throw new HgError(`gave up allocating a subnet in ${store.url} after ${maxAttempts} lost races`);
}
