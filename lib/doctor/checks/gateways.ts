/**
 * The gateways of the routes on the containers' way to other hosts, hg's and anyone's: a
 * gateway on no directly connected network (host-gw needs one L2 segment), one that is this
 * host's own address (the kernel then asks for each destination itself, and nobody answers),
 * and one whose neighbour entry says it did not answer ARP.
 *
 * @module
 */
import { HG_ROUTE_PROTOCOL } from "../../ip/protocol.ts";
import { formatRoute, type Route } from "../../ip/route.ts";
import { addressEquals, formatAddress, type IpAddress } from "../../net/address.ts";
import { formatPrefix, prefixContains, prefixCovers } from "../../net/prefix.ts";
import { isLocalAddress, onLinkInterface } from "../../peers/onlink.ts";
import { type DoctorContext, leaseFor, leaseOfSubnet, selfAddress } from "../context.ts";
import type { Finding } from "../finding.ts";
import { cappedMap } from "./evidence.ts";
import { vxlanFacts } from "../vxlan_facts.ts";
import { neighboursAt } from "../neighbour_index.ts";
import { prefixKey, routesByPrefix, routeViaRouterTo } from "../route_index.ts";
import type { Neighbour } from "../../ip/neigh.ts";
import { firstLeaseHolding } from "../lease_index.ts";

const peerAdd = (subnet: string, via: string) => `hg peer add ${subnet} --via ${via}`;

/**
 * A gateway that is on no directly connected network: host-gw needs one L2 segment. When the
 * subnet is already routed through the router that reaches the gateway, that works (while the
 * router knows the subnet) and is only a warning.
 */
export function offLinkFinding(
  ctx: DoctorContext,
  subnet: string,
  gateway: IpAddress,
  evidence: string,
): Finding {
  const host = ctx.obs.host;
  const via = routeViaRouterTo(host.routes, gateway);
  const router = via?.gateway ? formatAddress(via.gateway) : undefined;
  const current = routesByPrefix(host.routes).get(subnet)?.[0];
  const routed = router !== undefined && current?.gateway !== undefined &&
    formatAddress(current.gateway) === router;
  const gw = formatAddress(gateway);
  const ours = ctx.subnet ? formatPrefix(ctx.subnet) : "THIS-HOST'S-SUBNET";
  const self = selfAddress(ctx);
  const selfText = self ? formatAddress(self) : "THIS-HOST'S-ADDRESS";
  return {
    id: "gateway-off-link",
    severity: routed ? "warning" : "error",
    stage: "gateway",
    summary: `${gw}, the host with ${subnet}, is not on this host's segment${
      router ? `: it is reached through the router ${router}` : ""
    }${routed ? `, and ${subnet} is routed through it (not host-gw)` : ""}`,
    explanation:
      "host-gw sends container packets straight to the other host's MAC address, so both hosts must share one " +
      "L2 segment; a router between them breaks it unless the router knows the container subnets.",
    evidence: [
      evidence,
      ...(via ? [`route to ${gw}: ${formatRoute(via)}`] : [`no route to ${gw}`]),
      ...(current ? [`route to ${subnet}: ${formatRoute(current)}`] : []),
    ],
    fix: routed ? [] : router
      ? [
        `# put ${gw} on this host's segment, or route the subnets through the router ${router}:`,
        peerAdd(subnet, router),
        `# and on ${router}: ip route replace ${subnet} via ${gw}`,
        `# and on ${router}: ip route replace ${ours} via ${selfText}`,
        `# and on ${gw}: route ${ours} through its router ("hg doctor" there names it)`,
      ]
      : [`# give ${gw} an address on this host's segment, and route ${subnet} there`],
  };
}

/**
 * The routes whose gateways are checked: hg's, anyone's inside the cluster network, and the
 * route the kernel picks for the destination (`picked`, from any table).
 */
