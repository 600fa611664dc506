/**
 * The route reconciler: given the peers a host should route to, the plan that makes hg's routes
 * match, and the peers it refused with the reason. Used for one `hg peer add` and for whole
 * registries alike; cost grows with the number of routes, never with its square.
 *
 * @module
 */
import { EnvironmentError, HgError, InputError } from "../errors.ts";
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL, protocolName } from "../ip/protocol.ts";
import type { Route } from "../ip/route.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { overlappingPairs } from "../net/interval.ts";
import { formatPrefix, type Prefix, prefixContains, prefixEquals } from "../net/prefix.ts";
import {
  isIpv6LinkLocal,
  isOrdinaryV4,
  segmentEdgeError,
  specialAddressError,
  specialPrefixError,
} from "../net/special.ts";
import { ipStep, type Step } from "../plan/step.ts";
import {
  findVxlanDevice,
  type LocalVtep,
  planVxlanDevice,
  planVxlanRemoval,
} from "../vxlan/device.ts";
import { planContainerMtu } from "../vxlan/mtu.ts";
import {
  planVxlanEntries,
  planVxlanEntryRemoval,
  type VxlanPeer,
  vxlanRouteArgs,
} from "../vxlan/peer.ts";
import { isLocalAddress, type OnLink, onLinkInterface } from "./onlink.ts";
import { onLinkReason, type PeerMode, vxlanReason } from "./path.ts";
import { notOnLinkMessage, type PeerRequest, peerRouteArgsOf } from "./request.ts";

/** A peer that will not be routed, and why. */
export interface Rejection {
  readonly request: PeerRequest;
  readonly error: HgError;
}

/** A peer that is routed, which way, and why. */
export interface RoutedPeer {
  readonly request: PeerRequest;
  readonly mode: PeerMode;
  readonly reason: string;
  /** The subnet and the gateway as the plan writes them (formatted once, a sync shows them). */
  readonly subnetText: string;
  readonly viaText: string;
}

/** What reconciling produced. */
export interface Reconciliation {
  readonly plan: Step[];
  readonly rejected: Rejection[];
  /** Peers whose route (and VXLAN entries) are already right. */
  readonly unchanged: number;
  /** The peers routed after the plan, in request order. */
  readonly routed: RoutedPeer[];
}

/**
 * `add`: install or fix the given peers' routes, leave hg's other routes alone.
 * `sync`: also remove hg's routes to subnets not among the given peers.
 */
export type ReconcileMode = "add" | "sync";

/** A prefix taking part in the overlap search, with what it is. */
interface Occupant {
  readonly kind: "address" | "route" | "request";
  readonly prefix: Prefix;
  readonly where: string;
  /** Index into the requests, for a requested subnet. */
  readonly request?: number;
}

/** Checks of the subnet and of how it pairs with its gateway. */
function subnetError(request: PeerRequest): HgError | undefined {
  // The common request, an ordinary IPv4 subnet via an IPv4 gateway, passes every check below:
  // told in a few comparisons that the JIT inlines into the loop over thousands of requests.
  if (request.via.family === 4 && isOrdinaryV4(request.subnet)) return undefined;
  return subnetProblem(request);
}

/** {@link subnetError}'s checks, one by one. */
function subnetProblem(request: PeerRequest): HgError | undefined {
  const { subnet, via } = request;
  if (via.family !== subnet.address.family) {
    return new InputError(
      `gateway ${formatAddress(via)} is IPv${via.family} but subnet ${
        formatPrefix(subnet)
      } is IPv${subnet.address.family}: an IPv${subnet.address.family} subnet goes via the peer's IPv${subnet.address.family} address`,
    );
  }
  if (subnet.address.family === 6 && request.vtepMac !== undefined) {
    return new InputError(
      `subnet ${formatPrefix(subnet)} is IPv6: hg's VXLAN carries IPv4 only (leave out --vtep-mac)`,
    );
  }
  if (subnet.length === 0) {
    return new InputError(
      `subnet ${formatPrefix(subnet)} is the whole address space: give a peer's subnet`,
    );
  }
  return specialPrefixError("subnet", subnet);
}

/**
 * Address space of this host's containers (its bridge's subnet, the cluster network): a gateway
 * there is a container or a host's bridge, never a peer host on the shared segment.
 */
