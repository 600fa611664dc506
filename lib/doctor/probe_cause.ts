/**
 * The cause of a failed probe: where the packets stopped (lib/probe/path.ts), matched with what
 * the static checks found in that namespace, else said from the kernel's own evidence (the
 * trace line, the route it chose, the counters). Pure.
 *
 * @module
 */
import { formatRoute } from "../ip/route.ts";
import { formatAddress, parseAddress } from "../net/address.ts";
import { formatPrefix, prefixContains } from "../net/prefix.ts";
import { markOf, type Pass, tracePasses } from "../probe/passes.ts";
import { plural, type Stop } from "../probe/path.ts";
import type { ProbeResult } from "../probe/probe.ts";
import { type DoctorContext, selfAddress } from "./context.ts";
import type { Finding, FindingId } from "./finding.ts";
import { lookupRoute } from "./lookup.ts";
import { vxlanFacts } from "./vxlan_facts.ts";

/** The static findings of one namespace on the path, and how to run a command there. */
export interface Side {
  /** The namespace name; undefined: this host (doctor's own namespace). */
  readonly netns?: string;
  readonly ctx: DoctorContext;
  readonly findings: readonly Finding[];
}

/** What the cause is chosen from. */
export interface CauseInput {
  readonly stop: Stop;
  readonly result: ProbeResult;
  readonly here: Side;
  readonly peer?: Side;
  /** Source and destination addresses of the probe. */
  readonly src: string;
  readonly dst: string;
  /** The address the destination's host is reached at (its lease or uplink). */
  readonly peerAddress?: string;
}

/** The side a role of the probe belongs to (containers belong to their host). */
function sideOf(input: CauseInput, role: Stop["role"]): Side | undefined {
  // Without a peer, the destination container is on this host (the probe watched it here).
  return role === "source" || role === "this host"
    ? input.here
    : input.peer ?? (role === "destination" ? input.here : undefined);
}

/** A static finding in `side` with one of `ids` (first by the order of `ids`). */
function staticFinding(side: Side | undefined, ids: readonly FindingId[]): Finding | undefined {
  if (!side) return undefined;
  for (const id of ids) {
    const f = side.findings.find((x) => x.id === id && x.severity !== "info");
    if (f) return f;
  }
  return undefined;
}

/** Fix lines run where `netns` is: hg and shell lines alike get `ip netns exec NAME`. */
export function fixFor(netns: string | undefined, lines: readonly string[]): string[] {
  if (netns === undefined) return [...lines];
  return lines.map((l) => l.startsWith("#") ? l : `ip netns exec ${netns} ${l}`);
}

/** A static finding promoted to the probe's cause, with the kernel's evidence added. */
function promote(f: Finding, side: Side, evidence: readonly string[]): Finding {
  const { proven, ...rest } = f;
  return {
    ...rest,
    severity: "error",
    ...(side.netns === undefined ? {} : { where: side.netns }),
    evidence: [...evidence, ...f.evidence],
    fix: fixFor(side.netns, proven ?? f.fix),
  };
}

/** Stages in the order a packet meets them, for the fallback below. */
const ANY_ERROR_ORDER: readonly FindingId[] = [
  "container-no-address",
  "container-down",
  "container-route-bypass",
  "container-no-default-route",
  "veth-down",
  "veth-detached",
  "bridge-down",
  "bridge-no-address",
  "mtu-container",
  "mtu-bridge-over-uplink",
  "echo-ignored",
];

/**
 * When the kernel's evidence names no cause, the static errors of the sides the packets
 * crossed: the one at the stop first, in the order a packet meets them.
 */
function anyStaticError(sides: readonly (Side | undefined)[], prefer: readonly FindingId[] = []) {
  for (const side of sides) {
    if (!side) continue;
    const errors = side.findings.filter((f) => f.severity === "error");
    const ranked = [...prefer, ...ANY_ERROR_ORDER];
    const f = ranked.map((id) => errors.find((e) => e.id === id)).find((e) => e !== undefined) ??
      errors.find((e) => e.id !== "return-path");
    if (f) return { f, side };
  }
  return undefined;
}

const place = (stop: Stop) => stop.netns === undefined ? stop.role : `${stop.role} (${stop.netns})`;

