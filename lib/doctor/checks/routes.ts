/**
 * Checks of the peer routes: against the registry (missing, pointing at the wrong host, stale,
 * refused leases) and the table itself (duplicates, overlaps, routes marked linkdown). A fix
 * that removes a route is printed only when the state shows it stops traffic: a stale route
 * whose gateway does not answer, a peer route over this host's own containers, a duplicate
 * that sends the registry's subnet to another host.
 *
 * @module
 */
import { HG_ROUTE_PROTOCOL } from "../../ip/protocol.ts";
import { formatRoute, type Route } from "../../ip/route.ts";
import { formatAddress, type IpAddress } from "../../net/address.ts";
import { overlappingPairs } from "../../net/interval.ts";
import {
  formatPrefix,
  parsePrefix,
  type Prefix,
  prefixContains,
  prefixCovers,
  prefixEquals,
  prefixesOverlap,
} from "../../net/prefix.ts";
import { isLocalAddress, onLinkInterface } from "../../peers/onlink.ts";
import { planPeerSync } from "../../peers/sync.ts";
import { subnetOfKey } from "../../store/lease.ts";
import type { RegistryEntry } from "../../store/store.ts";
import type { HostState } from "../../host/state.ts";
import { type DoctorContext, leaseOfSubnet, syncView } from "../context.ts";
import type { Finding } from "../finding.ts";
import { followRules } from "../lookup.ts";
import { capped, cappedMap, MAX_EVIDENCE } from "./evidence.ts";
import { gatewayFailed, offLinkFinding } from "./gateways.ts";
import { overlappingLeaseKeys } from "./registry.ts";
import { vxlanFacts, vxlanLease } from "../vxlan_facts.ts";
import { modeStaleFinding } from "./vxlan.ts";
import { neighboursAt } from "../neighbour_index.ts";
import { isAddressText, prefixId, prefixKey, textPrefixId } from "../route_index.ts";
import { syncPlan } from "../sync_plan.ts";
import { leasesHolding } from "../lease_index.ts";

const peerAdd = (subnet: string, via: string) => `hg peer add ${subnet} --via ${via}`;

/** Whether `only` (the destination doctor follows, if any) is inside `p`. */
const concerns = (p: Prefix, only?: IpAddress) => only === undefined || prefixContains(p, only);

/**
 * With a destination, only the leases that matter to it: those holding it and any lease that
 * overlaps them (an overlap is a reason to refuse one). Whole-host checks take them all.
 */
function relevantEntries(
  ctx: DoctorContext,
  entries: readonly RegistryEntry[],
  only: IpAddress | undefined,
): readonly RegistryEntry[] {
  if (!only) return entries;
  const holding = entries.flatMap((e) =>
    "lease" in e && prefixContains(e.lease.subnet, only) ? [e.lease.subnet] : []
  );
  return entries.filter((e) =>
    "lease" in e
      // This host's own lease says where its VXLAN end is.
      ? e.lease === ctx.ownLease || holding.some((h) => prefixesOverlap(h, e.lease.subnet))
      : subnetOfKey(e.key) === undefined ||
        holding.some((h) => prefixesOverlap(h, subnetOfKey(e.key)!))
  );
}

/**
 * The route the kernel uses among those to exactly `dst` in table main (lowest metric), by
 * {@link prefixId} (the sync's peers are looked up by {@link textPrefixId}).
 */
function routesByDestination(host: HostState): Map<number | string, Route> {
  const byDst = new Map<number | string, Route>();
  for (const r of host.routes) {
    if (r.type !== "unicast") continue;
    const key = prefixId(r.dst);
    const seen = byDst.get(key);
    if (!seen || r.metric < seen.metric) byDst.set(key, r);
  }
  return byDst;
}

/**
 * Whether a container's packet to the subnet reaches the host at `via` by some other way than a
 * route in table main (a policy rule's table), so that hg's missing route is not missed.
 */
function reachedByPolicy(ctx: DoctorContext, subnet: Prefix, via: string): boolean {
  if (!ctx.obs.rules || ctx.obs.rules.length <= 3) return false;
  const src = ctx.containers[0]?.address;
  const found = followRules(ctx.routing, {
    dst: subnet.length < 32
      ? { ...subnet.address, value: subnet.address.value + 1n }
      : subnet.address,
    ...(src ? { src } : {}),
    iif: ctx.obs.bridge,
  });
  return found.kind === "route" && found.route.gateway !== undefined &&
    formatAddress(found.route.gateway) === via;
}

