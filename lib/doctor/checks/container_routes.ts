/**
 * The routes inside a container: its default route must go to the bridge's address (the host),
 * and no more specific route may send packets for other hosts' containers past it. A route via
 * another address sends them to whatever has that address on the bridge; a route without a
 * gateway makes the container ask ARP for each destination itself, which only the host answers,
 * and only with proxy ARP on the bridge. When every port of the bridge is one of hg's
 * containers, doctor knows everything on it and can tell; otherwise it cannot.
 *
 * @module
 */
import { containerIpCommand } from "../../containers/where.ts";
import type { HostState } from "../../host/state.ts";
import { parseContainerAlias } from "../../host/marks.ts";
import { formatRoute, type Route } from "../../ip/route.ts";
import { addressEquals, formatAddress, type IpAddress } from "../../net/address.ts";
import {
  firstHost,
  formatPrefix,
  prefixContains,
  prefixCovers,
  prefixesOverlap,
  prefixOf,
} from "../../net/prefix.ts";
import { isLocalAddress } from "../../peers/onlink.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding, Severity } from "../finding.ts";
import { lookupRoute } from "../lookup.ts";
import { effectiveOr, forwardsFrom, interfaceSetting } from "../settings.ts";

/** Where a container's route takes its packets, as doctor can tell. */
interface Judgement {
  readonly severity: Severity | "fine";
  readonly why: string;
}

/** The bridge's ports that are not hg's containers (doctor cannot see what they hold). */
function foreignPorts(ctx: DoctorContext): string[] {
  return ctx.obs.host.links.filter((l) =>
    l.master === ctx.obs.bridge && parseContainerAlias(l.alias) === undefined
  ).map((l) => l.ifname);
}

/** Whether a container forwards what arrives on the interface that holds its address. */
function containerForwards(c: Container): boolean | undefined {
  const state = c.observed?.state;
  const s = c.observed?.sysctl;
  if (!state || !s) return undefined;
  const link = state.addresses.find((l) =>
    l.addresses.some((a) => addressEquals(a.address, c.address))
  );
  if (!link || interfaceSetting(s, link.ifname, "forwarding") === undefined) return undefined;
  return forwardsFrom(s, link.ifname);
}

/** What happens to the container's packets that follow `r` (to `to`, when known). */
function judge(ctx: DoctorContext, c: Container, r: Route, to?: IpAddress): Judgement {
  const host = ctx.obs.host;
  const unknownPorts = foreignPorts(ctx);
  const others = unknownPorts.length > 0
    ? `; ${ctx.obs.bridge} has ports doctor cannot see into (${unknownPorts.join(", ")})`
    : "";
  if (r.gateway) {
    const gw = formatAddress(r.gateway);
    if (isLocalAddress(host, r.gateway)) return { severity: "fine", why: `${gw} is the host` };
    if (
      !ctx.bridge?.gateway &&
      addressEquals(r.gateway, firstHost(prefixOf(c.address, c.prefixLength)))
    ) {
      // The bridge lost its address, the gateway hg gave the container: the bridge's finding.
      return { severity: "fine", why: `${gw} is the bridge's address` };
    }
    const other = ctx.containers.find((x) => x !== c && addressEquals(x.address, r.gateway!));
    if (other) {
      const fwd = containerForwards(other);
      return fwd === true
        ? {
          severity: "warning",
          why: `they go through container ${other.name}, which forwards them`,
        }
        : fwd === false
        ? { severity: "error", why: `they go to container ${other.name}, which does not forward` }
        : {
          severity: "undecided",
          why: `they go to container ${other.name}; whether it forwards was not read`,
        };
    }
    return unknownPorts.length === 0
      ? { severity: "error", why: `nothing on ${ctx.obs.bridge} has ${gw}` }
      : { severity: "undecided", why: `no hg container has ${gw}${others}` };
  }
  // No gateway: the container asks ARP for the destination itself.
  if (
    to && (isLocalAddress(host, to) || ctx.containers.some((x) => addressEquals(x.address, to)))
  ) {
    return { severity: "fine", why: `${formatAddress(to)} is on the bridge` };
  }
  const bridge = ctx.obs.bridge;
  const proxy = effectiveOr(ctx.obs.sysctl, bridge, "proxy_arp");
  if (proxy === true && forwardsFrom(ctx.obs.sysctl, bridge)) {
    return { severity: "fine", why: `the host answers ARP for them (proxy_arp on ${bridge})` };
  }
  if (proxy === undefined) {
    return {
      severity: "undecided",
      why:
        `the container asks ARP for each destination; whether ${bridge} has proxy_arp was not read`,
    };
  }
  return unknownPorts.length === 0
    ? {
      severity: "error",
      why: `the container asks ARP for each destination on ${bridge}, and nothing there answers ` +
        "for other hosts' containers (no proxy_arp)",
    }
    : { severity: "undecided", why: `the container asks ARP for each destination itself${others}` };
}

/** The container's routes, as a host state for the table-main lookup. */
function stateOf(c: Container): HostState | undefined {
  const s = c.observed?.state;
  return s ? { ...s, fdb: [], forwarding: false, forwarding6: false } : undefined;
}

/** The route the kernel made for the container's own address (its subnet, no gateway). */
const isOwnConnected = (c: Container, r: Route) =>
  r.gateway === undefined && r.protocol === 2 && prefixContains(r.dst, c.address);

