/**
 * Neighbour discovery through the firewall: IPv6 finds a neighbour's MAC address with ICMPv6
 * neighbour solicitations (type 135, to the target's solicited-node multicast address) and
 * advertisements (136), which the host takes in (prerouting, input) and sends (output,
 * postrouting) like any packet of its own. A rule that drops them (a drop of type 135 or 136,
 * of all ICMPv6, a policy drop) on the uplink keeps the hosts from finding each other, and on
 * the bridge keeps the containers from finding their gateway: no IPv6 packet gets through,
 * although the routes are right. A drop of echo requests only leaves neighbour discovery alone.
 * (The containers' own firewalls are not read.)
 *
 * @module
 */
import { formatAddress, type IpAddress, parseAddress } from "../../net/address.ts";
import { addressEquals } from "../../net/address.ts";
import type { DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { type Packet, verdictDoubts } from "../packet.ts";
import { type FirewallPath, pathVerdict } from "./filters.ts";

const SOLICIT = 135;
const ADVERT = 136;

/**
 * The solicited-node multicast address of `a` (ff02::1:ff and its last 24 bits): where a
 * neighbour solicitation for `a` goes.
 *
 * @example
 * ```ts
 * import { formatAddress, parseAddress } from "../../net/address.ts";
 * formatAddress(solicitedNode(parseAddress("fd00:12::12"))); // "ff02::1:ff00:12"
 * ```
 */
export function solicitedNode(a: IpAddress): IpAddress {
  const base = parseAddress("ff02::1:ff00:0").value;
  return { family: 6, value: base | (a.value & 0xffffffn) };
}

/** One neighbour discovery exchange on an interface: who asks whom, seen from this host. */
interface Exchange {
  readonly ifname: string;
  /** This host's address there, and the other side's. */
  readonly self: IpAddress;
  readonly other: IpAddress;
  /** Words for the other side ("the hosts at fd00:12::12", "the containers"). */
  readonly who: string;
}

/** The packets of an exchange: solicitations and advertisements, each way. */
function packets(e: Exchange): { packet: Packet; path: FirewallPath; what: string }[] {
  const inbound = { iif: e.ifname };
  const outbound = { oif: e.ifname };
  return [
    {
      packet: {
        src: e.other,
        dst: solicitedNode(e.self),
        ...inbound,
        protocol: "icmpv6",
        icmpType: SOLICIT,
      },
      path: "input",
      what: `neighbour solicitations from ${e.who} on ${e.ifname}`,
    },
    {
      packet: { src: e.other, dst: e.self, ...inbound, protocol: "icmpv6", icmpType: ADVERT },
      path: "input",
      what: `neighbour advertisements from ${e.who} on ${e.ifname}`,
    },
    {
      packet: {
        src: e.self,
        dst: solicitedNode(e.other),
        ...outbound,
        protocol: "icmpv6",
        icmpType: SOLICIT,
      },
      path: "output",
      what: `this host's neighbour solicitations to ${e.who} on ${e.ifname}`,
    },
    {
      packet: { src: e.self, dst: e.other, ...outbound, protocol: "icmpv6", icmpType: ADVERT },
      path: "output",
      what: `this host's neighbour advertisements to ${e.who} on ${e.ifname}`,
    },
  ];
}

/** The exchanges this host takes part in: with its peers on the uplink, its containers on the bridge. */
function exchanges(ctx: DoctorContext): Exchange[] {
  const list: Exchange[] = [];
  const uplinkAddress = ctx.obs.host.addresses.find((l) => l.ifname === ctx.uplink)?.addresses
    .find((a) => a.address.family === 6 && a.scope === "global")?.address;
  const peers = [
    ...ctx.hgRoutes.flatMap((r) => r.gateway ? [r.gateway] : []),
    ...ctx.leases.filter((l) => l !== ctx.ownLease).map((l) => l.attrs.publicIp),
  ].filter((a, i, all) => all.findIndex((b) => addressEquals(a, b)) === i);
  if (ctx.uplink && uplinkAddress && peers.length > 0) {
    list.push({
      ifname: ctx.uplink,
      self: uplinkAddress,
      other: peers[0],
      who: peers.length === 1
        ? `the peer at ${formatAddress(peers[0])}`
        : `the peers (${peers.slice(0, 3).map(formatAddress).join(", ")}${
          peers.length > 3 ? ", ..." : ""
        })`,
    });
  }
  const gateway = ctx.bridge?.gateway?.address;
  const container = ctx.containers[0];
  if (gateway && container) {
    list.push({
      ifname: ctx.obs.bridge,
      self: gateway,
      other: container.address,
      who: "the containers",
    });
  }
  return list;
}

function fix(v: ReturnType<typeof pathVerdict>, path: FirewallPath): string[] {
  if (v.layer === "iptables") {
    const chain = path === "input" ? "INPUT" : "OUTPUT";
    return [
      `ip6tables -I ${chain} 1 -p ipv6-icmp --icmpv6-type ${ADVERT} -j ACCEPT`,
      `ip6tables -I ${chain} 1 -p ipv6-icmp --icmpv6-type ${SOLICIT} -j ACCEPT`,
    ];
  }
  // `inet t c: rule...` or `inet t c: policy drop (hook input)`: accept first in that chain.
  const [family, table, chain] = (v.decidedBy ?? "").split(/[ :]+/);
  return [
    `nft insert rule ${family} ${table} ${chain} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept`,
  ];
}

/**
 * Firewall rules of this host that drop neighbour discovery with its peers (on the uplink) or
 * its containers (on the bridge): one finding per rule, naming what it drops. Only for a host
 * that carries IPv6 (the IPv6 view's `ctx`).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx6: DoctorContext;
 * checkNdpFilter(ctx6)[0]?.summary;
 * ```
 */
export function checkNdpFilter(ctx: DoctorContext): Finding[] {
  const byRule = new Map<
    string,
    { what: string[]; v: ReturnType<typeof pathVerdict>; path: FirewallPath; doubts: string[] }
  >();
  for (const e of exchanges(ctx)) {
    for (const { packet, path, what } of packets(e)) {
      const v = pathVerdict(ctx, packet, path);
      const doubts = verdictDoubts(v);
      if (v.accepted && doubts.length === 0) continue;
      const key = `${v.layer ?? ""} ${v.decidedBy ?? ""} ${v.accepted}`;
      const seen = byRule.get(key);
      if (seen) seen.what.push(what);
      else byRule.set(key, { what: [what], v, path, doubts });
    }
  }
  return [...byRule.values()].map(({ what, v, path, doubts }): Finding => {
    const list = what.join("; ");
    const evidence = [
      ...(v.decidedBy ? [`${v.layer === "iptables" ? "ip6tables" : v.layer}: ${v.decidedBy}`] : []),
      ...doubts.slice(0, 5).map((r) => `not evaluated: ${r}`),
    ];
    if (doubts.length > 0) {
      return {
        id: "ndp-filtered",
        severity: "undecided",
        stage: "firewall",
        summary: `the firewall ${
          v.accepted ? "lets through" : "drops"
        } ${list}, unless one of ${doubts.length} rules doctor cannot evaluate ${
          v.accepted ? "drops" : "accepts"
        } them first`,
        evidence,
        fix: [
          "# see what the kernel does with them: hg doctor --to AN-IPV6-ADDRESS (its probe traces them)",
        ],
      };
    }
    return {
      id: "ndp-filtered",
      severity: "error",
      stage: "firewall",
      summary:
        `the firewall drops ${list}: IPv6 neighbours are never found, so no IPv6 packet gets through`,
      explanation:
        "IPv6 finds a neighbour's MAC address with ICMPv6 neighbour solicitations (type 135) and advertisements " +
        "(136), as IPv4 does with ARP; a firewall that drops them leaves the neighbour INCOMPLETE and every " +
        "packet for it is lost. Drop echo requests if you must, never these.",
      evidence,
      fix: fix(v, path),
    };
  });
}
