/**
 * Checks of what filters forwarded packets: the firewall's forward path (iptables and native
 * nftables) and strict reverse-path filtering with asymmetric routes.
 *
 * @module
 */
import { sysctlCommand } from "../../sysctl/sysctl.ts";
import { formatAddress } from "../../net/address.ts";
import { formatPrefix, hostAt } from "../../net/prefix.ts";
import { formatRoute } from "../../ip/route.ts";
import { onLinkInterface } from "../../peers/onlink.ts";
import type { DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { chainVerdict } from "../iptables.ts";
import { nftHookVerdict } from "../nft.ts";
import {
  type FirewallVerdict,
  type ForwardedPacket,
  type Packet,
  type SkippedRule,
  verdictDoubts,
} from "../packet.ts";

/**
 * The nft tables iptables-nft and ip6tables-nft manage: read through iptables-save (the IPv6
 * view's `iptables` is ip6tables-save's), not twice.
 */
const IPTABLES_NFT_TABLES = new Set(["ip filter", "ip6 filter"]);

/** Which way a packet goes through a host: forwarded, taken in, or sent by the host itself. */
export type FirewallPath = "forward" | "input" | "output";

const CHAIN = { forward: "FORWARD", input: "INPUT", output: "OUTPUT" } as const;
const HOOKS = {
  forward: ["forward"],
  input: ["prerouting", "input"],
  output: ["output", "postrouting"],
} as const;

/** Both firewalls' verdict on `packet`: the first that drops it, else accepted. */
export function firewallVerdict(
  ctx: DoctorContext,
  packet: ForwardedPacket,
): FirewallVerdict & { layer?: string } {
  return pathVerdict(ctx, packet, "forward");
}

/**
 * Both firewalls' verdict on `packet` on its `path` through this host (iptables' chain, and
 * nftables' base chains of the hooks it passes): the first that drops it, else accepted.
 */
export function pathVerdict(
  ctx: DoctorContext,
  packet: Packet,
  path: FirewallPath,
): FirewallVerdict & { layer?: string } {
  const { iptables, nft } = ctx.obs.firewall;
  const skipped: SkippedRule[] = [];
  if (iptables) {
    const v = chainVerdict(iptables, CHAIN[path], packet);
    skipped.push(...v.skipped);
    if (!v.accepted) return { ...v, layer: "iptables" };
  }
  if (nft) {
    const v = nftHookVerdict(nft, packet, HOOKS[path], iptables ? IPTABLES_NFT_TABLES : new Set());
    skipped.push(...v.skipped);
    if (!v.accepted) return { ...v, skipped, layer: "nft" };
  }
  return { accepted: true, skipped };
}

/** The packets the whole-host check sends through the firewall: out to a peer and back in. */
function samplePackets(ctx: DoctorContext): ForwardedPacket[] {
  const bridge = ctx.obs.bridge;
  const local = ctx.containers[0]?.address ?? (ctx.subnet ? hostAt(ctx.subnet, 2) : undefined);
  const route = ctx.hgRoutes[0];
  const subnet = route?.dst ?? ctx.leases.find((l) => l !== ctx.ownLease)?.subnet;
  const oif = route?.dev ?? ctx.uplink;
  if (!local || !subnet || !oif) return [];
  const remote = hostAt(subnet, 2);
  return [
    { src: local, dst: remote, iif: bridge, oif },
    { src: remote, dst: local, iif: oif, oif: bridge },
  ];
}

function firewallFix(ctx: DoctorContext, v: FirewallVerdict & { layer?: string }): string[] {
  const net = ctx.clusterNetwork ? formatPrefix(ctx.clusterNetwork) : "CLUSTER-NETWORK";
  const v6 = ctx.family === 6;
  if (v.layer === "iptables") {
    const iptables = v6 ? "ip6tables" : "iptables";
    return [
      `${iptables} -I FORWARD 1 -s ${net} -j ACCEPT`,
      `${iptables} -I FORWARD 1 -d ${net} -j ACCEPT`,
    ];
  }
  const [family, table, chain] = (v.decidedBy ?? "").split(/[ :]+/);
  const ip = v6 ? "ip6" : "ip";
  return [
    `nft insert rule ${family} ${table} ${chain} ${ip} saddr ${net} accept`,
    `nft insert rule ${family} ${table} ${chain} ${ip} daddr ${net} accept`,
  ];
}

const describePacket = (p: ForwardedPacket) =>
  `${formatAddress(p.src)} -> ${formatAddress(p.dst)} (in ${p.iif}, out ${p.oif})`;

/**
 * The firewall drops forwarded container traffic (Docker sets FORWARD to DROP); or its verdict
 * rests on rules doctor cannot evaluate, which could turn it around: undecided, neither a
 * problem nor fine.
 */
export function checkFirewall(ctx: DoctorContext, packets?: readonly ForwardedPacket[]): Finding[] {
  const verdicts = (packets ?? samplePackets(ctx)).map((packet) => ({
    packet,
    v: firewallVerdict(ctx, packet),
  }));
  const dropped = verdicts.find(({ v }) => !v.accepted && verdictDoubts(v).length === 0);
  const doubtful = verdicts.find(({ v }) => verdictDoubts(v).length > 0);
  if (dropped) return [dropFinding(ctx, dropped.packet, dropped.v)];
  if (doubtful) return [undecidedFinding(doubtful.packet, doubtful.v)];
  return [];
}

function undecidedFinding(
  packet: ForwardedPacket,
  v: FirewallVerdict & { layer?: string },
): Finding {
  const doubts = verdictDoubts(v);
  const what = describePacket(packet);
  return {
    id: "firewall-undecided",
    severity: "undecided",
    stage: "firewall",
    summary: v.accepted
      ? `the firewall forwards ${what} unless one of ${doubts.length} rules doctor cannot evaluate drops it first`
      : `the firewall drops ${what} unless one of ${doubts.length} rules doctor cannot evaluate accepts it first`,
    explanation:
      "These rules match on things doctor does not model (sets, marks, addresses types, rates, ...): " +
      "only the kernel can tell whether they match this packet (hg doctor's probe traces it).",
    evidence: [
      ...(v.decidedBy ? [`${v.layer ?? "firewall"}: ${v.decidedBy}`] : []),
      ...doubts.slice(0, 5).map((r) => `not evaluated: ${r}`),
      ...(doubts.length > 5 ? [`... and ${doubts.length - 5} more`] : []),
    ],
    fix: [
      `# see what the kernel does with it: nft monitor trace, with "meta nftrace set 1" on the packet`,
    ],
  };
}

function dropFinding(
  ctx: DoctorContext,
  packet: ForwardedPacket,
  v: FirewallVerdict & { layer?: string },
): Finding {
  return {
    id: "firewall-forward-drop",
    severity: "error",
    stage: "firewall",
    summary: `the firewall drops forwarded container traffic: ${describePacket(packet)}`,
    explanation: v.layer === "iptables"
      ? "The FORWARD chain drops it (Docker sets its policy to DROP, and rules appended after a DROP never run)."
      : "An nftables chain on the forward hook drops it; an accept in another chain does not save a packet " +
        "that any base chain drops.",
    evidence: [
      `${v.layer === "iptables" && ctx.family === 6 ? "ip6tables" : v.layer}: ${v.decidedBy}`,
      ...v.skipped.map((r) => `not evaluated: ${r.text}`),
    ],
    fix: firewallFix(ctx, v),
  };
}

/** The effective rp_filter of an interface: the larger of `all` and its own. */
function rpFilter(ctx: DoctorContext, ifname: string): number {
  const get = (name: string) => Number(ctx.obs.sysctl.get(`net.ipv4.conf.${name}.rp_filter`) ?? 0);
  return Math.max(get("all"), get(ifname));
}

/**
 * Strict reverse-path filtering on an interface where peers' packets can arrive, while the route
 * back to them leaves by another interface: the kernel drops those packets on arrival.
 */
export function checkRpFilter(ctx: DoctorContext): Finding[] {
  const host = ctx.obs.host;
  const findings: Finding[] = [];
  for (const link of host.addresses) {
    if (link.ifname === ctx.obs.bridge || rpFilter(ctx, link.ifname) !== 1) continue;
    const asymmetric = ctx.hgRoutes.filter((r) =>
      r.gateway && r.dev !== link.ifname &&
      onLinkInterface({ ...host, addresses: [link] }, r.gateway)
    );
    if (asymmetric.length === 0) continue;
    const value = (name: string) => ctx.obs.sysctl.get(`net.ipv4.conf.${name}.rp_filter`) ?? "?";
    findings.push({
      id: "rp-filter-strict",
      severity: "error",
      stage: "rp_filter",
      summary: `strict rp_filter on ${link.ifname} drops packets from ${
        formatPrefix(asymmetric[0].dst)
      }: they arrive on ${link.ifname} but the route back leaves by ${asymmetric[0].dev}`,
      explanation:
        "With rp_filter=1 the kernel drops a packet when the route back to its source does not leave by the " +
        "interface it came in on. Loose mode (2) only asks that a route back exists.",
      evidence: [
        `net.ipv4.conf.all.rp_filter = ${value("all")}`,
        `net.ipv4.conf.${link.ifname}.rp_filter = ${value(link.ifname)}`,
        ...asymmetric.slice(0, 3).map(formatRoute),
      ],
      fix: [
        sysctlCommand("net.ipv4.conf.all.rp_filter", "2"),
        sysctlCommand(`net.ipv4.conf.${link.ifname}.rp_filter`, "2"),
      ],
    });
  }
  return findings;
}
