/**
 * Doctor's verdict on a host: every check over the whole host, or, with a destination, the way of
 * one packet from a container to it (container, veth, bridge, forwarding, firewall, the route the
 * kernel picks, the gateway) and the route the other host needs back. Pure: it runs on an
 * observation, live or from a snapshot.
 *
 * @module
 */
import { findContainer } from "../containers/where.ts";
import { formatRoute, type Route } from "../ip/route.ts";
import { TABLE_MAIN } from "../ip/table.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix, prefixContains, prefixCovers, prefixOf } from "../net/prefix.ts";
import type { Lease } from "../store/store.ts";
import { checkArp, checkContainerArp } from "./checks/arp.ts";
import { checkContainerRoutes } from "./checks/container_routes.ts";
import { checkEcho } from "./checks/echo.ts";
import { checkFirewall, checkRpFilter, firewallVerdict } from "./checks/filters.ts";
import { checkDad } from "./checks/dad.ts";
import { checkForwarding } from "./checks/forwarding.ts";
import { checkNdpFilter } from "./checks/ndp.ts";
import { checkGateways } from "./checks/gateways.ts";
import { checkContainerMtu, checkMtu } from "./checks/mtu.ts";
import { checkNeighbours } from "./checks/neighbours.ts";
import { checkBridge, checkContainer, containerAt } from "./checks/plumbing.ts";
import { checkPolicy, policyFinding, policyPath } from "./checks/policy.ts";
import { checkRegistry } from "./checks/registry.ts";
import { checkRegistryRoutes, checkRouteTable, checkRouteUse } from "./checks/routes.ts";
import { checkUplink } from "./checks/uplink.ts";
import {
  checkVxlan,
  checkVxlanDevice,
  checkVxlanEntries,
  checkVxlanFirewall,
  checkVxlanMtu,
  tunnelled,
} from "./checks/vxlan.ts";
import {
  type Container,
  type DoctorContext,
  doctorContext,
  isPeerRoute,
  leaseFor,
  selfAddress,
} from "./context.ts";
import { type Finding, sortFindings, type Stage } from "./finding.ts";
import { describeLookup, sameOutcome } from "./lookup.ts";
import type { Observation } from "./observation.ts";
import { vxlanFacts } from "./vxlan_facts.ts";
import { carriesIpv6, ipv6Context, withoutDadFailed } from "./ipv6_view.ts";
import { neighboursAt } from "./neighbour_index.ts";

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
  /** The verdict is OK: no error, and nothing undecided (or the probe's echoes were answered). */
  readonly ok: boolean;
  /**
   * `ok`; `problem`: an error (exit 1); `undecided`: no error, but a finding doctor could not
   * decide, so it calls the host neither fine nor broken (exit 3).
   */
  readonly status: "ok" | "problem" | "undecided";
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
  return withoutConsequences([
    ...checkUplink(ctx),
    ...checkForwarding(ctx),
    ...checkBridge(ctx),
    ...ctx.containers.flatMap((c) => [
      ...checkContainer(ctx, c),
      ...checkContainerRoutes(ctx, c),
      ...checkContainerMtu(ctx, c),
      ...checkEcho(c),
    ]),
    ...checkNeighbours(ctx),
    ...checkArp(ctx),
    ...checkRegistryRoutes(ctx),
    ...checkGateways(ctx),
    ...checkRouteTable(ctx),
    ...checkRouteUse(ctx),
    ...checkPolicy(ctx),
    ...checkFirewall(ctx),
    ...checkRpFilter(ctx),
    ...checkMtu(ctx),
    ...checkVxlan(ctx),
    ...checkRegistry(ctx),
  ]);
}

/**
 * The IPv6 view's checks, on a host that carries IPv6: forwarding, DAD, neighbour discovery
 * through the firewall, and the checks IPv4 has of routes, gateways, neighbour entries and the
 * forwarded ping, on IPv6's routes, neighbours and leases. Whatever the family, a finding says
 * the same thing once: the uplink's and registry's checks run in the IPv4 view only.
 */
function ipv6Checks(ctx6: DoctorContext): Finding[] {
  if (!carriesIpv6(ctx6)) return [];
  return [
    ...checkForwarding(ctx6),
    ...checkDad(ctx6),
    ...checkNdpFilter(ctx6),
    ...checkNeighbours(withoutDadFailed(ctx6)),
    ...checkRegistryRoutes(ctx6),
    ...checkGateways(ctx6),
    ...checkRouteTable(ctx6),
    ...checkRouteUse(ctx6),
    ...checkFirewall(ctx6),
  ];
}

