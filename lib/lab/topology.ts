/**
 * The shape of a lab: N "hosts" as network namespaces on one to four underlay segments (bridges
 * `ul0`..`ul3` in a namespace of their own, which routes between them), each owning one subnet
 * of the cluster network (IPv4, IPv6, or one of each) and one container. Pure: names and
 * addresses only.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import type { IpAddress } from "../net/address.ts";
import { hostAt, nthSubnet, parsePrefix, type Prefix } from "../net/prefix.ts";

/** The most hosts a lab may have. */
export const MAX_LAB_NODES = 50;

/**
 * The highest host number: host N's subnet is 1.1.N.0/24, so numbers run out at 254 (hosts
 * removed from a lab never give their number back, see `lab add-node`).
 */
export const MAX_HOST_INDEX = 254;

/** The most underlay segments a lab may have. */
export const MAX_LAB_SEGMENTS = 4;

/** The default cluster network of a lab (the seed's). */
export const LAB_NETWORK = "1.1.0.0/16";
/** The first segment's prefix (the only one of a one-segment lab). */
export const LAB_UNDERLAY = "10.0.12.0/22";
/**
 * The cluster's IPv6 network of a lab with IPv6: /64 subnets, the n-th paired with 1.1.n.0/24
 * (host N's is fd00:1:0:N::/64, N in hex) as the registry pairs a dual-stack lease's subnets.
 */
export const LAB_IPV6_NETWORK = "fd00:1::/56";
/** The first segment's IPv6 prefix, beside {@link LAB_UNDERLAY}. */
export const LAB_IPV6_UNDERLAY = "fd00:12::/64";

/**
 * The address families of a lab's container network: IPv4 (the seed's), IPv6 only (`lab up
 * --ipv6`), or both (`--dual-stack`). The underlay keeps its IPv4 addresses in every lab (the
 * lab's etcd listens on one); a lab with IPv6 gives the uplinks an IPv6 address beside them.
 */
export type LabFamily = "ipv4" | "ipv6" | "dual-stack";

/**
 * How hosts reach each other's subnets: host-gw routes only (a peer on another segment cannot be
 * reached), or VXLAN with DirectRouting (plain routes on a segment, VXLAN across segments).
 */
export type LabBackend = "host-gw" | "vxlan";

/** One underlay segment: a bridge in the underlay namespace, which is the segments' router. */
export interface LabSegment {
  /** 0-based: segment k is the bridge `ul{k}`. */
  readonly index: number;
  readonly bridge: string;
  /** 10.0.(12+8k).0/22. */
  readonly prefix: Prefix;
  /** The underlay namespace's address on it (host 2): the hosts' gateway to other segments. */
  readonly router: IpAddress;
  /** fd00:(12+8k)::/64, beside `prefix` in a lab with IPv6. */
  readonly ipv6Prefix: Prefix;
  /** The underlay namespace's IPv6 address on it (fd00:12::2 on segment 0). */
  readonly ipv6Router: IpAddress;
}

/** One lab host. */
export interface LabHost {
  readonly index: number;
  /** The host's network namespace. */
  readonly netns: string;
  /** The host's IPv4 address on the underlay (every lab's uplinks have one). */
  readonly address: IpAddress;
  /** Its IPv6 address on the underlay, in a lab with IPv6: fd00:12::1N beside 10.0.12.1N. */
  readonly ipv6Address?: IpAddress;
  /** The address its lease publishes, of the subnet's family: other hosts route through it. */
  readonly publicIp: IpAddress;
  /** Its subnet: IPv4, or IPv6 in an IPv6-only lab. */
  readonly subnet: Prefix;
  /** A dual-stack host's IPv6 subnet (routed through `ipv6Address`). */
  readonly ipv6Subnet?: Prefix;
  /** The one container on this host. */
  readonly container: string;
  /** The underlay-side end of the host's uplink veth. */
  readonly underlayPort: string;
  /** The segment its uplink is on (0-based). */
  readonly segment: number;
}

/** A whole lab. */
export interface LabTopology {
  readonly name: string;
  /** The underlay namespace: every segment's bridge, routing between them. */
  readonly underlayNetns: string;
  readonly segments: readonly LabSegment[];
  /** The underlay namespace's address on segment 0: where the lab's etcd listens. */
  readonly registryAddress: IpAddress;
  /** The cluster network: IPv4, or IPv6 in an IPv6-only lab. */
  readonly network: Prefix;
  /** A dual-stack lab's IPv6 network. */
  readonly ipv6Network?: Prefix;
  readonly family: LabFamily;
  readonly backend: LabBackend;
  readonly hosts: readonly LabHost[];
}

/**
 * How many segments a lab has, how its hosts reach each other and which address families its
 * containers have (`lab up --segments --backend --ipv6 --dual-stack`).
 */
export interface LabShape {
  readonly segments: number;
  readonly backend: LabBackend;
  readonly family: LabFamily;
}

