/**
 * Doctor's verdict on a host: every check over the whole host, or, with a destination, the way of
 * one packet from a container to it (container, veth, bridge, forwarding, firewall, the route the
 * kernel picks, the gateway) and the route the other host needs back. Pure: it runs on an
 * observation, live or from a snapshot.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { formatRoute, type Route } from "../ip/route.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix, prefixContains, prefixCovers, prefixOf } from "../net/prefix.ts";
import { checkFirewall, checkRpFilter, firewallVerdict } from "./checks/filters.ts";
import {
  checkBridge,
  checkContainer,
  checkForwarding,
  checkMtu,
  containerAt,
} from "./checks/plumbing.ts";
import {
  checkGateways,
  checkRegistryRoutes,
  checkRouteTable,
  checkRouteUse,
} from "./checks/routes.ts";
import {
  type Container,
  type DoctorContext,
  doctorContext,
  leaseFor,
  selfAddress,
} from "./context.ts";
import { type Finding, sortFindings, type Stage } from "./finding.ts";
import { lookupRoute } from "./lookup.ts";
import type { Observation } from "./observation.ts";
import type { Lease } from "../store/store.ts";

/** What doctor is asked. */
export interface DoctorRequest {
  /** Follow a packet to this address. */
  readonly to?: IpAddress;
  /** From this container (default: the first of hg's containers). */
  readonly from?: string;
}

/** One stage of the packet's way, as doctor saw it. */
export interface PathStep {
  readonly stage: Stage;
  readonly ok: boolean;
  readonly text: string;
}

/** Doctor's answer. */
export interface Diagnosis {
  /** No finding of severity error. */
  readonly ok: boolean;
  /** One line: the first cause, or that nothing was found. */
  readonly verdict: string;
  readonly to?: string;
  readonly from?: string;
  readonly findings: readonly Finding[];
  /** The packet's way (with a destination only). */
  readonly path?: readonly PathStep[];
  /** What the probe's real packets did (`--to` on a live host, unless `--no-probe`). */
  readonly probe?: ProbeSummary;
}

/** The probe's result in doctor's answer. */
export interface ProbeSummary {
  readonly sent: number;
  readonly answered: number;
  /** The large echo with Don't Fragment (the container's MTU): its size, sent and answered. */
  readonly large?: { readonly size: number; readonly sent: number; readonly answered: number };
  /** Where the packets stopped, in words, when they did. */
  readonly stoppedAt?: string;
  /** The namespaces it watched, by role, and why one could not be watched. */
  readonly watched: readonly {
    readonly role: string;
    readonly netns?: string;
    readonly error?: string;
  }[];
  readonly elapsedMs: number;
}

function hostChecks(ctx: DoctorContext): Finding[] {
  return [
    ...checkForwarding(ctx),
    ...checkBridge(ctx),
    ...ctx.containers.flatMap((c) => checkContainer(ctx, c)),
    ...checkRegistryRoutes(ctx),
    ...checkGateways(ctx),
    ...checkRouteTable(ctx),
    ...checkRouteUse(ctx),
    ...checkFirewall(ctx),
    ...checkRpFilter(ctx),
    ...checkMtu(ctx),
    ...registryProblem(ctx),
  ];
}

function registryProblem(ctx: DoctorContext): Finding[] {
  const r = ctx.obs.registry;
  if (!r || !("error" in r)) return [];
  return [{
    id: "registry-unreadable",
    severity: "warning",
    stage: "registry",
    summary:
      `the registry ${r.url} could not be read, so routes were not compared with it: ${r.error}`,
    evidence: [r.error],
    fix: [],
  }];
}

function conclude(findings: Finding[], ok: string, extra: Partial<Diagnosis> = {}): Diagnosis {
  const sorted = sortFindings(findings);
  const errors = sorted.filter((f) => f.severity === "error");
  return {
    ok: errors.length === 0,
    verdict: errors.length === 0
      ? ok
      : `${errors[0].summary}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ""}`,
    ...extra,
    findings: sorted,
  };
}

/**
 * Diagnoses a host.
 *
 * @example
 * ```ts
 * const d = diagnose(parseSnapshot(doc), { to: parseAddress("1.1.2.2"), from: "web1" });
 * d.ok; d.verdict; d.findings[0]?.fix;
 * ```
 */