/**
 * The routes compared with the registry: what `hg peer sync` would change, as findings.
 * With `only`, just the lease or route that holds that address.
 */
export function checkRegistryRoutes(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const registry = ctx.registry;
  if (!registry) return [];
  const host = ctx.obs.host;
  // This host's own lease by its node name, else the one its bridge's address lies in.
  const node = ctx.obs.node ?? ctx.ownLease?.attrs.node;
  const sync = only === undefined
    // The whole registry's plan, shared with the VXLAN facts.
    ? syncPlan(ctx, node)!
    : planPeerSync(syncView(ctx), registry.config, relevantEntries(ctx, registry.entries, only), {
      node,
      bridge: ctx.obs.bridge,
    });
  const findings: Finding[] = [];
  const byDst = routesByDestination(host);
  const missing: { subnet: string; via: string; node?: string; mac?: string }[] = [];
  const tunnel = vxlanFacts(ctx);
  // A VXLAN device that is missing or down explains its peers' missing routes (it is said once).
  const noTunnel = tunnel.backend !== undefined && !tunnel.device?.up;
  for (const peer of sync.peers) {
    if (only && !prefixContains(parsePrefix(peer.subnet), only)) continue;
    const route = byDst.get(textPrefixId(peer.subnet));
    const stale = route && modeStaleFinding(ctx, peer, route);
    if (!route) {
      if (peer.mode === "vxlan" && noTunnel) continue;
      const mac = peer.mode === "vxlan" ? vxlanLease(ctx, peer.subnet)?.mac : undefined;
      if (!reachedByPolicy(ctx, parsePrefix(peer.subnet), peer.via)) {
        missing.push({ ...peer, ...(mac ? { mac } : {}) });
      }
    } else if (stale) {
      findings.push(stale);
    } else if (peer.mode === "vxlan") {
      // Through the VXLAN device: its entries are checked with the device (checks/vxlan.ts).
    } else if (
      route.gateway && !isAddressText(route.gateway, peer.via) &&
      // A gateway that is this host itself is gateway-self's to say (with the same fix).
      !isLocalAddress(host, route.gateway)
    ) {
      findings.push(wrongHost(peer, route, route.gateway));
    }
  }
  if (missing.length > 0) {
    findings.push({
      id: "peer-route-missing",
      severity: "error",
      stage: "route",
      summary: missing.length === 1
        ? `no route to ${missing[0].subnet}, the subnet of ${missing[0].node ?? missing[0].via}`
        : `no route to ${missing.length} subnets the registry lists`,
      explanation: missingExplanation(ctx),
      evidence: cappedMap(
        missing,
        (m) => `registry: ${m.subnet} -> ${m.node ? `${m.node} at ` : ""}${m.via}; no route`,
      ),
      fix: missing.length > MAX_EVIDENCE
        ? [`hg peer sync --store ${registry.url}`]
        : missing.map((m) =>
          `${peerAdd(m.subnet, m.via)}${m.mac === undefined ? "" : ` --vtep-mac ${m.mac}`}`
        ),
    });
  }
  findings.push(...staleRoutes(ctx, only));
  const conflicting = overlappingLeaseKeys(ctx);
  for (const r of sync.refused) {
    const subnet = subnetOfKey(r.key);
    if (only && (!subnet || !prefixContains(subnet, only))) continue;
    // Leases that overlap each other are one lease-conflict finding, not two refusals.
    if (conflicting.has(r.key)) continue;
    const lease = subnet && leaseOfSubnet(ctx, subnet);
    if (lease && !onLinkInterface(host, lease.attrs.publicIp)) {
      findings.push(
        offLinkFinding(
          ctx,
          formatPrefix(lease.subnet),
          lease.attrs.publicIp,
          `registry: ${r.key} -> ${lease.attrs.node ? `${lease.attrs.node} at ` : ""}${
            formatAddress(lease.attrs.publicIp)
          }`,
        ),
      );
      continue;
    }
    // With a destination, the refusal is what stops its packets only when there is no route
    // to the lease's subnet and host (hg's sync would remove one, but it still carries them).
    const routed = lease !== undefined &&
      byDst.get(prefixId(lease.subnet))?.gateway?.value === lease.attrs.publicIp.value;
    findings.push({
      id: "lease-refused",
      severity: only && !routed ? "error" : "warning",
      stage: "registry",
      summary: `the registry's lease ${r.key} is not routed: ${r.reason}`,
      evidence: [`registry: ${r.key}`],
      fix: [`# correct or remove the lease; "hg subnet ls --store ${registry.url}" lists them`],
    });
  }
  return findings;
}

