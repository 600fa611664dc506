/**
 * Checks of the peer routes: against the registry (missing, pointing at the wrong host, stale,
 * refused leases), their gateways (off-link, neighbour entry FAILED or INCOMPLETE), and the
 * table itself (duplicates, overlaps).
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
  prefixEquals,
  prefixesOverlap,
} from "../../net/prefix.ts";
import { onLinkInterface } from "../../peers/onlink.ts";
import { planPeerSync } from "../../peers/sync.ts";
import { subnetOfKey } from "../../store/lease.ts";
import type { RegistryEntry } from "../../store/store.ts";
import { type DoctorContext, selfAddress } from "../context.ts";
import type { Finding } from "../finding.ts";

/** At most this many items of evidence are listed; the rest are counted. */
const MAX_EVIDENCE = 5;

function capped(lines: readonly string[]): string[] {
  return lines.length <= MAX_EVIDENCE
    ? [...lines]
    : [...lines.slice(0, MAX_EVIDENCE), `... and ${lines.length - MAX_EVIDENCE} more`];
}

const peerAdd = (subnet: string, via: string) => `hg peer add ${subnet} --via ${via}`;

/** Whether `only` (the destination doctor follows, if any) is inside `p`. */
const concerns = (p: Prefix, only?: IpAddress) => only === undefined || prefixContains(p, only);

/**
 * With a destination, only the leases that matter to it: those holding it and any lease that
 * overlaps them (an overlap is a reason to refuse one). Whole-host checks take them all.
 */
function relevantEntries(
  entries: readonly RegistryEntry[],
  only: IpAddress | undefined,
): readonly RegistryEntry[] {
  if (!only) return entries;
  const holding = entries.flatMap((e) =>
    "lease" in e && prefixContains(e.lease.subnet, only) ? [e.lease.subnet] : []
  );
  return entries.filter((e) =>
    "lease" in e
      ? holding.some((h) => prefixesOverlap(h, e.lease.subnet))
      : subnetOfKey(e.key) === undefined ||
        holding.some((h) => prefixesOverlap(h, subnetOfKey(e.key)!))
  );
}

/**
 * The routes compared with the registry: what `hg peer sync` would change, as findings.
 * With `only`, just the lease or route that holds that address.
 */
export function checkRegistryRoutes(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const registry = ctx.registry;
  if (!registry) return [];
  const host = ctx.obs.host;
  const sync = planPeerSync(host, registry.config, relevantEntries(registry.entries, only), {
    node: ctx.obs.node,
    bridge: ctx.obs.bridge,
  });
  const findings: Finding[] = [];
  const byDst = new Map(host.routes.map((r) => [formatPrefix(r.dst), r]));
  const missing: { subnet: string; via: string; node?: string }[] = [];
  for (const peer of sync.peers) {
    if (only && !prefixContains(parsePrefix(peer.subnet), only)) continue;
    const route = byDst.get(peer.subnet);
    const owner = `${peer.node ? `${peer.node} at ` : ""}${peer.via}`;
    if (!route) {
      missing.push(peer);
    } else if (route.gateway && formatAddress(route.gateway) !== peer.via) {
      findings.push({
        id: "route-wrong-host",
        severity: "error",
        stage: "route",
        summary: `the route to ${peer.subnet} goes to ${
          formatAddress(route.gateway)
        }, but the registry says ${owner} has it`,
        explanation:
          "The host at the old address no longer has these containers (it moved, or its lease went to another host).",
        evidence: [formatRoute(route), `registry: ${peer.subnet} -> ${owner}`],
        fix: [peerAdd(peer.subnet, peer.via)],
      });
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
      evidence: capped(
        missing.map((m) =>
          `registry: ${m.subnet} -> ${m.node ? `${m.node} at ` : ""}${m.via}; no route`
        ),
      ),
      fix: missing.length > MAX_EVIDENCE
        ? [`hg peer sync --store ${registry.url}`]
        : missing.map((m) => peerAdd(m.subnet, m.via)),
    });
  }
  const leased = new Set(ctx.leases.map((l) => formatPrefix(l.subnet)));
  const stale = ctx.hgRoutes.filter((r) =>
    concerns(r.dst, only) && !leased.has(formatPrefix(r.dst))
  );
  if (stale.length > 0) {
    findings.push({
      id: "route-stale",
      severity: only ? "error" : "warning",
      stage: "route",
      summary: stale.length === 1
        ? `the route to ${
          formatPrefix(stale[0].dst)
        } is stale: no host holds that subnet in the registry`
        : `${stale.length} of hg's routes are stale: no host holds their subnets in the registry`,
      explanation:
        "A host that left (or whose lease ran out) while this host was not listening leaves its route behind.",
      evidence: capped(stale.map(formatRoute)),
      fix: stale.length > MAX_EVIDENCE
        ? [`hg peer sync --store ${registry.url}`]
        : stale.map((r) => `hg peer rm ${formatPrefix(r.dst)}`),
    });
  }
  for (const r of sync.refused) {
    const subnet = subnetOfKey(r.key);
    if (only && (!subnet || !prefixContains(subnet, only))) continue;
    const lease = ctx.leases.find((l) => subnet && prefixEquals(l.subnet, subnet));
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
    findings.push({
      id: "lease-refused",
      severity: only ? "error" : "warning",
      stage: "registry",
      summary: `the registry's lease ${r.key} is not routed: ${r.reason}`,
      evidence: [`registry: ${r.key}`],
      fix: [`# correct or remove the lease; "hg subnet ls --store ${registry.url}" lists them`],
    });
  }
  return findings;
}