export function diagnose(obs: Observation, request: DoctorRequest = {}): Diagnosis {
  const ctx = doctorContext(obs);
  if (!request.to) {
    const findings = hostChecks(ctx);
    return conclude(findings, "nothing wrong found on this host");
  }
  const from = request.from === undefined
    ? ctx.containers[0]
    : ctx.containers.find((c) => c.name === request.from);
  if (request.from !== undefined && !from) {
    throw new InputError(
      `no hg container named ${request.from} on this host ("hg netns ls" lists them)`,
    );
  }
  return tracePacket(ctx, request.to, from);
}

function tracePacket(ctx: DoctorContext, to: IpAddress, from: Container | undefined): Diagnosis {
  const findings: Finding[] = [];
  const path: PathStep[] = [];
  const step = (stage: Stage, problems: readonly Finding[], text: string) => {
    path.push({ stage, ok: !problems.some((f) => f.severity === "error"), text });
    findings.push(...problems);
  };
  const bridge = ctx.obs.bridge;
  const target = formatAddress(to);
  if (from) {
    const own = checkContainer(ctx, from);
    const addr = `${formatAddress(from.address)}/${from.prefixLength}`;
    step("container", own.filter((f) => f.stage === "container"), `container ${from.name} ${addr}`);
    step(
      "veth",
      own.filter((f) => f.stage === "veth"),
      `veth ${from.hostVeth} (master ${from.master ?? "none"})`,
    );
  }
  const bridgeProblems = checkBridge(ctx).filter((f) => f.severity === "error");
  step(
    "bridge",
    bridgeProblems,
    `bridge ${bridge}${
      ctx.bridge?.gateway
        ? ` ${formatAddress(ctx.bridge.gateway.address)}/${ctx.bridge.gateway.prefix.length}`
        : ""
    }`,
  );
  const src = from?.address;
  const extra = { to: target, ...(from ? { from: from.name } : {}) };

  if (ctx.subnet && prefixContains(ctx.subnet, to)) {
    // Same host: container to container across the bridge, nothing is routed or forwarded.
    const dst = containerAt(ctx, to);
    const problems = dst ? checkContainer(ctx, dst) : [{
      id: "container-missing" as const,
      severity: "error" as const,
      stage: "container" as const,
      summary: `no container on this host has ${target}`,
      evidence: [`no hg veth is marked with ${target}`],
      fix: [`hg netns add NAME --ip ${target}`],
    }];
    step(
      "container",
      problems,
      dst ? `container ${dst.name} ${target}, on this host's bridge` : `${target}: no container`,
    );
    return conclude(findings, `nothing on this host stops packets to ${target} (same bridge)`, {
      ...extra,
      path,
    });
  }

  step("forwarding", checkForwarding(ctx), `forwarding ${ctx.obs.host.forwarding ? "on" : "off"}`);
  const found = lookupRoute(ctx.obs.host, to);
  const lease = leaseFor(ctx, to);
  const routeProblems: Finding[] = [
    ...checkRegistryRoutes(ctx, to),
    ...checkRouteTable(ctx, to),
    ...checkRouteUse(ctx, to),
  ];
  let out: string | undefined;
  if (found.kind === "local") {
    step("route", [], `${target} is an address of this host`);
    return conclude(findings, `${target} is this host itself`, { ...extra, path });
  }
  if (found.kind === "rejected") {
    routeProblems.push({
      id: "route-rejects",
      severity: "error",
      stage: "route",
      summary: `a ${found.route.type} route covers ${target}: the kernel refuses to send there`,
      evidence: [formatRoute(found.route)],
      fix: [`ip route del ${formatPrefix(found.route.dst)}`],
    });
    step("route", routeProblems, formatRoute(found.route));
  } else if (found.kind === "none" || !isPeerRoute(ctx, found.route)) {
    if (!routeProblems.some((f) => f.id === "peer-route-missing" || f.id === "gateway-off-link")) {
      routeProblems.push(missingRoute(ctx, to, found.kind === "route" ? found.route : undefined));
    }
    step(
      "route",
      routeProblems,
      found.kind === "route" ? `${formatRoute(found.route)} (not a peer route)` : "no route",
    );
    if (found.kind === "route") out = found.route.dev;
  } else {
    out = found.route.dev;
    step("route", routeProblems, `${formatRoute(found.route)} (longest match for ${target})`);
  }
  // The kernel picks the route, then the FORWARD hook sees the packet, then the gateway's MAC
  // address is looked up.
  out ??= ctx.uplink;
  if (src && out) {
    const packet = { src, dst: to, iif: bridge, oif: out };
    const v = firewallVerdict(ctx, packet);
    step(
      "firewall",
      checkFirewall(ctx, [packet]),
      v.accepted ? "firewall forwards it" : `firewall drops it: ${v.decidedBy}`,
    );
  }
  if (found.kind === "route" && isPeerRoute(ctx, found.route)) {
    const gateway = found.route.gateway;
    const neighbour = ctx.obs.neighbours.find((n) => n.dst.value === gateway?.value);
    step(
      "gateway",
      checkGateways(ctx, to),
      `gateway ${gateway ? formatAddress(gateway) : "-"} on ${found.route.dev}` +
        (neighbour ? `, neighbour ${neighbour.state.join(",")}` : ", no neighbour entry yet"),
    );
  }
  findings.push(...checkRpFilter(ctx), ...checkMtu(ctx), ...registryProblem(ctx));
  const back = returnPath(
    ctx,
    lease ?? (found.kind === "route" ? found.route.gateway : undefined),
  );
  if (back) {
    findings.push(back);
    path.push({ stage: "return", ok: back.severity !== "error", text: back.summary });
  }
  return conclude(
    findings,
    `nothing on this host stops packets to ${target}${
      back ? `; the way back: ${back.summary}` : ""
    }`,
    { ...extra, path },
  );
}