/**
 * A route to a peer's subnet that goes to another host than the registry's (out of the loop
 * over the peers, which most peers pass through without a finding).
 */
function wrongHost(
  peer: { subnet: string; via: string; node?: string },
  route: Route,
  gateway: IpAddress,
): Finding {
  const owner = `${peer.node ? `${peer.node} at ` : ""}${peer.via}`;
  return {
    id: "route-wrong-host",
    severity: "error",
    stage: "route",
    summary: `the route to ${peer.subnet} goes to ${
      formatAddress(gateway)
    }, but the registry says ${owner} has it`,
    explanation:
      "The host at the old address no longer has these containers (it moved, or its lease went to another host).",
    evidence: [formatRoute(route), `registry: ${peer.subnet} -> ${owner}`],
    fix: [peerAdd(peer.subnet, peer.via)],
  };
}

/** Whether packets by `r` go nowhere: its gateway does not answer, is off-link, or is this host. */
function deadEnd(ctx: DoctorContext, r: Route): boolean {
  const gw = r.gateway;
  if (!gw) return false;
  return gatewayFailed(ctx, r) || isLocalAddress(ctx.obs.host, gw) ||
    (!onLinkInterface(ctx.obs.host, gw) && !r.flags.includes("onlink"));
}

/**
 * hg's routes to subnets no lease holds. Only the probe can tell whether the host behind one
 * still serves its containers (a lease released while the host works on), so such a route is a
 * warning; it is an error, with the fix that removes it, only when its gateway does not answer
 * and it carries the destination doctor follows or takes part of another host's live subnet.
 */
function staleRoutes(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const registry = ctx.registry!;
  const stale = ctx.hgRoutes.filter((r) =>
    concerns(r.dst, only) && !ctx.leaseBySubnet.has(prefixId(r.dst))
  );
  if (stale.length === 0) return [];
  const breaks = (r: Route) =>
    deadEnd(ctx, r) &&
    (only !== undefined ||
      leasesHolding(ctx.leases, r.dst.address).some((l) => prefixCovers(l.subnet, r.dst)));
  const broken: Route[] = [];
  const rest: Route[] = [];
  for (const r of stale) (breaks(r) ? broken : rest).push(r);
  const findings: Finding[] = [];
  if (broken.length > 0) {
    findings.push({
      id: "route-stale",
      severity: "error",
      stage: "route",
      summary: broken.length === 1
        ? `the route to ${formatPrefix(broken[0].dst)} is stale: no host holds that subnet in ` +
          `the registry, and its gateway does not answer`
        : `${broken.length} of hg's routes are stale: no host holds their subnets, and their ` +
          "gateways do not answer",
      explanation:
        "A host that left (or whose lease ran out) while this host was not listening leaves its route behind; " +
        "packets that follow it are lost.",
      evidence: capped(broken.flatMap((r) => [formatRoute(r), ...gatewayState(ctx, r)])),
      fix: broken.length > MAX_EVIDENCE
        ? [`hg peer sync --store ${registry.url}`]
        : broken.map((r) => `hg peer rm ${formatPrefix(r.dst)}`),
    });
  }
  if (rest.length > 0) {
    findings.push({
      id: "route-stale",
      severity: "warning",
      stage: "route",
      summary: rest.length === 1
        ? `no host holds ${
          formatPrefix(rest[0].dst)
        } in the registry, but this host still routes it`
        : `no host holds ${rest.length} subnets in the registry that this host still routes`,
      explanation:
        "The host behind the route may have left (or its lease ran out), or it may still serve its containers " +
        "after releasing its lease: only a real packet tells (hg doctor --to an address there).",
      evidence: capped(rest.flatMap((r) => [formatRoute(r), ...gatewayState(ctx, r)])),
      fix: [
        `# if the host at ${
          rest[0].gateway ? formatAddress(rest[0].gateway) : "the gateway"
        } still serves ${
          formatPrefix(rest[0].dst)
        }, lease it again there: hg setup --store ${registry.url}`,
        `# if it left for good, hg peer sync --store ${registry.url} stops routing there`,
      ],
    });
  }
  return findings;
}