/** Checks a lab name: it prefixes every namespace the lab makes. */
export function validateLabName(name: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) {
    throw new InputError(
      `lab name ${
        JSON.stringify(name)
      } is not valid: 1-12 lowercase letters and digits, starting with a letter`,
    );
  }
  return name;
}

/**
 * Checks a segment count (`lab up --segments`).
 *
 * @example
 * ```ts
 * validateSegments(2); // 2
 * validateSegments(5); // throws InputError
 * ```
 */
export function validateSegments(segments: number): number {
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_LAB_SEGMENTS) {
    throw new InputError(
      `--segments ${segments} is not valid: expected a whole number 1-${MAX_LAB_SEGMENTS}`,
    );
  }
  return segments;
}

/**
 * Segment `k` (0-based): the bridge `ul{k}` with prefix 10.0.(12+8k).0/22, the underlay
 * namespace at host 2 of it (10.0.12.2 on segment 0, where the lab's etcd listens).
 *
 * @example
 * ```ts
 * import { formatPrefix } from "../net/prefix.ts";
 * formatPrefix(labSegment(1).prefix); // "10.0.20.0/22"
 * ```
 */
export function labSegment(k: number): LabSegment {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_LAB_SEGMENTS) {
    throw new InputError(`segment ${k} is not valid: expected 0-${MAX_LAB_SEGMENTS - 1}`);
  }
  const prefix = parsePrefix(`10.0.${12 + 8 * k}.0/22`);
  const ipv6Prefix = parsePrefix(`fd00:${12 + 8 * k}::/64`);
  return {
    index: k,
    bridge: `ul${k}`,
    prefix,
    router: hostAt(prefix, 2),
    ipv6Prefix,
    ipv6Router: hostAt(ipv6Prefix, 2),
  };
}

/**
 * The lab's flag for `family` (`--ipv6`, `--dual-stack`), for messages.
 *
 * @example
 * ```ts
 * familyFlag("dual-stack"); // "--dual-stack"
 * ```
 */
export function familyFlag(family: LabFamily): string {
  return family === "ipv4" ? "IPv4" : `--${family}`;
}

/**
 * Refuses a shape the lab cannot build with IPv6: hg's VXLAN carries IPv4 only, and between
 * segments IPv6 would need the underlay namespace to route IPv6 (host-gw refuses off-link
 * peers anyway, so no IPv6 pair across segments could be reached).
 *
 * @example
 * ```ts
 * validateShape({ segments: 1, backend: "host-gw", family: "ipv6" }); // fine
 * validateShape({ segments: 2, backend: "vxlan", family: "dual-stack" }); // throws InputError
 * ```
 */
export function validateShape(shape: LabShape): LabShape {
  if (shape.family === "ipv4") return shape;
  const flag = familyFlag(shape.family);
  if (shape.segments > 1) {
    throw new InputError(
      `${flag} needs one segment, not --segments ${shape.segments}: the lab routes IPv6 only ` +
        `on one segment (host-gw needs its peers on-link)`,
    );
  }
  if (shape.backend === "vxlan") {
    throw new InputError(
      `${flag} needs the host-gw backend, not --backend vxlan: hg's VXLAN carries IPv4 only`,
    );
  }
  return shape;
}

/**
 * The segment a host of a lab with `segments` segments starts on: host N on (N-1) mod S, so
 * that consecutive hosts alternate.
 *
 * @example
 * ```ts
 * defaultSegment(3, 2); // 0
 * defaultSegment(4, 2); // 1
 * ```
 */
export function defaultSegment(index: number, segments: number): number {
  return (index - 1) % segments;
}

/**
 * The backend a lab gets unless `lab up --backend` says: host-gw on one segment, VXLAN (with
 * DirectRouting) when hosts are spread over several, which host-gw alone cannot cross.
 */
export function defaultBackend(segments: number): LabBackend {
  return segments > 1 ? "vxlan" : "host-gw";
}

/**
 * Host number `index` of the lab `name` on segment `segment`: namespace NAME-hN at host 10+N of
 * the segment's prefix (10.0.12.(10+N)/22 on segment 0) with subnet 1.1.N.0/24 and container
 * NAME-hN-c1. With IPv6 (`family`) its uplink also has fd00:12::1N (the same digits as the
 * IPv4 address's last byte) and its IPv6 subnet is fd00:1:0:N::/64 (N in hex, the registry's
 * pair of 1.1.N.0/24); an IPv6-only host routes and publishes IPv6 only.
 *
 * @example
 * ```ts
 * import { formatAddress } from "../net/address.ts";
 * labHost("hglab", 4).netns; // "hglab-h4"
 * formatAddress(labHost("hglab", 2, 1).address); // "10.0.20.12"
 * formatAddress(labHost("hglab", 2, 0, "ipv6").publicIp); // "fd00:12::12"
 * ```
 */
