/**
 * The shape of a lab: N "hosts" as network namespaces on one to four underlay segments (bridges
 * `ul0`..`ul3` in a namespace of their own, which routes between them), each owning one subnet
 * of the cluster network and one container. Pure: names and addresses only.
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
}

/** One lab host. */
export interface LabHost {
  readonly index: number;
  /** The host's network namespace. */
  readonly netns: string;
  /** The host's address on the underlay, with the underlay's prefix length. */
  readonly address: IpAddress;
  readonly subnet: Prefix;
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
  readonly network: Prefix;
  readonly backend: LabBackend;
  readonly hosts: readonly LabHost[];
}

/** How many segments a lab has and how its hosts reach each other (`lab up --segments --backend`). */
export interface LabShape {
  readonly segments: number;
  readonly backend: LabBackend;
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
 * formatPrefix(labSegment(1).prefix); // "10.0.20.0/22"
 * ```
 */
export function labSegment(k: number): LabSegment {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_LAB_SEGMENTS) {
    throw new InputError(`segment ${k} is not valid: expected 0-${MAX_LAB_SEGMENTS - 1}`);
  }
  const prefix = parsePrefix(`10.0.${12 + 8 * k}.0/22`);
  return { index: k, bridge: `ul${k}`, prefix, router: hostAt(prefix, 2) };
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
 * NAME-hN-c1.
 *
 * @example
 * ```ts
 * labHost("hglab", 4).netns; // "hglab-h4"
 * formatAddress(labHost("hglab", 2, 1).address); // "10.0.20.12"
 * ```
 */
export function labHost(name: string, index: number, segment = 0): LabHost {
  if (!Number.isInteger(index) || index < 1 || index > MAX_HOST_INDEX) {
    throw new InputError(`host number ${index} is not valid: expected 1-${MAX_HOST_INDEX}`);
  }
  return {
    index,
    netns: `${name}-h${index}`,
    address: hostAt(labSegment(segment).prefix, 10 + index),
    subnet: nthSubnet(parsePrefix(LAB_NETWORK), 24, index),
    container: `${name}-h${index}-c1`,
    underlayPort: `ul-h${index}`,
    segment,
  };
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
  const segments = Array.from({ length: count }, (_, k) => labSegment(k));
  return withHosts({
    name,
    underlayNetns: `${name}-ul`,
    segments,
    registryAddress: segments[0].router,
    network: parsePrefix(LAB_NETWORK),
    backend: shape.backend ?? defaultBackend(count),
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
      labHost(topology.name, i, placement.get(i) ?? defaultSegment(i, segments))
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