function gatewayState(ctx: DoctorContext, r: Route): string[] {
  const gw = r.gateway;
  if (!gw) return [];
  const n = neighboursAt(ctx.obs.neighbours, gw).find((n) =>
    n.dst.value === gw.value && n.dev === r.dev
  );
  return n ? [`ip neigh: ${formatAddress(gw)} dev ${n.dev} ${n.state.join(",")}`] : [];
}

function missingExplanation(ctx: DoctorContext): string {
  const fallback = ctx.obs.host.routes.find((r) => r.dst.length === 0);
  return fallback
    ? `Without it the packets leave by the default route (${
      formatRoute(fallback)
    }), to a router that does not know the containers' subnets.`
    : 'Without it, and with no default route, the kernel answers "Network is unreachable".';
}

/** The registry's host for `dst`, when a lease holds it. */
function registryHost(ctx: DoctorContext, dst: Prefix): IpAddress | undefined {
  return leasesHolding(ctx.leases, dst.address).find((l) =>
    prefixCovers(l.subnet, dst) && l !== ctx.ownLease
  )?.attrs.publicIp;
}

const routeDel = (r: Route) =>
  `ip route del ${formatPrefix(r.dst)}${r.gateway ? ` via ${formatAddress(r.gateway)}` : ""}${
    r.dev ? ` dev ${r.dev}` : ""
  }${r.metric ? ` metric ${r.metric}` : ""}${r.protocol === HG_ROUTE_PROTOCOL ? " proto 104" : ""}`;

/**
 * The unicast routes (but the default) of `routes` that share their destination with another,
 * by destination in the order each first comes, each list in the table's order. `twice` holds
 * every route that shares its destination (the overlap search found them): most tables have
 * none, and then no route is looked at.
 */
function sameDestination(routes: readonly Route[], twice: ReadonlySet<Route>): Route[][] {
  if (twice.size === 0) return [];
  const byDst = new Map<number | string, Route[]>();
  for (const r of routes) {
    if (!twice.has(r) || r.dst.length === 0 || r.type !== "unicast") continue;
    const key = prefixId(r.dst);
    const list = byDst.get(key);
    if (list) list.push(r);
    else byDst.set(key, [r]);
  }
  return [...byDst.values()];
}