function pathRoutes(ctx: DoctorContext, only?: IpAddress, picked?: Route): Route[] {
  const cluster = ctx.clusterNetwork;
  // hg's routes to subnets no lease holds, or to another host than their lease's, are the
  // registry checks' to judge (route-stale, route-wrong-host, peer-mode-stale).
  // hg's routes to peers that hg would route the other way now are peer-mode-stale's.
  const planned = vxlanFacts(ctx).planned;
  const stale = (r: Route) => {
    if (ctx.registry === undefined || r.protocol !== HG_ROUTE_PROTOCOL) return false;
    if (planned.size > 0 && planned.get(prefixKey(r.dst))?.mode === "vxlan") return true;
    const lease = leaseOfSubnet(ctx, r.dst);
    return !lease || (r.gateway !== undefined && !addressEquals(lease.attrs.publicIp, r.gateway) &&
      !isLocalAddress(ctx.obs.host, r.gateway));
  };
  const routes: Route[] = [];
  // Only routes holding `only` when it is given (tested in place: a call per route is one more
  // function for the JIT to compile).
  for (const r of ctx.obs.host.routes) {
    if (
      r.type === "unicast" && r.gateway !== undefined &&
      (only === undefined || prefixContains(r.dst, only)) &&
      (r.protocol === HG_ROUTE_PROTOCOL ||
        (cluster !== undefined && r.dst.length > 0 && prefixCovers(cluster, r.dst)))
    ) routes.push(r);
  }
  if (only !== undefined) {
    // With a destination, only the route the kernel uses for it matters.
    const used = picked ?? routes.sort((a, b) => b.dst.length - a.dst.length)[0];
    return used?.gateway && !stale(used) ? [used] : [];
  }
  return ctx.registry === undefined ? routes : routes.filter((r) => !stale(r));
}

/**
 * The routes by gateway and device, in the order each pair first comes. An IPv4 gateway's key
 * is a number (its address, and the device's place among the devices seen): no address is
 * formatted per route.
 */
function byGatewayAndDevice(routes: readonly Route[]): Route[][] {
  const groups = new Map<number | string, Route[]>();
  const devices = new Map<string | undefined, number>();
  for (const r of routes) {
    const gw = r.gateway!;
    let key: number | string;
    if (gw.family === 4) {
      let dev = devices.get(r.dev);
      if (dev === undefined) devices.set(r.dev, dev = devices.size);
      key = Number(gw.value) * 2 ** 20 + dev;
    } else key = `${formatAddress(gw)} ${r.dev ?? ""}`;
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()];
}

/** A route to `r.dst` that is the same route with its gateway set to `via`. */
function replaceVia(r: Route, via: IpAddress): string {
  const dst = r.dst.length === 0 ? "default" : formatPrefix(r.dst);
  return r.protocol === HG_ROUTE_PROTOCOL
    ? peerAdd(dst, formatAddress(via))
    : `ip route replace ${dst} via ${formatAddress(via)}${r.dev ? ` dev ${r.dev}` : ""}`;
}

function selfFinding(ctx: DoctorContext, gateway: IpAddress, routes: readonly Route[]): Finding {
  const gw = formatAddress(gateway);
  const dev = routes[0].dev;
  const lease = leaseFor(ctx, routes[0].dst.address);
  // The first two unanswered entries inside the routes (the cheap tests first).
  const asked: Neighbour[] = [];
  for (const n of ctx.obs.neighbours) {
    if (asked.length === 2) break;
    if (
      n.dev === dev && n.state.some((s) => s === "FAILED" || s === "INCOMPLETE") &&
      routes.some((r) => prefixContains(r.dst, n.dst))
    ) asked.push(n);
  }
  return {
    id: "gateway-self",
    severity: "error",
    stage: "gateway",
    summary:
      `the route to ${formatPrefix(routes[0].dst)} goes via ${gw}, this host's own address: ` +
      "the kernel then asks for each destination on the segment itself, and nobody answers for it",
    explanation:
      "A gateway must be the other host's address. With its own address as the gateway the kernel treats " +
      "the destination as directly connected and sends ARP requests for the containers' addresses.",
    evidence: [
      ...routes.slice(0, 3).map(formatRoute),
      `${gw} is an address of this host`,
      ...asked.map((n) => `ip neigh: ${formatAddress(n.dst)} dev ${n.dev} ${n.state}`),
    ],
    fix: lease && !addressEquals(lease.attrs.publicIp, gateway)
      ? routes.map((r) => replaceVia(r, lease.attrs.publicIp))
      : [
        `# route it to the host that has it: ${
          replaceVia(routes[0], gateway).replace(gw, "ITS-ADDRESS")
        }`,
      ],
  };
}