function missingExplanation(ctx: DoctorContext): string {
  const fallback = ctx.obs.host.routes.find((r) => r.dst.length === 0);
  return fallback
    ? `Without it the packets leave by the default route (${
      formatRoute(fallback)
    }), to a router that does not know the containers' subnets.`
    : 'Without it, and with no default route, the kernel answers "Network is unreachable".';
}

/**
 * A gateway that is on no directly connected network: host-gw needs one L2 segment. When the
 * subnet is already routed through the router that reaches the gateway, that works (while the
 * router knows the subnet) and is only a warning.
 */
function offLinkFinding(
  ctx: DoctorContext,
  subnet: string,
  gateway: IpAddress,
  evidence: string,
): Finding {
  const host = ctx.obs.host;
  const via =
    host.routes.filter((r) => r.type === "unicast" && prefixContains(r.dst, gateway) && r.gateway)
      .sort((a, b) => b.dst.length - a.dst.length)[0];
  const router = via?.gateway ? formatAddress(via.gateway) : undefined;
  const current = host.routes.find((r) => formatPrefix(r.dst) === subnet);
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

/** hg routes whose gateway is off-link or does not answer ARP (one finding per gateway). */
export function checkGateways(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const host = ctx.obs.host;
  const byGateway = new Map<string, Route[]>();
  for (const r of ctx.hgRoutes) {
    if (!r.gateway || !concerns(r.dst, only)) continue;
    const key = formatAddress(r.gateway);
    const list = byGateway.get(key);
    if (list) list.push(r);
    else byGateway.set(key, [r]);
  }
  const findings: Finding[] = [];
  for (const [gw, routes] of byGateway) {
    const gateway = routes[0].gateway!;
    const subnets = routes.slice(0, 3).map((r) => formatPrefix(r.dst)).join(", ") +
      (routes.length > 3 ? ` and ${routes.length - 3} more` : "");
    if (!onLinkInterface(host, gateway)) {
      // One finding per gateway; its fix is written for the first subnet (the others alike).
      findings.push(
        offLinkFinding(ctx, formatPrefix(routes[0].dst), gateway, formatRoute(routes[0])),
      );
      continue;
    }
    const neighbour = ctx.obs.neighbours.find((n) =>
      n.dst.value === gateway.value && n.dev === routes[0].dev
    );
    const state = neighbour?.state.find((s) => s === "FAILED" || s === "INCOMPLETE");
    if (!state) continue;
    const lease = ctx.leases.find((l) => routes.some((r) => prefixEquals(l.subnet, r.dst)));
    findings.push({
      id: "gateway-unreachable",
      severity: "error",
      stage: "gateway",
      summary: `${gw} (the gateway to ${subnets}) does not answer ARP on ${
        routes[0].dev
      }: its neighbour entry is ${state}`,
      explanation:
        "The address is inside this host's network but no machine on the segment answers for it: the host is down, " +
        "has another address now, or sits behind a router on another segment (host-gw needs one L2 segment).",
      evidence: [
        `ip neigh: ${gw} dev ${routes[0].dev} ${neighbour!.state.join(",")}`,
        ...routes.slice(0, MAX_EVIDENCE).map(formatRoute),
        ...(routes.length > MAX_EVIDENCE
          ? [`... and ${routes.length - MAX_EVIDENCE} more routes via ${gw}`]
          : []),
      ],
      fix: lease && formatAddress(lease.attrs.publicIp) !== gw
        ? [peerAdd(formatPrefix(lease.subnet), formatAddress(lease.attrs.publicIp))]
        : [
          `# check the host at ${gw} is up and on this segment: ping -c 1 ${gw}; ip neigh show ${gw}`,
          `# if it moved, route its subnet to its new address: ${
            peerAdd(formatPrefix(routes[0].dst), "NEW-ADDRESS")
          }`,
        ],
    });
  }
  return findings;
}

/** Two routes to the same subnet, or a route that takes part of a peer's subnet. */
export function checkRouteTable(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const host = ctx.obs.host;
  const findings: Finding[] = [];
  const byDst = new Map<string, Route[]>();
  for (const r of host.routes) {
    if (r.dst.length === 0) continue;
    const key = formatPrefix(r.dst);
    const list = byDst.get(key);
    if (list) list.push(r);
    else byDst.set(key, [r]);
  }
  for (const [dst, routes] of byDst) {
    if (
      routes.length < 2 || !routes.some((r) => ctx.hgRoutes.includes(r)) ||
      !concerns(routes[0].dst, only)
    ) {
      continue;
    }
    const used = [...routes].sort((a, b) => a.metric - b.metric)[0];
    findings.push({
      id: "route-duplicate",
      severity: "warning",
      stage: "route",
      summary: `${routes.length} routes to ${dst}: the kernel uses ${formatRoute(used)}`,
      evidence: routes.map(formatRoute),
      fix: routes.filter((r) => r !== used).map((r) =>
        `ip route del ${dst}${r.gateway ? ` via ${formatAddress(r.gateway)}` : ""}${
          r.metric ? ` metric ${r.metric}` : ""
        }`
      ),
    });
  }
  // A more specific route inside a peer's subnet takes part of it; a peer route over this
  // host's own subnet takes the containers' own traffic.
  const items = [
    ...ctx.hgRoutes.map((r) => ({ r, hg: true })),
    ...host.routes.filter((r) =>
      r.protocol !== HG_ROUTE_PROTOCOL && r.dst.length > 0 && r.type === "unicast"
    ).map((r) => ({ r, hg: false })),
  ];
  for (const [a, b] of overlappingPairs(items, (i) => i.r.dst)) {
    if (prefixEquals(a.r.dst, b.r.dst) || (!a.hg && !b.hg)) continue;
    const [outer, inner] = a.r.dst.length < b.r.dst.length ? [a, b] : [b, a];
    if (!concerns(inner.r.dst, only)) continue;
    // A broad route of someone else's around hg's narrower ones is normal (hg's win), unless it
    // is this host's own subnet.
    const ownSubnet = ctx.subnet !== undefined && prefixEquals(outer.r.dst, ctx.subnet);
    if (!outer.hg && !ownSubnet) continue;
    findings.push({
      id: "route-overlap",
      severity: ownSubnet ? "error" : "warning",
      stage: "route",
      summary: `${formatPrefix(inner.r.dst)} lies inside ${
        formatPrefix(outer.r.dst)
      }: packets to it follow the narrower route${inner.r.dev ? ` (dev ${inner.r.dev})` : ""}`,
      evidence: [formatRoute(outer.r), formatRoute(inner.r)],
      fix: [`ip route del ${formatPrefix(inner.r.dst)}${inner.hg ? " proto 104" : ""}`],
    });
  }
  return findings;
}

/**
 * Routes the kernel keeps but cannot use well: hg's routes marked linkdown (their device lost
 * its carrier), and policy rules that may send packets to another table than main, which is the
 * only one doctor follows.
 */
export function checkRouteUse(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const findings: Finding[] = [];
  const down = ctx.hgRoutes.filter((r) => r.flags.includes("linkdown") && concerns(r.dst, only));
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
      evidence: capped(routes.map(formatRoute)),
      fix: [`# check ${dev}'s other end: ip link show ${dev}`],
    });
  }
  if (ctx.obs.extraRules.length > 0) {
    findings.push({
      id: "policy-rules",
      severity: "warning",
      stage: "route",
      summary:
        `${ctx.obs.extraRules.length} policy routing rules besides the defaults: packets may be routed by ` +
        "another table than main, which is the only one doctor follows",
      evidence: capped(ctx.obs.extraRules.map((r) => `ip rule: ${r}`)),
      fix: [
        "# see where a container's packet really goes: ip route get ADDRESS from CONTAINER-ADDRESS iif cni0",
      ],
    });
  }
  return findings;
}