/**
 * Whether this host carries IPv4 for its containers: its bridge has an IPv4 address, it has
 * hg's containers (their marks hold IPv4 addresses) or hg's IPv4 routes, or the registry's
 * network is IPv4. An IPv6-only host is not judged on IPv4.
 */
function carriesIpv4(ctx: DoctorContext): boolean {
  return ctx.bridge?.gateway !== undefined || ctx.containers.length > 0 ||
    ctx.hgRoutes.length > 0 || ctx.registry?.config.network.address.family === 4;
}

/** What an uplink that is down (or without its address) explains: they are not said again. */
const UPLINK_CONSEQUENCES = new Set<Finding["id"]>([
  "peer-route-missing",
  "no-route",
  "route-linkdown",
  "gateway-off-link",
  "gateway-unreachable",
  "lease-refused",
]);

function withoutConsequences(findings: Finding[]): Finding[] {
  const down = findings.some((f) => f.id === "uplink-down" && f.severity === "error");
  return down ? findings.filter((f) => !UPLINK_CONSEQUENCES.has(f.id)) : findings;
}

function conclude(findings: Finding[], ok: string, extra: Partial<Diagnosis> = {}): Diagnosis {
  const sorted = sortFindings(findings);
  const errors = sorted.filter((f) => f.severity === "error");
  const undecided = sorted.find((f) => f.severity === "undecided");
  const status = errors.length > 0 ? "problem" : undecided ? "undecided" : "ok";
  return {
    ok: status === "ok",
    status,
    verdict: errors.length > 0
      ? `${errors[0].summary}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ""}`
      : undecided
      ? `undecided: ${undecided.summary}`
      : ok,
    ...extra,
    findings: sorted,
  };
}

/**
 * Diagnoses a host.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import { parseSnapshot } from "./snapshot.ts";
 * declare const doc: unknown;
 * const d = diagnose(parseSnapshot(doc), { to: parseAddress("1.1.2.2"), from: "web1" });
 * d.ok; d.verdict; d.findings[0]?.fix;
 * ```
 */