/** The trace line of a pass's decision. */
function traceLine(p: Pass): string {
  const by = p.decidedBy;
  return `trace: ${p.family} ${p.table} ${by?.chain ?? p.chain}${
    p.hook ? ` (hook ${p.hook})` : ""
  }: ${by?.rule ?? "?"}${
    by?.handle === undefined ? "" : ` # handle ${by.handle}`
  } (verdict ${p.verdict})`;
}

/** The iptables-nft tables: rules there are fixed with iptables, which keeps them readable to it. */
const IPTABLES_TABLES = new Set(["filter", "mangle", "raw", "nat", "security"]);

function acceptFix(input: CauseInput, side: Side | undefined, p: Pass): string[] {
  const net = side?.ctx.clusterNetwork ?? input.here.ctx.clusterNetwork;
  const chain = p.decidedBy?.chain ?? p.chain;
  if (p.family === "arp") {
    // ARP is asked and answered between the hosts' uplinks, and between the containers and
    // their bridges: accept what those addresses send.
    const self = selfAddress(input.here.ctx);
    const gateways = [input.here, input.peer].flatMap((side) =>
      side?.ctx.bridge?.gateway ? [formatAddress(side.ctx.bridge.gateway.address)] : []
    );
    const hosts = [
      ...new Set([
        ...(self ? [formatAddress(self)] : []),
        ...(input.peerAddress ? [input.peerAddress] : []),
        input.src,
        input.dst,
        ...gateways,
      ]),
    ];
    return [`nft insert rule arp ${p.table} ${chain} arp saddr ip { ${hosts.join(", ")} } accept`];
  }
  const v6 = input.src.includes(":");
  if (NDP_TYPES.has(p.packet.icmpType ?? "")) {
    // IPv6's ARP: accept neighbour discovery where it was dropped.
    return p.family === "ip6" && IPTABLES_TABLES.has(p.table) && /^[A-Z-]+$/.test(chain)
      ? [135, 136].map((t) =>
        `ip6tables -t ${p.table} -I ${chain} 1 -p ipv6-icmp --icmpv6-type ${t} -j ACCEPT`
      )
      : [
        `nft insert rule ${p.family} ${p.table} ${chain} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept`,
      ];
  }
  const host = v6 ? 128 : 32;
  const [s, d] = net
    ? [formatPrefix(net), formatPrefix(net)]
    : [`${input.src}/${host}`, `${input.dst}/${host}`];
  const [ip, iptables] = v6 ? ["ip6", "ip6tables"] : ["ip", "iptables"];
  if (p.family === ip && IPTABLES_TABLES.has(p.table) && /^[A-Z-]+$/.test(p.chain)) {
    return [
      ...new Set([
        `${iptables} -t ${p.table} -I ${chain} 1 -s ${s} -d ${d} -j ACCEPT`,
        `${iptables} -t ${p.table} -I ${chain} 1 -s ${d} -d ${s} -j ACCEPT`,
      ]),
    ];
  }
  return [
    `nft insert rule ${p.family} ${p.table} ${chain} ${ip} saddr ${s} ${ip} daddr ${d} accept`,
  ];
}

function dropped(input: CauseInput, stop: Stop & { kind: "dropped" }): Finding {
  const p = stop.pass;
  const side = sideOf(input, stop.role);
  if (p.encapsulated) return droppedTunnel(stop, side);
  const what = p.decidedBy?.rule.startsWith("policy")
    ? `the ${p.decidedBy.rule} of chain ${p.chain}`
    : `rule "${p.decidedBy?.rule}" of chain ${p.decidedBy?.chain ?? p.chain}`;
  return {
    id: "firewall-drop",
    severity: "error",
    stage: "firewall",
    ...(stop.netns === undefined ? {} : { where: stop.netns }),
    summary: `${what} in table ${p.family} ${p.table}${
      p.hook ? ` (hook ${p.hook})` : ""
    } drops the probe's echo ${plural(stop.direction)} on ${place(stop)}`,
    explanation:
      "The kernel's own trace of the probe's packets ends in this verdict; an accept elsewhere does not save a " +
      "packet that any base chain drops.",
    evidence: [traceLine(p)],
    fix: fixFor(stop.netns, acceptFix(input, side, p)),
  };
}