export interface ContainerSpace {
  readonly prefix: Prefix;
  /** What it is, after "inside": "the container subnet of bridge cni0". */
  readonly what: string;
}

/**
 * Why `address` can never carry a peer's subnet, whatever the host (undefined: it can): not a
 * unicast address, or inside container address space. `role` names it ("gateway",
 * "--public-ip"): `hg subnet alloc` refuses what `hg peer sync` would refuse.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * gatewayAddressError("--public-ip", parseAddress("1.1.1.5"), [{ prefix: parsePrefix("1.1.0.0/16"), what: "the cluster network" }]);
 * // InputError: --public-ip 1.1.1.5 is inside the cluster network (1.1.0.0/16), where containers are, not hosts
 * ```
 */
export function gatewayAddressError(
  role: string,
  address: IpAddress,
  containers: readonly ContainerSpace[],
): InputError | undefined {
  const special = specialAddressError(role, address);
  if (special) return special;
  const inside = containers.find((c) => prefixContains(c.prefix, address));
  if (!inside) return undefined;
  return new InputError(
    `${role} ${formatAddress(address)} is inside ${inside.what} (${
      formatPrefix(inside.prefix)
    }), where containers are, not hosts`,
  );
}

/** How a peer is reached, and why, in words. */
type PeerPath =
  | {
    readonly mode: "host-gw";
    readonly onLink: OnLink;
    readonly reason: string;
    readonly viaText: string;
  }
  | { readonly mode: "vxlan"; readonly reason: string; readonly viaText: string };

/** This host's VXLAN end and how it chooses, when the network uses VXLAN. */
export interface VxlanContext {
  readonly vtep: LocalVtep;
  /** Plain routes to on-link peers (flannel's DirectRouting); else every VXLAN peer tunnels. */
  readonly directRouting: boolean;
  /** The bridge whose containers get the VXLAN MTU once a peer is reached over VXLAN. */
  readonly bridge: string;
  /** Host-side veths of the containers whose namespace exists (see `presentContainers`). */
  readonly present: ReadonlySet<string>;
}

/** Which way a peer goes (host-gw or VXLAN), or why it cannot be reached. */
function choosePath(
  state: HostState,
  request: PeerRequest,
  containers: readonly ContainerSpace[],
  vxlan: VxlanContext | undefined,
): PeerPath | { error: HgError } {
  const { via, dev } = request;
  const unusable = gatewayAddressError("gateway", via, containers);
  if (unusable) return { error: unusable };
  if (isLocalAddress(state, via)) {
    return {
      error: new InputError(
        `gateway ${formatAddress(via)} is this host's own address: give the peer host's address`,
      ),
    };
  }
  const onLink = onLinkInterface(state, via);
  if (vxlan && request.vtepMac !== undefined && (!onLink || !vxlan.directRouting)) {
    return {
      mode: "vxlan",
      reason: vxlanReason(via, vxlan.vtep.device, onLink),
      viaText: formatAddress(via),
    };
  }
  if (!onLink) {
    const noVtep = vxlan
      ? `; nor over ${vxlan.vtep.device} without its VTEP MAC (a vxlan lease's ` +
        `BackendData.VtepMAC, or --vtep-mac)`
      : "";
    return { error: new InputError(notOnLinkMessage(via) + noVtep) };
  }
  // The kernel says only "Nexthop has invalid gateway" for a gateway behind a link that is down.
  if (state.addresses.find((l) => l.ifname === onLink.ifname)?.up === false) {
    return {
      error: new EnvironmentError(
        `gateway ${formatAddress(via)} is on ${onLink.ifname}, which is down: ` +
          `bring it up first (ip link set ${onLink.ifname} up)`,
      ),
    };
  }
  const edge = segmentEdgeError("gateway", via, onLink.prefix, onLink.ifname);
  if (edge) return { error: edge };
  if (dev !== undefined && dev !== onLink.ifname) {
    return {
      error: new InputError(
        `gateway ${formatAddress(via)} is on ${onLink.ifname} (${
          formatPrefix(onLink.prefix)
        }), not on ${dev}`,
      ),
    };
  }
  return {
    mode: "host-gw",
    onLink,
    reason: onLinkReason(via, onLink),
    viaText: formatAddress(via),
  };
}

/** Where a requested subnet is, for the overlap message. */
const ANOTHER_PEER = "another peer's subnet";