export function diagnose(obs: Observation, request: DoctorRequest = {}): Diagnosis {
  if (!request.to) {
    const [ctx4, ctx6] = [doctorContext(obs), ipv6Context(obs)];
    const findings = withoutConsequences([
      ...(carriesIpv6(ctx6) && !carriesIpv4(ctx4) ? [] : hostChecks(ctx4)),
      ...ipv6Checks(ctx6),
    ]);
    return conclude(findings, "nothing wrong found on this host");
  }
  // An IPv6 destination is followed through the IPv6 view.
  const ctx = request.to.family === 6 ? ipv6Context(obs) : doctorContext(obs);
  const from = request.from === undefined
    ? ctx.containers[0]
    : findContainer(ctx.containers, request.from);
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
    const own = [
      ...checkContainer(ctx, from),
      ...checkContainerRoutes(ctx, from, to),
      ...checkContainerMtu(ctx, from),
      ...(ctx.family === 4 ? checkContainerArp(ctx, from) : []),
    ];
    const addr = `${formatAddress(from.address)}/${from.prefixLength}`;
    step("container", own.filter((f) => f.stage === "container"), `container ${from.name} ${addr}`);
    step(
      "veth",
      own.filter((f) => f.stage === "veth"),
      `veth ${from.hostVeth} (master ${from.master ?? "none"})`,
    );
    findings.push(...own.filter((f) => f.stage !== "container" && f.stage !== "veth"));
  }
  const neighbours = checkNeighbours(withoutDadFailed(ctx), to, from);
  step(
    "bridge",
    [
      ...checkBridge(ctx).filter((f) => f.severity === "error"),
      ...neighbours.filter((f) => f.stage !== "gateway"),
    ],
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
    const problems = dst
      ? [
        ...checkContainer(ctx, dst),
        ...checkEcho(dst),
        ...(ctx.family === 4 ? checkContainerArp(ctx, dst) : []),
      ]
      : [{
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

  // The route the kernel picks through the policy rules; table main alone when they cannot be
  // evaluated (the policy-route finding then says so).
  const outPath = policyPath(ctx, { ...(src ? { src } : {}), dst: to, iif: bridge }, "out");
  const policy = policyFinding(ctx, outPath);
  const byPolicy = !sameOutcome(outPath.kernel, outPath.main);
  const found = outPath.kernel.kind === "undecided" ? outPath.main : outPath.kernel;
  const picked = found.kind === "route" ? found.route : undefined;
  const replyDev = picked?.dev ?? ctx.uplink;
  step(
    "forwarding",
    checkForwarding(ctx, [bridge, ...(replyDev ? [replyDev] : [])]),
    `forwarding on ${bridge}${replyDev ? ` and ${replyDev}` : ""}`,
  );
  const lease = leaseFor(ctx, to);
  const routeProblems: Finding[] = [
    ...(policy ? [policy] : []),
    ...checkRegistryRoutes(ctx, to),
    ...checkRouteTable(ctx, to),
    ...checkRouteUse(ctx, to),
    // hg's VXLAN device, when the destination goes (or should go) through it.
    ...checkVxlanDevice(ctx, to),
  ];
  if (found.kind === "local") {
    step("route", routeProblems, `${target} is an address of this host`);
    return conclude(findings, `${target} is this host itself`, { ...extra, path });
  }
  if (found.kind === "rejected") {
    if (!byPolicy && found.route) {
      const table = found.route.table !== undefined && found.route.table !== TABLE_MAIN
        ? ` table ${found.route.table}`
        : "";
      routeProblems.push({
        id: "route-rejects",
        severity: "error",
        stage: "route",
        summary: `a ${found.route.type} route covers ${target}: the kernel refuses to send there`,
        evidence: [formatRoute(found.route)],
        fix: [`ip route del ${found.route.type} ${formatPrefix(found.route.dst)}${table}`],
      });
    }
    step("route", routeProblems, describeLookup(found));
  } else if (!picked || !isPeerRoute(ctx, picked)) {
    if (
      !byPolicy &&
      !routeProblems.some((f) =>
        f.id === "peer-route-missing" || f.id === "gateway-off-link" ||
        f.id === "vxlan-device-missing" || f.id === "vxlan-device-down"
      )
    ) {
      routeProblems.push(missingRoute(ctx, to, picked));
    }
    step("route", routeProblems, picked ? `${formatRoute(picked)} (not a peer route)` : "no route");
  } else {
    step(
      "route",
      routeProblems,
      `${formatRoute(picked)} (${
        byPolicy && found.kind === "route" && found.rule
          ? `by policy rule ${found.rule.priority}`
          : `longest match for ${target}`
      })`,
    );
  }
  // The kernel picks the route, then the FORWARD hook sees the packet, then the gateway's MAC
  // address is looked up.
  const out = picked?.dev ?? ctx.uplink;
  if (src && out) {
    const packet = { src, dst: to, iif: bridge, oif: out };
    const v = firewallVerdict(ctx, packet);
    // Over VXLAN, also the UDP that carries it out, and the peer's answers in.
    const problems = [
      ...checkFirewall(ctx, [packet]),
      ...(tunnelled(ctx, picked) ? checkVxlanFirewall(ctx, to) : []),
      // IPv6 finds the next hop by neighbour discovery, which this host's firewall may drop.
      ...(ctx.family === 6 ? checkNdpFilter(ctx) : []),
    ];
    step(
      "firewall",
      problems,
      problems.some((f) => f.severity === "undecided")
        ? "firewall: undecided (rules doctor cannot evaluate)"
        : !v.accepted
        ? `firewall drops it: ${v.decidedBy}`
        : problems.some((f) => f.id === "vxlan-udp-dropped")
        ? "firewall forwards it, but drops the VXLAN packets that carry it"
        : problems.some((f) => f.id === "ndp-filtered" && f.severity === "error")
        ? "firewall forwards it, but drops neighbour discovery"
        : "firewall forwards it",
    );
  }
  const uplink = ctx.obs.host.addresses.find((l) => l.ifname === ctx.uplink);
  step(
    "uplink",
    [
      ...checkUplink(ctx),
      ...(ctx.family === 4 ? checkArp(ctx, []) : checkDad(ctx).filter((f) => f.stage === "uplink")),
    ],
    uplink
      ? `uplink ${uplink.ifname} ${
        uplink.addresses.filter((a) => a.address.family === ctx.family && a.scope === "global")
          .map((a) => `${formatAddress(a.address)}/${a.prefix.length}`).join(", ")
      }`
      : "uplink: none found",
  );
  if (picked && isPeerRoute(ctx, picked)) {
    const gateway = picked.gateway;
    const neighbour = gateway && neighboursAt(ctx.obs.neighbours, gateway)
      .find((n) => n.dst.value === gateway.value);
    const tunnel = tunnelled(ctx, picked);
    const vtep = tunnel && neighbour?.lladdr
      ? ctx.obs.host.fdb.find((f) => f.dev === picked.dev && f.mac === neighbour.lladdr)
      : undefined;
    step(
      "gateway",
      [
        ...checkGateways(ctx, to, picked),
        ...neighbours.filter((f) => f.stage === "gateway"),
        ...(tunnel ? checkVxlanEntries(ctx, to) : []),
      ],
      `gateway ${gateway ? formatAddress(gateway) : "-"} on ${picked.dev}` +
        (neighbour
          ? `, neighbour ${neighbour.state.join(",")}${
            tunnel && neighbour.lladdr
              ? ` ${neighbour.lladdr}${vtep?.dst ? ` (VTEP at ${formatAddress(vtep.dst)})` : ""}`
              : ""
          }`
          : ", no neighbour entry yet"),
    );
  }
  findings.push(
    // IPv6: DAD of the bridge and of the containers on the way (the uplink's is said there).
    ...(ctx.family === 4 ? checkRpFilter(ctx) : checkDad(ctx, [
      ...(from ? [from] : []),
      ...ctx.containers.filter((c) => c !== from && c.address.value === to.value),
    ]).filter((f) => f.stage !== "uplink")),
    ...checkMtu(ctx),
    ...checkVxlanMtu(ctx),
    ...checkRegistry(ctx, to),
  );
  if (src && replyDev) {
    const inPolicy = policyFinding(
      ctx,
      policyPath(ctx, { src: to, dst: src, iif: replyDev }, "in"),
    );
    // The same rule, equally judged, both ways: said once.
    const same = inPolicy && policy && inPolicy.severity === policy.severity &&
      inPolicy.evidence[0] === policy.evidence[0];
    if (inPolicy && !same) {
      findings.push(inPolicy);
      path.push({ stage: "return", ok: inPolicy.severity !== "error", text: inPolicy.summary });
    }
  }
  const back = returnPath(ctx, lease ?? picked?.gateway, tunnelled(ctx, picked));
  if (back) {
    findings.push(back);
    path.push({ stage: "return", ok: back.severity !== "error", text: back.summary });
  }
  return conclude(
    withoutConsequences(findings),
    `nothing on this host stops packets to ${target}${
      back ? `; the way back: ${back.summary}` : ""
    }`,
    { ...extra, path },
  );
}

function missingRoute(ctx: DoctorContext, to: IpAddress, fallback?: Route): Finding {
  const target = formatAddress(to);
  const length = ctx.registry?.config.subnetLen ?? ctx.subnet?.length ??
    (to.family === 6 ? 64 : 24);
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
function returnPath(
  ctx: DoctorContext,
  peer: Lease | IpAddress | undefined,
  tunnel = false,
): Finding | undefined {
  if (!ctx.subnet || peer === undefined) return undefined;
  const ours = formatPrefix(ctx.subnet);
  const self = selfAddress(ctx);
  const there = "subnet" in peer
    ? `${peer.attrs.node ?? "the host"} (${formatAddress(peer.attrs.publicIp)})`
    : formatAddress(peer);
  // Over VXLAN the other host needs this host's VTEP MAC too.
  const mac = tunnel
    ? ctx.ownLease?.attrs.vtep?.mac ?? vxlanFacts(ctx).device?.mac ?? "THIS-HOST'S-VTEP-MAC"
    : undefined;
  const line = `hg peer add ${ours} --via ${self ? formatAddress(self) : "THIS-HOST'S-ADDRESS"}${
    mac ? ` --vtep-mac ${mac}` : ""
  }`;
  if (ctx.registry && !ctx.ownLease) {
    // (lease-expired says that this host's lease is gone; this says what it means here)
    return {
      id: "return-path",
      severity: "info",
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