/**
 * A rule dropped the VXLAN packets that carry the probe's echoes: the static finding of that
 * side (it says which peers and has the fix), else the trace's own rule with an accept for
 * VXLAN's UDP where it dropped them.
 */
function droppedTunnel(
  stop: Stop & { kind: "dropped" },
  side: Side | undefined,
): Finding {
  const p = stop.pass;
  const port = p.packet.dport;
  const evidence = [
    traceLine(p),
    `trace: the echo ${plural(stop.direction)} travel in VXLAN there: ${p.packet.saddr ?? "?"} -> ${
      p.packet.daddr ?? "?"
    } udp dport ${port ?? "?"}`,
  ];
  const found = staticFinding(side, ["vxlan-udp-dropped"]);
  if (found && side) return promote(found, side, evidence);
  const chain = p.decidedBy?.chain ?? p.chain;
  const out = p.hook === "output" || p.hook === "postrouting";
  const dport = port === undefined ? "" : ` --dport ${port}`;
  return {
    id: "vxlan-udp-dropped",
    severity: "error",
    stage: "firewall",
    ...(stop.netns === undefined ? {} : { where: stop.netns }),
    summary:
      `${
        p.decidedBy?.rule.startsWith("policy")
          ? `the ${p.decidedBy.rule} of chain ${p.chain}`
          : `rule "${p.decidedBy?.rule}" of chain ${chain}`
      } in table ${p.family} ${p.table}${
        p.hook ? ` (hook ${p.hook})` : ""
      } drops the VXLAN packets ` +
      `that carry the probe's echo ${plural(stop.direction)}, on ${place(stop)}`,
    explanation:
      "VXLAN carries the containers' packets between hosts as UDP: the sending host must let it out and " +
      "the receiving host let it in.",
    evidence,
    fix: fixFor(
      stop.netns,
      p.family === "ip" && IPTABLES_TABLES.has(p.table) && /^[A-Z-]+$/.test(chain)
        ? [`iptables -t ${p.table} -I ${chain} 1 -p udp${dport} -j ACCEPT`]
        : [
          `nft insert rule ${p.family} ${p.table} ${chain} ${out ? "oifname" : "iifname"} ${
            out ? p.packet.oif ?? "UPLINK" : p.packet.iif ?? "UPLINK"
          } udp dport ${port ?? 8472} accept`,
        ],
    ),
  };
}

function rewritten(stop: Stop & { kind: "rewritten" }): Finding {
  const r = stop.rewrite;
  const p = r.pass;
  const handle = p.decidedBy?.handle;
  const chain = p.decidedBy?.chain ?? p.chain;
  return {
    id: "nat-rewrite",
    severity: "error",
    stage: "firewall",
    ...(r.netns === undefined ? {} : { where: r.netns }),
    summary: `a NAT rule on ${place(stop)} rewrites the ${
      r.field === "daddr" ? "destination" : "source"
    } of the probe's echo ${
      plural(r.direction)
    } from ${r.from} to ${r.to}, and no answer comes back`,
    evidence: [traceLine(p), `trace: the packets go on with ${r.field} ${r.to}`],
    fix: handle === undefined
      ? [`# remove the rule "${p.decidedBy?.rule}" from ${p.family} ${p.table} ${chain}`]
      : fixFor(r.netns, [`nft delete rule ${p.family} ${p.table} ${chain} handle ${handle}`]),
  };
}

/** Static ids that explain a routing decision that sent packets nowhere, by the kernel's words. */
const NOT_ROUTED: readonly [RegExp, readonly FindingId[]][] = [
  [/cross-device/i, ["rp-filter-strict"]],
  [/permission denied/i, ["route-rejects", "policy-route"]],
  [/no route to host/i, ["forwarding-off", "route-rejects", "policy-route"]],
  [/network is unreachable/i, [
    "uplink-down",
    "vxlan-device-down",
    "vxlan-device-missing",
    "peer-route-missing",
    "policy-route",
    "route-rejects",
    "no-route",
    "container-no-default-route",
    "container-route-bypass",
  ]],
  [/invalid argument/i, ["route-rejects", "policy-route", "rp-filter-strict"]],
];