/**
 * A destination's key in the reconciler's maps: an IPv4 prefix's is a number (its address and
 * length, as distinct as its text), an IPv6 one's its text.
 */
function destinationKey(p: Prefix): number | string {
  return p.address.family === 4 ? Number(p.address.value) * 64 + p.length : formatPrefix(p);
}

function foreignRouteError(subnet: Prefix, route: Route): HgError {
  return new HgError(
    `a route to ${formatPrefix(subnet)} that hg did not make exists (proto ${
      protocolName(route.protocol)
    }` +
      `${route.gateway ? ` via ${formatAddress(route.gateway)}` : ""}${
        route.dev ? ` dev ${route.dev}` : ""
      }): ` +
      `hg will not replace it; remove it with "ip route del ${
        formatPrefix(subnet)
      }" if it should go`,
  );
}

/** hg's routes and the others, by destination (see {@link destinationKey}). */
function routesByDestination(state: HostState) {
  const hgByDst = new Map<number | string, Route>();
  const foreignByDst = new Map<number | string, Route>();
  for (const route of state.routes) {
    // destinationKey's number written out for IPv4, as for the requests: a host has thousands.
    const { address, length } = route.dst;
    (route.protocol === HG_ROUTE_PROTOCOL ? hgByDst : foreignByDst).set(
      address.family === 4 ? Number(address.value) * 64 + length : destinationKey(route.dst),
      route,
    );
  }
  return { hgByDst, foreignByDst };
}

/**
 * What is on this host that a requested subnet must not overlap: local networks and routes. A
 * route to exactly the requested subnet is not an overlap: hg's own is replaced, an admin's
 * refused later; a sync replaces all of hg's.
 */
function hostOccupants(state: HostState, mode: ReconcileMode): Occupant[] {
  const occupants: Occupant[] = [];
  // hg's VXLAN device holds this host's subnet's network address: its own, no peer's.
  const ownDevice = findVxlanDevice(state)?.ifname;
  for (const link of state.addresses) {
    if (link.ifname === ownDevice) continue;
    for (const a of link.addresses) {
      // Link-local addresses are on every IPv6 link and no peer's subnet may be there anyway.
      if (isIpv6LinkLocal(a.prefix)) continue;
      occupants.push({ kind: "address", prefix: a.prefix, where: `address on ${link.ifname}` });
    }
  }
  for (const route of state.routes) {
    // A sync's own routes first: they are thousands, and none is an occupant.
    if (route.protocol === HG_ROUTE_PROTOCOL && mode === "sync") continue;
    if (route.dst.length === 0 || isIpv6LinkLocal(route.dst)) continue;
    const owner = route.protocol === HG_ROUTE_PROTOCOL ? "hg peer route" : "route";
    occupants.push({
      kind: "route",
      prefix: route.dst,
      where: `${owner}${route.dev ? ` on ${route.dev}` : ""}`,
    });
  }
  return occupants;
}

/**
 * Checks each request's subnet and gateway: sets `errors` for those that fail; for the others
 * tells which way they go and their destination key, and adds their subnet to `occupants`.
 */
function checkRequests(
  state: HostState,
  requests: readonly PeerRequest[],
  containers: readonly ContainerSpace[],
  vxlan: VxlanContext | undefined,
  errors: Map<number, HgError>,
  occupants: Occupant[],
): { paths: (PeerPath | undefined)[]; keys: (number | string)[] } {
  const paths: (PeerPath | undefined)[] = new Array(requests.length);
  // Routes and requests meet by destination (see destinationKey): no prefix formatted to look up.
  const keys: (number | string)[] = new Array(requests.length);
  // Thousands of peers share a handful of gateways: check each gateway once.
  const gateways = new Map<number | string, ReturnType<typeof choosePath>>();
  for (let i = 0; i < requests.length; i++) {
    const request = requests[i];
    const bad = subnetError(request);
    if (bad) {
      errors.set(i, bad);
      continue;
    }
    // The common gateway (IPv4, no device or VTEP MAC given) is keyed by its number.
    const gatewayKey = request.via.family === 4 && request.dev === undefined && !request.vtepMac
      ? Number(request.via.value)
      : `${request.via.value}/${request.dev ?? ""}/${request.vtepMac ? 1 : 0}`;
    let result = gateways.get(gatewayKey);
    if (!result) {
      gateways.set(gatewayKey, result = choosePath(state, request, containers, vxlan));
    }
    if ("error" in result) {
      errors.set(i, result.error);
      continue;
    }
    paths[i] = result;
    // destinationKey's number, written out for the common IPv4 subnet: a call per request
    // would be one more function hot enough for the JIT's slowest tier.
    const { address, length } = request.subnet;
    keys[i] = address.family === 4
      ? Number(address.value) * 64 + length
      : destinationKey(request.subnet);
    occupants.push({ kind: "request", prefix: request.subnet, where: ANOTHER_PEER, request: i });
  }
  return { paths, keys };
}