/** hg's route, or one an admin made for a subnet inside the cluster network. */
function isPeerRoute(ctx: DoctorContext, route: Route): boolean {
  return route.protocol === HG_ROUTE_PROTOCOL ||
    (ctx.clusterNetwork !== undefined && route.dst.length > 0 &&
      prefixCovers(ctx.clusterNetwork, route.dst));
}

function missingRoute(ctx: DoctorContext, to: IpAddress, fallback?: Route): Finding {
  const target = formatAddress(to);
  const length = ctx.registry?.config.subnetLen ?? ctx.subnet?.length ?? 24;
  const subnet = formatPrefix(prefixOf(to, length));
  const via = fallback ? ` (packets to it leave by ${formatRoute(fallback)})` : "";
  if (ctx.registry && prefixCovers(ctx.registry.config.network, prefixOf(to, length))) {
    // The registry knows every host's subnet: nobody holds this one.
    return {
      id: "no-route",
      severity: "error",
      stage: "route",
      summary: `no host holds ${subnet} in the registry: there is no container at ${target}${via}`,
      evidence: [`registry ${ctx.registry.url}: no lease covers ${target}`],
      fix: [`# check the address; the hosts' subnets: hg subnet ls --store ${ctx.registry.url}`],
    };
  }
  return {
    id: fallback ? "peer-route-missing" : "no-route",
    severity: "error",
    stage: "route",
    summary: fallback
      ? `no peer route to ${subnet}: packets to ${target} leave by ${
        formatRoute(fallback)
      }, which does not know container subnets`
      : `no route to ${target}: the kernel answers "Network is unreachable"`,
    evidence: [
      fallback
        ? `ip route get ${target}: ${formatRoute(fallback)}`
        : `no route in table main covers ${target}`,
    ],
    fix: [`hg peer add ${subnet} --via ADDRESS-OF-THE-HOST-WITH-${subnet.replace("/", "_")}`],
  };
}

/** The route the destination's host needs back to this host's subnet. */
function returnPath(ctx: DoctorContext, peer: Lease | IpAddress | undefined): Finding | undefined {
  if (!ctx.subnet || peer === undefined) return undefined;
  const ours = formatPrefix(ctx.subnet);
  const self = selfAddress(ctx);
  const there = "subnet" in peer
    ? `${peer.attrs.node ?? "the host"} (${formatAddress(peer.attrs.publicIp)})`
    : formatAddress(peer);
  const line = `hg peer add ${ours} --via ${self ? formatAddress(self) : "THIS-HOST'S-ADDRESS"}`;
  if (ctx.registry && !ctx.ownLease) {
    return {
      id: "return-path",
      severity: "warning",
      stage: "return",
      summary:
        `${there} needs a route back to ${ours}, but this host's subnet is not in the registry, so it cannot learn it`,
      evidence: [`registry ${ctx.registry.url}: no lease for ${ours}`],
      fix: [`# on ${there}: ${line}`, `# or lease it: hg setup --store ${ctx.registry.url}`],
    };
  }
  return {
    id: "return-path",
    severity: "info",
    stage: "return",
    summary: `${there} needs ${ours} via ${self ? formatAddress(self) : "this host"}` +
      (ctx.ownLease
        ? " (the registry has this host's lease: agents and hg peer sync install it there)"
        : ""),
    evidence: ctx.ownLease
      ? [`registry: ${ours} -> ${formatAddress(ctx.ownLease.attrs.publicIp)}`]
      : [],
    fix: [`# on ${there}, if it is missing: ${line}`],
  };
}