/** Every static id that can explain packets that arrive and go nowhere. */
const ROUTING_IDS: readonly FindingId[] = [
  "forwarding-off",
  "rp-filter-strict",
  "uplink-down",
  "vxlan-device-down",
  "vxlan-device-missing",
  "peer-mode-stale",
  "policy-route",
  "route-rejects",
  "peer-route-missing",
  "route-wrong-host",
  "route-overlap",
  "no-route",
  "container-no-address",
  "container-down",
  "container-no-default-route",
  "container-route-bypass",
  "bridge-down",
  "bridge-no-address",
  "mtu-container",
  "mtu-bridge-over-uplink",
  "vxlan-mtu",
];

function notRouted(input: CauseInput, stop: Stop & { kind: "not-routed" }): Finding {
  const side = sideOf(input, stop.role);
  const said = stop.route?.error;
  const evidence = [
    ...(stop.route ? [`${stop.route.query}: ${said ?? JSON.stringify(stop.route.route)}`] : []),
    ...stop.counters.map(([name, delta]) => `counter ${name} +${delta} during the probe`),
    `trace: the echo ${plural(stop.direction)} reached ${
      place(stop)
    } and no hook after routing saw them`,
  ];
  const counters = new Set(stop.counters.map(([name]) => name));
  const byCounter: FindingId[] = [
    ...(counters.has("IpInAddrErrors") ? ["forwarding-off" as const] : []),
    ...(counters.has("TcpExtIPReversePathFilter") ? ["rp-filter-strict" as const] : []),
    ...(counters.has("IpFragFails")
      ? ["vxlan-mtu" as const, "mtu-container" as const, "mtu-bridge-over-uplink" as const]
      : []),
  ];
  const byWords = NOT_ROUTED.find(([re]) => said !== undefined && re.test(said))?.[1] ?? [];
  const container: FindingId[] = stop.role === "source" || stop.role === "destination"
    ? ["container-no-address", "container-down", "container-no-default-route"]
    : [];
  const found = staticFinding(side, [...container, ...byCounter, ...byWords, ...ROUTING_IDS]);
  if (found && side) return promote(found, side, evidence);
  const lookup = side && lookupRoute(side.ctx.obs.host, parseAddress(input.dst));
  const rejecting = lookup?.kind === "rejected" ? lookup.route : undefined;
  if (side && rejecting) {
    return {
      id: "route-rejects",
      severity: "error",
      stage: "route",
      ...(stop.netns === undefined ? {} : { where: stop.netns }),
      summary: `a ${rejecting.type} route on ${
        place(stop)
      } covers ${input.dst}: the kernel refuses to send there`,
      evidence: [...evidence, formatRoute(rejecting)],
      fix: fixFor(side.netns, [`ip route del ${rejecting.type} ${formatPrefix(rejecting.dst)}`]),
    };
  }
  const fallback = anyStaticError([side, input.here, input.peer]);
  if (fallback) return promote(fallback.f, fallback.side, evidence);
  return {
    id: "no-route",
    severity: "error",
    stage: "route",
    ...(stop.netns === undefined ? {} : { where: stop.netns }),
    summary: `${place(stop)} does not route the probe's echo ${plural(stop.direction)}${
      said ? `: the kernel says "${said}"` : ""
    }`,
    evidence,
    fix: [
      `# see why: ${stop.route?.query ?? "ip route get"}${stop.netns ? ` (in ${stop.netns})` : ""}`,
    ],
  };
}

/**
 * Static ids that explain packets that left a host through its VXLAN device and never arrived:
 * the sender's first, then the receiver's.
 */
const TUNNEL_SENDER_IDS: readonly FindingId[] = [
  "vxlan-device-mismatch",
  "vxlan-neighbour-missing",
  "vxlan-neighbour-wrong",
  "vxlan-fdb-missing",
  "vxlan-fdb-wrong",
  "vxlan-udp-dropped",
  "peer-mode-stale",
];
const TUNNEL_RECEIVER_IDS: readonly FindingId[] = [
  "vxlan-udp-dropped",
  "vxlan-device-missing",
  "vxlan-device-down",
  "vxlan-device-mismatch",
];