function unreachableFinding(
  ctx: DoctorContext,
  gateway: IpAddress,
  routes: readonly Route[],
  state: string,
): Finding {
  const gw = formatAddress(gateway);
  const dev = routes[0].dev;
  const subnets = routes.slice(0, 3).map((r) => formatPrefix(r.dst)).join(", ") +
    (routes.length > 3 ? ` and ${routes.length - 3} more` : "");
  const lease = firstLeaseHolding(ctx.leases, routes.map((r) => r.dst.address));
  const moved = lease && !addressEquals(lease.attrs.publicIp, gateway);
  // Someone's route inside a subnet hg routes to the registry's host: without it, the packets
  // take hg's route.
  const underneath = (r: Route) =>
    r.protocol !== HG_ROUTE_PROTOCOL &&
    ctx.hgRoutes.some((h) =>
      h.dst.length < r.dst.length && prefixCovers(h.dst, r.dst) && lease !== undefined &&
      h.gateway !== undefined && addressEquals(h.gateway, lease.attrs.publicIp)
    );
  return {
    id: "gateway-unreachable",
    severity: "error",
    stage: "gateway",
    summary: `${gw} (the gateway to ${subnets}) does not answer ${
      ctx.family === 6 ? "neighbour solicitations" : "ARP"
    } on ${dev}: its neighbour entry is ${state}`,
    explanation:
      "The address is inside this host's network but no machine on the segment answers for it: the host is down, " +
      "has another address now, or sits behind a router on another segment (host-gw needs one L2 segment).",
    evidence: [
      `ip neigh: ${gw} dev ${dev} ${state}`,
      ...cappedMap(routes, formatRoute),
    ],
    fix: moved && routes.every((r) => r.protocol === HG_ROUTE_PROTOCOL)
      ? [peerAdd(formatPrefix(lease.subnet), formatAddress(lease.attrs.publicIp))]
      : moved && routes.every(underneath)
      ? routes.map((r) =>
        `ip route del ${formatPrefix(r.dst)} via ${gw}${r.dev ? ` dev ${r.dev}` : ""}${
          r.metric ? ` metric ${r.metric}` : ""
        }`
      )
      : [
        `# check the host at ${gw} is up and on this segment: ping -c 1 ${gw}; ip neigh show ${gw}`,
        `# if it moved, route its subnet to its new address: ${
          replaceVia(routes[0], gateway).replace(gw, "NEW-ADDRESS")
        }`,
      ],
  };
}

/**
 * Gateways of the routes on the containers' way that are off-link, this host itself, or do not
 * answer ARP (one finding per gateway). With `only`, the route the kernel uses for that
 * destination (`picked` when the caller followed the rules to it).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkGateways(ctx).map((f) => f.id); // ["gateway-unreachable"]
 * ```
 */
export function checkGateways(ctx: DoctorContext, only?: IpAddress, picked?: Route): Finding[] {
  const host = ctx.obs.host;
  const findings: Finding[] = [];
  for (const routes of byGatewayAndDevice(pathRoutes(ctx, only, picked))) {
    const gateway = routes[0].gateway!;
    if (isLocalAddress(host, gateway)) {
      findings.push(selfFinding(ctx, gateway, routes));
      continue;
    }
    if (!onLinkInterface(host, gateway)) {
      if (routes[0].protocol !== HG_ROUTE_PROTOCOL || routes[0].flags.includes("onlink")) continue;
      // One finding per gateway; its fix is written for the first subnet (the others alike).
      findings.push(
        offLinkFinding(ctx, formatPrefix(routes[0].dst), gateway, formatRoute(routes[0])),
      );
      continue;
    }
    const neighbour = neighboursAt(ctx.obs.neighbours, gateway).find((n) =>
      addressEquals(n.dst, gateway) && n.dev === routes[0].dev
    );
    const state = neighbour?.state.find((s) => s === "FAILED" || s === "INCOMPLETE");
    if (!state) continue;
    findings.push(unreachableFinding(ctx, gateway, routes, neighbour!.state.join(",")));
  }
  return findings;
}

/** Whether the gateway's neighbour entry says it did not answer ARP. */
export function gatewayFailed(ctx: DoctorContext, route: Route): boolean {
  const gw = route.gateway;
  if (!gw) return false;
  return neighboursAt(ctx.obs.neighbours, gw).some((n) =>
    addressEquals(n.dst, gw) && n.dev === route.dev &&
    n.state.some((s) => s === "FAILED" || s === "INCOMPLETE")
  );
}