function noDefault(ctx: DoctorContext, c: Container): Finding {
  const gateway = ctx.bridge?.gateway?.address;
  return {
    id: "container-no-default-route",
    severity: "error",
    stage: "container",
    summary: `container ${c.name} has no default route: it can reach only its own subnet`,
    evidence: [`${c.name}: no default route`],
    fix: [
      containerIpCommand(
        c,
        `route replace default via ${gateway ? formatAddress(gateway) : "GATEWAY"} dev ${c.ifname}`,
      ),
    ],
  };
}

function badDefault(ctx: DoctorContext, c: Container, r: Route, j: Judgement): Finding {
  const gateway = ctx.bridge?.gateway?.address;
  const replace = containerIpCommand(
    c,
    `route replace default via ${gateway ? formatAddress(gateway) : "GATEWAY"} dev ${c.ifname}`,
  );
  return {
    id: "container-no-default-route",
    severity: j.severity as Severity,
    stage: "container",
    summary: `container ${c.name}'s default route does not go to the bridge${
      gateway ? ` ${formatAddress(gateway)}` : ""
    }: ${j.why}`,
    evidence: [`${c.name}: ${formatRoute(r)}`],
    fix: j.severity === "error" ? [replace] : [
      `# hg sends a container's packets through the bridge's address${
        gateway ? ` ${formatAddress(gateway)}` : ""
      }`,
    ],
  };
}

function bypass(ctx: DoctorContext, c: Container, r: Route, j: Judgement): Finding {
  const inside = (cmd: string) => containerIpCommand(c, cmd);
  const dev = r.dev ?? c.ifname;
  const gateway = ctx.bridge?.gateway?.address;
  const addr = formatAddress(c.address);
  const fix = j.severity !== "error"
    ? [`# check where it leads: ${inside(`route get ADDRESS-IN-${formatPrefix(r.dst)}`)}`]
    : isOwnConnected(c, r)
    // The container's address has a wider mask than hg gave it: give it hg's (taking the
    // address away takes the default route with it).
    ? [
      inside(`addr del ${addr}/${r.dst.length} dev ${dev}`),
      inside(`addr add ${addr}/${c.prefixLength} dev ${dev}`),
      inside(
        `route replace default via ${gateway ? formatAddress(gateway) : "GATEWAY"} dev ${dev}`,
      ),
    ]
    : [inside(`route del ${r.type === "unicast" ? "" : `${r.type} `}${formatPrefix(r.dst)}`)];
  return {
    id: "container-route-bypass",
    severity: j.severity as Severity,
    stage: "container",
    summary: `container ${c.name} sends packets for ${formatPrefix(r.dst)} past the bridge's ` +
      `address (${formatRoute(r)}): ${j.why}`,
    explanation:
      "hg gives a container one default route, via the bridge's address; the host routes everything from " +
      "there. A more specific route in the container that leads elsewhere takes precedence over it.",
    evidence: [`${c.name}: ${formatRoute(r)}`],
    fix,
  };
}

/**
 * The container's default route and the routes that bypass the bridge: with `to`, the route
 * its kernel picks for that destination; without, every route that overlaps the cluster
 * network.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../../net/address.ts";
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkContainerRoutes(ctx, ctx.containers[0], parseAddress("1.1.2.2"));
 * ```
 */
export function checkContainerRoutes(ctx: DoctorContext, c: Container, to?: IpAddress): Finding[] {
  const state = stateOf(c);
  if (!state) return [];
  if (to) {
    const found = lookupRoute(state, to);
    if (found.kind === "local" || found.kind === "undecided") return [];
    if (found.kind === "none") return [noDefault(ctx, c)];
    const r = found.route!;
    if (found.kind === "rejected") {
      return [
        bypass(ctx, c, r, { severity: "error", why: `the container's own table refuses them` }),
      ];
    }
    const j = judge(ctx, c, r, to);
    if (j.severity === "fine") return [];
    return [r.dst.length === 0 ? badDefault(ctx, c, r, j) : bypass(ctx, c, r, j)];
  }
  const findings: Finding[] = [];
  const cluster = ctx.clusterNetwork;
  const viaHost = (r: Route) => r.gateway !== undefined && isLocalAddress(ctx.obs.host, r.gateway);
  const def = state.routes.find((r) => r.dst.length === 0 && r.type === "unicast");
  if (!def) {
    const covered = cluster !== undefined &&
      state.routes.some((r) => viaHost(r) && prefixCovers(r.dst, cluster));
    if (!covered) findings.push(noDefault(ctx, c));
  } else {
    const j = judge(ctx, c, def);
    if (j.severity !== "fine") findings.push(badDefault(ctx, c, def, j));
  }
  for (const r of state.routes) {
    if (r.dst.length === 0 || viaHost(r) || r.type === "local" || r.type === "broadcast") continue;
    if (cluster === undefined || !prefixesOverlap(r.dst, cluster)) continue;
    // The container's own subnet, on the bridge: exactly the host's subnet or inside it.
    if (isOwnConnected(c, r) && (ctx.subnet === undefined || prefixCovers(ctx.subnet, r.dst))) {
      continue;
    }
    const j = r.type === "unicast"
      ? judge(ctx, c, r)
      : { severity: "error" as const, why: `the container's own table refuses them (${r.type})` };
    if (j.severity !== "fine") findings.push(bypass(ctx, c, r, j));
  }
  return findings;
}