/** Static ids on the sending side of a link that explain frames that never arrive. */
const SENDER_LINK_IDS: readonly FindingId[] = [
  "route-overlap",
  "route-wrong-host",
  "policy-route",
  "neighbour-wrong",
  "gateway-unreachable",
  "address-duplicate",
  "mtu-container",
  "mtu-bridge-over-uplink",
  "uplink-down",
];
/** Static ids on the receiving side of a link. */
const RECEIVER_LINK_IDS: readonly FindingId[] = [
  "uplink-down",
  "arp-ignored",
  "bridge-down",
  "veth-down",
  "veth-detached",
  "container-down",
  "container-no-address",
  "address-duplicate",
  "neighbour-wrong",
  "mtu-container",
];

/**
 * Whether the packets left `sender` through its VXLAN device: they left by it (or were seen in
 * VXLAN there), or hg's route for their destination goes through it.
 */
function throughTunnel(input: CauseInput, stop: Stop, sender: Side): boolean {
  const facts = vxlanFacts(sender.ctx);
  const device = facts.device?.ifname;
  if (device === undefined) return false;
  const target = parseAddress(stop.direction === "request" ? input.dst : input.src);
  const oif = "oif" in stop ? stop.oif : undefined;
  return oif === device || facts.routes.some((r) => prefixContains(r.dst, target));
}

/** Neighbour discovery's packets: IPv6's neighbour solicitations and advertisements. */
const NDP_TYPES = new Set(["nd-neighbor-solicit", "nd-neighbor-advert"]);

/** ARP, or IPv6's neighbour discovery, dropped by a rule in a namespace during the probe. */
function arpDrop(result: ProbeResult, netns: string | undefined): Pass | undefined {
  const ns = result.namespaces.find((n) => n.netns === netns && n.trace);
  if (!ns?.trace) return undefined;
  return tracePasses(ns.trace.events, ns.trace.hooks).find((p) =>
    (p.family === "arp" || NDP_TYPES.has(p.packet.icmpType ?? "")) && !p.probe &&
    p.verdict === "drop"
  );
}

function neighbourEvidence(result: ProbeResult): { failed: boolean; lines: string[] } {
  const hop = result.nextHop;
  if (!hop) return { failed: false, lines: [] };
  const ns = result.namespaces.find((n) => n.role === "this host");
  const after = ns?.trace?.after.neighbours.find((n) =>
    formatAddress(n.dst) === hop.address && n.dev === hop.dev
  );
  const state = after?.state ?? [];
  const failed = state.some((s) => s === "FAILED" || s === "INCOMPLETE" || s === "PROBE");
  return {
    failed,
    lines: [
      `neighbour ${hop.address} dev ${hop.dev}: ${
        hop.before?.state.join(",") ?? "no entry"
      } before the probe${hop.probed ? " (made to probe again)" : ""}, ${
        state.join(",") || "no entry"
      } after${after?.probes === undefined ? "" : ` (${after.probes} probes)`}`,
    ],
  };
}

