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
import { segmentEdgeError, specialAddressError, specialPrefixError } from "../net/special.ts";
import { ipStep, type Step } from "../plan/step.ts";
import { isLocalAddress, type OnLink, onLinkInterface } from "./onlink.ts";
import { notOnLinkMessage, type PeerRequest, peerRouteArgs } from "./request.ts";

/** A peer that will not be routed, and why. */
export interface Rejection {
  readonly request: PeerRequest;
  readonly error: HgError;
}

/** What reconciling produced. */
export interface Reconciliation {
  readonly plan: Step[];
  readonly rejected: Rejection[];
  /** Peers whose route is already right. */
  readonly unchanged: number;
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
  const { subnet, via } = request;
  if (subnet.address.family !== 4) {
    return new InputError(`subnet ${formatPrefix(subnet)} is IPv6: hg peer takes IPv4 subnets`);
  }
  if (via.family !== 4) {
    return new InputError(
      `gateway ${formatAddress(via)} is IPv${via.family} but subnet ${
        formatPrefix(subnet)
      } is IPv4`,
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

/** Where a gateway is reachable from, or why it cannot be used. */
function checkGateway(
  state: HostState,
  via: IpAddress,
  dev: string | undefined,
  containers: readonly ContainerSpace[],
): { onLink: OnLink } | { error: HgError } {
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
  if (!onLink) return { error: new InputError(notOnLinkMessage(via)) };
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
  return { onLink };
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

/**
 * Plans hg's routes for `requests` on a host in state `state`.
 *
 * @example
 * ```ts
 * const { plan, rejected } = reconcilePeers(state, [{ subnet: parsePrefix("1.1.2.0/24"), via: parseAddress("10.0.12.7") }], "sync");
 * ```
 */
export function reconcilePeers(
  state: HostState,
  requests: readonly PeerRequest[],
  mode: ReconcileMode,
  containers: readonly ContainerSpace[] = [],
): Reconciliation {
  const errors = new Map<number, HgError>();
  const onLinks = new Map<number, OnLink>();
  // Thousands of peers share a handful of gateways: check each gateway once.
  const gateways = new Map<string, ReturnType<typeof checkGateway>>();
  requests.forEach((request, i) => {
    const bad = subnetError(request);
    if (bad) {
      errors.set(i, bad);
      return;
    }
    const gatewayKey = `${request.via.value}/${request.dev ?? ""}`;
    let result = gateways.get(gatewayKey);
    if (!result) {
      gateways.set(gatewayKey, result = checkGateway(state, request.via, request.dev, containers));
    }
    if ("error" in result) errors.set(i, result.error);
    else onLinks.set(i, result.onLink);
  });

  const key = (p: Prefix) => formatPrefix(p);
  const keys = requests.map((r) => key(r.subnet));
  const hgByDst = new Map<string, Route>();
  const foreignByDst = new Map<string, Route>();
  for (const route of state.routes) {
    if (route.dst.address.family !== 4) continue;
    (route.protocol === HG_ROUTE_PROTOCOL ? hgByDst : foreignByDst).set(key(route.dst), route);
  }

  // Everything a requested subnet must not overlap: local networks, other routes, other requests.
  // A route to exactly the requested subnet is not an overlap: hg's own is replaced, an admin's refused below.
  const occupants: Occupant[] = [];
  for (const link of state.addresses) {
    for (const a of link.addresses) {
      if (a.address.family === 4) {
        occupants.push({ kind: "address", prefix: a.prefix, where: `address on ${link.ifname}` });
      }
    }
  }
  for (const route of state.routes) {
    if (route.dst.length === 0 || route.dst.address.family !== 4) continue;
    if (route.protocol === HG_ROUTE_PROTOCOL && mode === "sync") continue;
    const owner = route.protocol === HG_ROUTE_PROTOCOL ? "hg peer route" : "route";
    occupants.push({
      kind: "route",
      prefix: route.dst,
      where: `${owner}${route.dev ? ` on ${route.dev}` : ""}`,
    });
  }
  requests.forEach((r, i) => {
    if (!errors.has(i)) {
      occupants.push({
        kind: "request",
        prefix: r.subnet,
        where: `another peer's subnet`,
        request: i,
      });
    }
  });
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

  const plan: Step[] = [];
  const wanted = new Set<string>();
  let unchanged = 0;
  requests.forEach((request, i) => {
    if (errors.has(i)) return;
    const dst = keys[i];
    const foreign = foreignByDst.get(dst);
    if (foreign) {
      errors.set(i, foreignRouteError(request.subnet, foreign));
      return;
    }
    if (wanted.has(dst)) return;
    wanted.add(dst);
    const dev = onLinks.get(i)!.ifname;
    const mine = hgByDst.get(dst);
    if (mine?.gateway && addressEquals(mine.gateway, request.via) && mine.dev === dev) unchanged++;
    else plan.push(ipStep(peerRouteArgs(request.subnet, request.via, dev)));
  });
  if (mode === "sync") {
    for (const [dst] of hgByDst) {
      if (!wanted.has(dst)) {
        plan.push(ipStep(["route", "del", dst, "proto", String(HG_ROUTE_PROTOCOL)]));
      }
    }
  }
  const rejected = [...errors].sort(([a], [b]) => a - b).map(([i, error]) => ({
    request: requests[i],
    error,
  }));
  return { plan, rejected, unchanged };
}