/** Two routes to the same subnet, or a route that takes part of a peer's subnet. */
export function checkRouteTable(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const host = ctx.obs.host;
  const findings: Finding[] = [];
  // hg's routes are table main's of its protocol (ctx.hgRoutes): no search of that list.
  const isHg = (r: Route) => r.protocol === HG_ROUTE_PROTOCOL;
  // A more specific route inside a peer's subnet takes part of it; a peer route over this
  // host's own subnet takes the containers' own traffic. hg's routes first, then the others'.
  const items: Route[] = [...ctx.hgRoutes];
  for (const r of host.routes) {
    if (r.protocol !== HG_ROUTE_PROTOCOL && r.dst.length > 0 && r.type === "unicast") {
      items.push(r);
    }
  }
  // One search for both checks: two routes to one destination overlap too.
  const pairs = overlappingPairs(items, (r) => r.dst);
  const twice = new Set<Route>();
  for (const [a, b] of pairs) {
    if (prefixEquals(a.dst, b.dst)) twice.add(a).add(b);
  }
  for (const routes of sameDestination(host.routes, twice)) {
    if (routes.length < 2 || !routes.some(isHg) || !concerns(routes[0].dst, only)) {
      continue;
    }
    const dst = prefixKey(routes[0].dst);
    const used = [...routes].sort((a, b) => a.metric - b.metric)[0];
    const owner = registryHost(ctx, used.dst);
    const hg = routes.find(isHg)!;
    // The kernel uses another route than hg's, to another host than the registry names.
    const wrong = used !== hg && owner !== undefined && used.gateway !== undefined &&
      used.gateway.value !== owner.value && hg.gateway?.value === owner.value;
    findings.push({
      id: "route-duplicate",
      severity: wrong ? "error" : used === hg ? "info" : "warning",
      stage: "route",
      summary: wrong
        ? `${routes.length} routes to ${dst}: the kernel uses ${formatRoute(used)}, not hg's ` +
          `route to ${formatAddress(owner)}, the host the registry names`
        : `${routes.length} routes to ${dst}: the kernel uses ${formatRoute(used)}`,
      evidence: routes.map(formatRoute),
      fix: wrong
        ? [routeDel(used)]
        : used === hg
        ? []
        : [`# the kernel uses the route with the lowest metric; hg's is ${formatRoute(hg)}`],
    });
  }
  const ownAddresses = [
    ...ctx.containers.map((c) => c.address),
    ...(ctx.bridge?.gateway ? [ctx.bridge.gateway.address] : []),
  ];
  for (const [ra, rb] of pairs) {
    const a = { r: ra, hg: isHg(ra) };
    const b = { r: rb, hg: isHg(rb) };
    if (prefixEquals(a.r.dst, b.r.dst) || (!a.hg && !b.hg)) continue;
    const [outer, inner] = a.r.dst.length < b.r.dst.length ? [a, b] : [b, a];
    if (!concerns(inner.r.dst, only)) continue;
    // A peer route inside this host's own subnet; when it holds a container (or the bridge's
    // address), the packets for that container leave the host again.
    const ownSubnet = inner.hg && ctx.subnet !== undefined && prefixCovers(ctx.subnet, inner.r.dst);
    // A broad route of someone else's around hg's narrower ones is normal (hg's win), and so is
    // the bridge's wider network around peer routes (a bridge with a wider mask).
    if (!outer.hg && !ownSubnet) continue;
    // hg's route to a subnet no lease holds is route-stale's to judge.
    if (
      inner.hg && ctx.registry && !ctx.leaseBySubnet.has(prefixId(inner.r.dst))
    ) continue;
    // A narrower route to the same host as the peer route changes nothing.
    if (
      !ownSubnet && inner.r.gateway && outer.r.gateway &&
      inner.r.gateway.value === outer.r.gateway.value && inner.r.dev === outer.r.dev
    ) continue;
    const taken = ownSubnet ? ownAddresses.filter((x) => prefixContains(inner.r.dst, x)) : [];
    findings.push({
      id: "route-overlap",
      severity: taken.length > 0 ? "error" : "warning",
      stage: "route",
      summary: `${formatPrefix(inner.r.dst)} lies inside ${
        formatPrefix(outer.r.dst)
      }: packets to it follow the narrower route${inner.r.dev ? ` (dev ${inner.r.dev})` : ""}${
        taken.length > 0
          ? `, so packets for this host's ${formatAddress(taken[0])} leave the host again`
          : ""
      }`,
      evidence: [formatRoute(outer.r), formatRoute(inner.r)],
      fix: taken.length > 0 ? [routeDel(inner.r)] : [
        `# check which of the two is right: ip route get ADDRESS-IN-${formatPrefix(inner.r.dst)}`,
      ],
      ...(taken.length > 0 ? {} : { proven: [routeDel(inner.r)] }),
    });
  }
  return findings;
}

/** hg's routes marked linkdown: their device lost its carrier. */
export function checkRouteUse(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const findings: Finding[] = [];
  const down: Route[] = [];
  for (const r of ctx.hgRoutes) {
    if (r.flags.length > 0 && r.flags.includes("linkdown") && concerns(r.dst, only)) down.push(r);
  }
  for (const dev of new Set(down.map((r) => r.dev ?? "?"))) {
    const routes = down.filter((r) => (r.dev ?? "?") === dev);
    findings.push({
      id: "route-linkdown",
      severity: "error",
      stage: "route",
      summary:
        `${dev} has no carrier: ${routes.length} of hg's routes through it are marked linkdown`,
      explanation:
        "The link is up but nothing is plugged in at the other end (a cable, a veth peer, a switch port).",
      evidence: cappedMap(routes, formatRoute),
      fix: [`# check ${dev}'s other end: ip link show ${dev}`],
    });
  }
  return findings;
}