function notDelivered(input: CauseInput, stop: Stop & { kind: "not-delivered" }): Finding {
  const sender = sideOf(input, stop.role);
  const receiver = sideOf(input, stop.next);
  const neighbour = stop.role === "this host" ? neighbourEvidence(input.result) : undefined;
  const evidence = [
    `trace: the echo ${plural(stop.direction)} left ${place(stop)}${
      stop.oif ? ` by ${stop.oif}` : ""
    }; ${stop.next}${stop.nextNetns ? ` (${stop.nextNetns})` : ""} never saw them`,
    ...(neighbour?.lines ?? []),
  ];
  const arp = arpDrop(input.result, stop.nextNetns);
  // IPv6's neighbour discovery dropped there: the static finding says which rule and what.
  const ndp = arp && arp.family !== "arp" ? staticFinding(receiver, ["ndp-filtered"]) : undefined;
  if (arp && ndp && receiver) return promote(ndp, receiver, [traceLine(arp), ...evidence]);
  if (arp) {
    return dropped(input, {
      direction: stop.direction,
      role: stop.next,
      ...(stop.nextNetns === undefined ? {} : { netns: stop.nextNetns }),
      kind: "dropped",
      pass: arp,
    });
  }
  // Through a VXLAN device: the tunnel's own faults first.
  const tunnel = sender !== undefined && throughTunnel(input, stop, sender);
  const viaTunnel = tunnel
    ? staticFinding(sender, TUNNEL_SENDER_IDS) ?? staticFinding(receiver, TUNNEL_RECEIVER_IDS)
    : undefined;
  if (viaTunnel) {
    return promote(viaTunnel, sender!.findings.includes(viaTunnel) ? sender! : receiver!, evidence);
  }
  const wrong = wrongNextHop(input, stop, sender, evidence);
  if (wrong) return wrong;
  const arpOff = stop.role === "this host" ? peerArpOff(input, evidence) : undefined;
  if (arpOff) return arpOff;
  const staticMac = wrongStaticMac(stop, sender, receiver, evidence);
  if (staticMac) return staticMac;
  const found = staticFinding(sender, SENDER_LINK_IDS.slice(0, 4)) ??
    staticFinding(receiver, RECEIVER_LINK_IDS) ??
    staticFinding(sender, SENDER_LINK_IDS);
  if (found) {
    const side = sender && sender.findings.includes(found) ? sender : receiver!;
    return promote(found, side, evidence);
  }
  if (neighbour?.failed) return gatewaySilent(input, evidence);
  const fallback = anyStaticError([sender, receiver]);
  if (fallback) return promote(fallback.f, fallback.side, evidence);
  return lost(input, stop, evidence);
}

/**
 * The packets left a host for another next hop than the host that has the destination (a
 * narrower route, a policy rule, a packet mark): the kernel's route answer shows it.
 */
function wrongNextHop(
  input: CauseInput,
  stop: Stop,
  sender: Side | undefined,
  evidence: readonly string[],
): Finding | undefined {
  if (!sender || (stop.role !== "this host" && stop.role !== "peer host")) return undefined;
  const ns = input.result.namespaces.find((n) => n.role === stop.role);
  const answer = ns?.routes[stop.direction === "request" ? 0 : 1];
  const gateway = answer?.route?.gateway;
  const expected = stop.direction === "request" ? input.peerAddress : (() => {
    const self = selfAddress(input.here.ctx);
    return self ? formatAddress(self) : undefined;
  })();
  if (typeof gateway !== "string" || !expected || gateway === expected) return undefined;
  // hg's VXLAN routes go via the peer subnet's network address on the device: as expected.
  const target = stop.direction === "request" ? input.dst : input.src;
  const tunnel = vxlanFacts(sender.ctx);
  if (
    tunnel.device !== undefined && answer!.route!.dev === tunnel.device.ifname &&
    tunnel.routes.some((r) =>
      r.gateway !== undefined && formatAddress(r.gateway) === gateway &&
      prefixContains(r.dst, parseAddress(target))
    )
  ) return undefined;
  const more = [...evidence, `${answer!.query}: via ${gateway}, not ${expected}`];
  const mark = markedRule(input, sender, ns!.netns, stop.role);
  const found = mark
    ? undefined
    : staticFinding(sender, ["route-overlap", "route-wrong-host", "policy-route"]);
  if (found) return promote(found, sender, more);
  const table = answer!.route!.table;
  if ((table !== undefined && table !== "main") || mark) {
    return {
      id: "policy-route",
      severity: "error",
      stage: "route",
      ...(sender.netns === undefined ? {} : { where: sender.netns }),
      summary:
        `a policy rule on ${place(stop)} sends the probe's echo ${
          plural(stop.direction)
        } to ${target} ` +
        `by table ${table ?? "?"} via ${gateway}, not to ${expected}`,
      evidence: [...more, ...(mark ? [`ip rule: ${mark.text}`] : [])],
      fix: mark
        ? fixFor(sender.netns, [`ip rule del pref ${mark.priority}`])
        : [`# find the rule: ip rule show; ip route show table ${table}`],
    };
  }
  const route = sender.ctx.obs.host.routes
    .filter((r) =>
      r.gateway && formatAddress(r.gateway) === gateway &&
      prefixContains(r.dst, parseAddress(target))
    )
    .sort((a, b) => b.dst.length - a.dst.length)[0];
  return {
    id: "route-overlap",
    severity: "error",
    stage: "route",
    ...(sender.netns === undefined ? {} : { where: sender.netns }),
    summary:
      `${place(stop)} sends the probe's echo ${
        plural(stop.direction)
      } to ${target} via ${gateway}, ` +
      `not to ${expected}, the host that has it`,
    evidence: [...more, ...(route ? [formatRoute(route)] : [])],
    fix: route
      ? fixFor(sender.netns, [`ip route del ${formatPrefix(route.dst)} via ${gateway}`])
      : [`# see which route: ${answer!.query}`],
  };
}