/** Sets `errors` for each request whose subnet overlaps another occupant's. */
function refuseOverlaps(
  occupants: readonly Occupant[],
  requests: readonly PeerRequest[],
  errors: Map<number, HgError>,
): void {
  const sameSubnet = (a: Occupant, b: Occupant) => prefixEquals(a.prefix, b.prefix);
  for (const [a, b] of overlappingPairs(occupants, (o) => o.prefix)) {
    for (const [mine, other] of [[a, b], [b, a]] as const) {
      if (mine.request === undefined || errors.has(mine.request)) continue;
      if (sameSubnet(mine, other)) {
        if (other.kind === "route") continue;
        // The same peer listed twice is one peer.
        if (
          other.request !== undefined &&
          addressEquals(requests[other.request].via, requests[mine.request].via)
        ) continue;
      }
      errors.set(
        mine.request,
        new InputError(
          `subnet ${formatPrefix(mine.prefix)} overlaps ${
            formatPrefix(other.prefix)
          } (${other.where}) on this host`,
        ),
      );
    }
  }
}

/** What {@link planRouteSteps} works from. */
interface RouteTargets {
  readonly requests: readonly PeerRequest[];
  readonly errors: Map<number, HgError>;
  readonly paths: readonly (PeerPath | undefined)[];
  readonly keys: readonly (number | string)[];
  readonly hgByDst: ReadonlyMap<number | string, Route>;
  readonly foreignByDst: ReadonlyMap<number | string, Route>;
  readonly goneWithDevice: (route: Route) => boolean;
  readonly tunnel: string | undefined;
}

/**
 * The route steps of the requests that passed the checks, appended to `plan`; sets `errors`
 * for a subnet an admin's route holds and a VTEP MAC two peers claim.
 */
function planRouteSteps(t: RouteTargets, plan: Step[]) {
  const { requests, errors, paths, keys, hgByDst, foreignByDst, goneWithDevice, tunnel } = t;
  const wanted = new Set<number | string>();
  const vxlanPeers: VxlanPeer[] = [];
  const macs = new Map<string, IpAddress>();
  const routed: RoutedPeer[] = [];
  // Peers whose route is right: host-gw ones are unchanged, VXLAN ones once their entries are.
  let directRight = 0;
  const tunnelledRight: RoutedPeer[] = [];
  for (let i = 0; i < requests.length; i++) {
    if (errors.has(i)) continue;
    const request = requests[i];
    const dst = keys[i];
    const foreign = foreignByDst.get(dst);
    if (foreign) {
      errors.set(i, foreignRouteError(request.subnet, foreign));
      continue;
    }
    if (wanted.has(dst)) continue;
    const path = paths[i]!;
    if (path.mode === "vxlan") {
      const mac = request.vtepMac!;
      const holder = macs.get(mac);
      if (holder && !addressEquals(holder, request.via)) {
        errors.set(
          i,
          new InputError(
            `VTEP MAC ${mac} of ${formatAddress(request.via)} is also ${
              formatAddress(holder)
            }'s: ` +
              `each host's VTEP needs its own MAC`,
          ),
        );
        continue;
      }
      macs.set(mac, request.via);
    }
    wanted.add(dst);
    const found = hgByDst.get(dst);
    const mine = found && !goneWithDevice(found) ? found : undefined;
    const subnetText = formatPrefix(request.subnet);
    const peer: RoutedPeer = {
      request,
      mode: path.mode,
      reason: path.reason,
      subnetText,
      viaText: path.viaText,
    };
    routed.push(peer);
    if (path.mode === "host-gw") {
      const dev = path.onLink.ifname;
      const routeRight = mine?.gateway !== undefined && addressEquals(mine.gateway, request.via) &&
        mine.dev === dev;
      if (routeRight) directRight++;
      // The step written out (ipStep's): one call fewer per route of a sync's thousands.
      else plan.push({ kind: "ip", args: peerRouteArgsOf(subnetText, path.viaText, dev) });
    } else {
      const routeRight = mine?.gateway !== undefined &&
        addressEquals(mine.gateway, request.subnet.address) && mine.dev === tunnel &&
        mine.flags.includes("onlink");
      if (routeRight) tunnelledRight.push(peer);
      else plan.push(ipStep(vxlanRouteArgs(request.subnet, tunnel!)));
      vxlanPeers.push({ subnet: request.subnet, publicIp: request.via, mac: request.vtepMac! });
    }
  }
  return { wanted, routed, vxlanPeers, directRight, tunnelledRight };
}