export function labHost(
  name: string,
  index: number,
  segment = 0,
  family: LabFamily = "ipv4",
): LabHost {
  if (!Number.isInteger(index) || index < 1 || index > MAX_HOST_INDEX) {
    throw new InputError(`host number ${index} is not valid: expected 1-${MAX_HOST_INDEX}`);
  }
  const { prefix, ipv6Prefix } = labSegment(segment);
  const address = hostAt(prefix, 10 + index);
  const subnet = nthSubnet(parsePrefix(LAB_NETWORK), 24, index);
  const common = {
    index,
    netns: `${name}-h${index}`,
    address,
    container: `${name}-h${index}-c1`,
    underlayPort: `ul-h${index}`,
    segment,
  };
  if (family === "ipv4") return { ...common, publicIp: address, subnet };
  // Read as hex, the decimal digits of 10+N: host 1 is fd00:12::11, as it is 10.0.12.11.
  const ipv6Address = hostAt(ipv6Prefix, Number.parseInt(String(10 + index), 16));
  const ipv6Subnet = nthSubnet(parsePrefix(LAB_IPV6_NETWORK), 64, index);
  return family === "ipv6"
    ? { ...common, ipv6Address, publicIp: ipv6Address, subnet: ipv6Subnet }
    : { ...common, ipv6Address, publicIp: address, subnet, ipv6Subnet };
}

/**
 * The lab `name` with `nodes` hosts, numbered 1 to `nodes`, spread over `shape.segments`
 * segments (default 1; see {@link defaultSegment}), reaching each other with `shape.backend`
 * (default {@link defaultBackend}).
 *
 * @example
 * ```ts
 * labTopology("hglab", 2).hosts[1].subnet; // 1.1.2.0/24
 * labTopology("hglab", 4, { segments: 2 }).hosts.map((h) => h.segment); // [0, 1, 0, 1]
 * ```
 */
export function labTopology(
  name: string,
  nodes: number,
  shape: Partial<LabShape> = {},
): LabTopology {
  validateLabName(name);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_LAB_NODES) {
    throw new InputError(
      `--nodes ${nodes} is not valid: expected a whole number 1-${MAX_LAB_NODES}`,
    );
  }
  const count = validateSegments(shape.segments ?? 1);
  const { backend, family } = validateShape({
    segments: count,
    backend: shape.backend ?? defaultBackend(count),
    family: shape.family ?? "ipv4",
  });
  const segments = Array.from({ length: count }, (_, k) => labSegment(k));
  return withHosts({
    name,
    underlayNetns: `${name}-ul`,
    segments,
    registryAddress: segments[0].router,
    network: parsePrefix(family === "ipv6" ? LAB_IPV6_NETWORK : LAB_NETWORK),
    ...(family === "dual-stack" ? { ipv6Network: parsePrefix(LAB_IPV6_NETWORK) } : {}),
    family,
    backend,
    hosts: [],
  }, Array.from({ length: nodes }, (_, i) => i + 1));
}

/**
 * The same lab with exactly the hosts numbered `indexes` (a lab whose hosts came and went), each
 * on the segment `placement` says (where its uplink is now: hosts move), else its default one.
 *
 * @example
 * ```ts
 * withHosts(labTopology("hglab", 1), [1, 3, 4]).hosts.map((h) => h.netns); // hglab-h1, -h3, -h4
 * withHosts(labTopology("hglab", 1, { segments: 2 }), [1], new Map([[1, 1]])).hosts[0].segment; // 1
 * ```
 */
export function withHosts(
  topology: LabTopology,
  indexes: readonly number[],
  placement: ReadonlyMap<number, number> = new Map(),
): LabTopology {
  const segments = topology.segments.length;
  return {
    ...topology,
    hosts: indexes.map((i) =>
      labHost(topology.name, i, placement.get(i) ?? defaultSegment(i, segments), topology.family)
    ),
  };
}

/**
 * Whether `backend` routes between hosts on segments `a` and `b` (undefined: segment 0): always
 * on one segment; across segments only VXLAN (host-gw needs the peer's address on-link, and
 * refuses it).
 *
 * @example
 * ```ts
 * reaches("host-gw", 0, 1); // false
 * reaches("vxlan", 0, 1); // true
 * ```
 */
export function reaches(
  backend: LabBackend,
  a: number | undefined,
  b: number | undefined,
): boolean {
  return (a ?? 0) === (b ?? 0) || backend === "vxlan";
}

/**
 * Whether `host` has a route to `peer`'s subnet in this lab (see {@link reaches}).
 *
 * @example
 * ```ts
 * const lab = labTopology("hglab", 2, { segments: 2, backend: "host-gw" });
 * routable(lab, lab.hosts[0], lab.hosts[1]); // false
 * ```
 */
export function routable(topology: LabTopology, host: LabHost, peer: LabHost): boolean {
  return reaches(topology.backend, host.segment, peer.segment);
}

/** The address a host's container gets: the second host address of its subnet. */
export function containerAddress(host: LabHost): IpAddress {
  return hostAt(host.subnet, 2);
}

/** Whether a namespace name belongs to the lab `name`. */
export function belongsToLab(name: string, netns: string): boolean {
  return netns === `${name}-ul` || new RegExp(`^${name}-h\\d+(-c\\d+)?$`).test(netns);
}