/** A fwmark rule matching the mark the trace shows on the probe's packets in that namespace. */
function markedRule(input: CauseInput, side: Side, netns: string | undefined, role: Stop["role"]) {
  const ns = input.result.namespaces.find((n) => n.role === role && n.netns === netns);
  if (!ns?.trace) return undefined;
  const marks = new Set(
    tracePasses(ns.trace.events, ns.trace.hooks).flatMap((p) => markOf(p) ?? []),
  );
  return side.ctx.obs.rules
    ?.filter((r) => r.fwmark && [...marks].some((m) => (m & r.fwmark!.mask) === r.fwmark!.mark))
    .sort((a, b) => a.priority - b.priority)[0];
}

/** The peer host's uplink has ARP off: it never answers who has its address. */
function peerArpOff(input: CauseInput, evidence: readonly string[]): Finding | undefined {
  const peer = input.peer;
  const link = peer?.ctx.obs.host.links.find((l) => l.ifname === peer.ctx.uplink);
  if (!peer || !link?.noArp) return undefined;
  return {
    id: "gateway-unreachable",
    severity: "error",
    stage: "gateway",
    where: peer.netns,
    summary:
      `${
        input.peerAddress ?? "the peer host"
      }, the next hop to ${input.dst}, does not answer ARP: ` +
      `ARP is off on its ${link.ifname}`,
    evidence: [...evidence, `${peer.netns}: ${link.ifname} has the NOARP flag`],
    fix: fixFor(peer.netns, [`ip link set ${link.ifname} arp on`]),
  };
}

/**
 * A static (PERMANENT) neighbour entry on the sending side for the next hop, whose MAC is not
 * the one the receiving side's interface with that address has: frames go to nobody.
 */
function wrongStaticMac(
  stop: Stop,
  sender: Side | undefined,
  receiver: Side | undefined,
  evidence: readonly string[],
): Finding | undefined {
  if (!sender || !receiver) return undefined;
  // The VXLAN device's entries name VTEP MACs; checks/vxlan.ts judges them.
  const tunnel = vxlanFacts(sender.ctx).device?.ifname;
  for (const n of sender.ctx.obs.neighbours) {
    if (!n.state.includes("PERMANENT") || !n.lladdr || n.dev === tunnel) continue;
    const address = formatAddress(n.dst);
    const holder = receiver.ctx.obs.host.addresses.find((l) =>
      l.addresses.some((a) => formatAddress(a.address) === address)
    );
    const mac = holder && receiver.ctx.obs.host.links.find((l) => l.ifname === holder.ifname)?.mac;
    if (!mac || mac.toLowerCase() === n.lladdr.toLowerCase()) continue;
    return {
      id: "neighbour-wrong",
      severity: "error",
      stage: "gateway",
      ...(sender.netns === undefined ? {} : { where: sender.netns }),
      summary:
        `a static neighbour entry on ${place(stop)} sends frames for ${address} to ${n.lladdr}, ` +
        `but ${address} is ${holder!.ifname} with ${mac}`,
      evidence: [...evidence, `ip neigh: ${address} dev ${n.dev} lladdr ${n.lladdr} PERMANENT`],
      fix: fixFor(sender.netns, [`ip neigh del ${address} dev ${n.dev}`]),
    };
  }
  return undefined;
}

function gatewaySilent(input: CauseInput, evidence: readonly string[]): Finding {
  const hop = input.result.nextHop!;
  return {
    id: "gateway-unreachable",
    severity: "error",
    stage: "gateway",
    summary: `${hop.address}, the next hop to ${input.dst}, does not answer ${
      hop.address.includes(":") ? "neighbour solicitations" : "ARP"
    } on ${hop.dev}`,
    explanation:
      "The neighbour entry was made to probe again and no answer came: the host is down, has another address, " +
      "or is not on this segment.",
    evidence,
    fix: [
      `# check the host at ${hop.address} is up and on this segment: ip neigh show ${hop.address}`,
    ],
  };
}