/**
 * Plans hg's routes for `requests` on a host in state `state`. With `vxlan`, hg's VXLAN device
 * is made right and peers with a VTEP MAC that are off-link (or all of them, without
 * DirectRouting) go through it; without it, a sync removes hg's VXLAN device unless
 * `keepVxlanDevice` (the host's own VTEP could not be told this time).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * const { plan, rejected } = reconcilePeers(state, [{ subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") }], "sync");
 * ```
 */
export function reconcilePeers(
  state: HostState,
  requests: readonly PeerRequest[],
  mode: ReconcileMode,
  containers: readonly ContainerSpace[] = [],
  vxlan?: VxlanContext,
  keepVxlanDevice = false,
): Reconciliation {
  const errors = new Map<number, HgError>();
  const { hgByDst, foreignByDst } = routesByDestination(state);
  // Everything a requested subnet must not overlap: local networks, other routes, other requests.
  const occupants = hostOccupants(state, mode);
  const { paths, keys } = checkRequests(state, requests, containers, vxlan, errors, occupants);
  refuseOverlaps(occupants, requests, errors);

  // The VXLAN device is planned first: routes and entries go on it. A sync without VXLAN
  // removes hg's device, and with it everything on it.
  const device = vxlan
    ? planVxlanDevice(state, vxlan.vtep)
    : mode === "sync" && !keepVxlanDevice
    ? planVxlanRemoval(state)
    : undefined;
  const tunnel = vxlan?.vtep.device;
  // Routes on a device the plan deletes go with it: never deleted again after it.
  const deletedDevices = new Set(device?.deleted ?? []);
  const goneWithDevice = (route: Route) => route.dev !== undefined && deletedDevices.has(route.dev);

  const plan: Step[] = [...device?.steps ?? []];
  const { wanted, routed, vxlanPeers, directRight, tunnelledRight } = planRouteSteps({
    requests,
    errors,
    paths,
    keys,
    hgByDst,
    foreignByDst,
    goneWithDevice,
    tunnel,
  }, plan);
  if (mode === "sync") {
    for (const [dst, route] of hgByDst) {
      if (!wanted.has(dst) && !goneWithDevice(route)) {
        plan.push(
          ipStep(["route", "del", formatPrefix(route.dst), "proto", String(HG_ROUTE_PROTOCOL)]),
        );
      }
    }
  }
  if (mode === "add") {
    // A peer now reached host-gw leaves no VXLAN entries behind (sync removes every unwanted one).
    const direct = routed.filter((r) => r.mode === "host-gw").map((r) => r.request.subnet);
    plan.push(...planVxlanEntryRemoval(state, direct));
  }
  let entriesRight: ReadonlySet<string> = new Set();
  if (vxlan) {
    const entries = planVxlanEntries(state, tunnel!, vxlanPeers, {
      fresh: device!.fresh,
      sync: mode === "sync",
    });
    plan.push(...entries.steps);
    entriesRight = entries.right;
    if (vxlanPeers.length > 0) {
      plan.push(...planContainerMtu(state, vxlan.bridge, vxlan.vtep.mtu, vxlan.present));
    }
  }
  const unchanged = directRight +
    tunnelledRight.filter((p) => entriesRight.has(p.subnetText)).length;
  const rejected = [...errors].sort(([a], [b]) => a - b).map(([i, error]) => ({
    request: requests[i],
    error,
  }));
  return { plan, rejected, unchanged, routed };
}