function lost(input: CauseInput, stop: Stop, evidence: readonly string[]): Finding {
  const there = input.peerAddress ?? "the next hop";
  return {
    id: "probe-lost",
    severity: "error",
    stage: "return",
    summary:
      `the probe's echo ${plural(stop.direction)} left ${
        place(stop)
      } toward ${there} and no reply came back: ` +
      "the cause is beyond what this machine can watch",
    evidence,
    fix: [`# run doctor on the host at ${there}: hg doctor --to ${input.src}`],
  };
}

function notAnswered(input: CauseInput, stop: Stop & { kind: "not-answered" }): Finding {
  const side = sideOf(input, stop.role);
  const evidence = [
    `trace: the echo requests reached ${place(stop)}'s input hook; no echo reply left it`,
    ...stop.counters.map(([name, delta]) => `counter ${name} +${delta} during the probe`),
  ];
  const found = staticFinding(side, ["echo-ignored", "firewall-undecided"]);
  if (found && side) return promote(found, side, evidence);
  const fallback = anyStaticError([side]);
  if (fallback) return promote(fallback.f, fallback.side, evidence);
  return lost(input, stop, evidence);
}

function notSent(input: CauseInput, stop: Stop & { kind: "not-sent" }): Finding {
  const evidence = [`ping in the source container: ${stop.reason}`];
  // "message too long": the container learned a smaller path MTU from an earlier packet.
  const tooLong = /message too long/i.test(stop.reason);
  const found = staticFinding(input.here, [
    ...(tooLong ? ["vxlan-mtu", "mtu-container", "mtu-bridge-over-uplink"] as const : []),
    "container-route-bypass",
    "container-no-default-route",
    "container-no-address",
    "container-down",
  ]);
  if (found) return promote(found, input.here, evidence);
  return {
    id: "probe-lost",
    severity: "error",
    stage: "container",
    summary: `the source container could not send the probe: ${stop.reason}`,
    evidence,
    fix: [],
  };
}

/**
 * The finding that names why the probe failed.
 *
 * @example
 * ```ts
 * import type { Stop } from "../probe/path.ts";
 * import type { ProbeResult } from "../probe/probe.ts";
 * declare const stop: Stop, result: ProbeResult, here: Side;
 * const cause = probeCause({ stop, result, here, src: "1.1.1.2", dst: "1.1.2.2" });
 * ```
 */
export function probeCause(input: CauseInput): Finding {
  const stop = input.stop;
  switch (stop.kind) {
    case "dropped":
      return dropped(input, stop);
    case "rewritten":
      return rewritten(stop);
    case "not-routed":
      return notRouted(input, stop);
    case "not-delivered":
      return notDelivered(input, stop);
    case "not-answered":
      return notAnswered(input, stop);
    case "not-sent":
      return notSent(input, stop);
    case "unwatched": {
      const neighbour = neighbourEvidence(input.result);
      const evidence = [
        `trace: the echo requests left this host${
          stop.oif ? ` by ${stop.oif}` : ""
        }; no reply came back`,
        ...neighbour.lines,
      ];
      const found = staticFinding(input.here, [
        ...(throughTunnel(input, stop, input.here) ? TUNNEL_SENDER_IDS : []),
        "neighbour-wrong",
        "route-overlap",
        "route-wrong-host",
        "policy-route",
        "gateway-unreachable",
      ]);
      if (found) return promote(found, input.here, evidence);
      const wrong = wrongNextHop(input, stop, input.here, evidence) ??
        peerArpOff(input, evidence) ??
        wrongStaticMac(stop, input.here, input.peer, evidence);
      if (wrong) return wrong;
      if (neighbour.failed) return gatewaySilent(input, evidence);
      const fallback = anyStaticError([input.here, input.peer]);
      if (fallback) return promote(fallback.f, fallback.side, evidence);
      return lost(input, stop, evidence);
    }
  }
}
