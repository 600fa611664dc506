/**
 * The packets doctor follows through a host's firewall: a container's ping being forwarded, and
 * the UDP packets that carry VXLAN between the hosts.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";

/**
 * A packet as a firewall sees it, the first of its flow (conntrack state NEW): an ICMP echo
 * request of its addresses' family (the default), another ICMPv6 message (neighbour discovery's),
 * or a UDP packet to a port.
 */
export interface Packet {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** The interface it came in on; none for a packet this host sends. */
  readonly iif?: string;
  /** The interface it leaves by; none for a packet this host takes in. */
  readonly oif?: string;
  /** Its protocol (default: ICMP of its family, icmp or icmpv6). */
  readonly protocol?: "icmp" | "icmpv6" | "udp";
  /**
   * Its ICMP type (`135`: a neighbour solicitation); default: an echo request when the
   * protocol is the default.
   */
  readonly icmpType?: number;
  /** UDP's destination port. */
  readonly dport?: number;
  /** UDP's source port; undefined: not known (VXLAN's is a hash of the inner flow). */
  readonly sport?: number;
}

/** A forwarded ICMP echo request (the first packet of a ping: conntrack state NEW). */
export interface ForwardedPacket extends Packet {
  readonly iif: string;
  readonly oif: string;
}

/**
 * The protocol of `p`: its own, else ICMP of its family.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * packetProtocol({ src: parseAddress("fd00:1:1::2"), dst: parseAddress("fd00:1:2::2") }); // "icmpv6"
 * ```
 */
export function packetProtocol(p: Packet): "icmp" | "icmpv6" | "udp" {
  return p.protocol ?? (p.src.family === 6 ? "icmpv6" : "icmp");
}

/** The ICMP type of `p`, when it is an ICMP packet whose type is known. */
export function packetIcmpType(p: Packet): number | undefined {
  if (p.icmpType !== undefined) return p.icmpType;
  if (p.protocol !== undefined) return undefined;
  return p.src.family === 6 ? 128 : 8;
}

/**
 * The protocol names and numbers that a packet `p` matches (`all` matches all): ip6tables prints
 * `ipv6-icmp`, nft `ipv6-icmp` or `icmpv6`.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * protocolNames({ src: parseAddress("10.0.0.1"), dst: parseAddress("10.0.0.2") }); // ["icmp", "1", "all"]
 * ```
 */
export function protocolNames(p: Packet): readonly string[] {
  switch (packetProtocol(p)) {
    case "udp":
      return ["udp", "17", "all"];
    case "icmpv6":
      return ["ipv6-icmp", "icmpv6", "58", "all"];
    default:
      return ["icmp", "1", "all"];
  }
}

/** ICMPv6 types by the names nft and ip6tables print and take. */
export const ICMPV6_TYPES: Readonly<Record<string, number>> = {
  "destination-unreachable": 1,
  "packet-too-big": 2,
  "time-exceeded": 3,
  "parameter-problem": 4,
  "echo-request": 128,
  "echo-reply": 129,
  "mld-listener-query": 130,
  "mld-listener-report": 131,
  "mld-listener-done": 132,
  "mld-listener-reduction": 132,
  "nd-router-solicit": 133,
  "router-solicitation": 133,
  "nd-router-advert": 134,
  "router-advertisement": 134,
  "nd-neighbor-solicit": 135,
  "neighbour-solicitation": 135,
  "neighbor-solicitation": 135,
  "nd-neighbor-advert": 136,
  "neighbour-advertisement": 136,
  "neighbor-advertisement": 136,
  "nd-redirect": 137,
  "redirect": 137,
  "mld2-listener-report": 143,
};

/** A port match: single ports and ranges (inclusive). */
export type PortSet = readonly (readonly [number, number])[];

/**
 * Whether a port match holds for `port`: undefined when the port is not known, so the rule
 * cannot be evaluated.
 */
export function portMatches(set: PortSet, port: number | undefined): boolean | undefined {
  if (port === undefined) return undefined;
  return set.some(([low, high]) => port >= low && port <= high);
}

/**
 * A rule on the packet's way that doctor could not evaluate (a match or statement it does not
 * model), and what it would do to the packet if it matched: accept it, drop it, or either
 * (a jump, a return, a queue to a program).
 */
export interface SkippedRule {
  readonly text: string;
  readonly could: "accept" | "drop" | "either";
}

/** What a firewall does with the packet, and the rule or policy that decided it. */
export interface FirewallVerdict {
  readonly accepted: boolean;
  /** The rule or chain policy that decided, as the firewall prints it. */
  readonly decidedBy?: string;
  /** Rules doctor could not evaluate on the way, skipped (those that change nothing are left out). */
  readonly skipped: readonly SkippedRule[];
}

/**
 * The skipped rules that could have turned the verdict around: an accept reached past rules
 * that might drop, or a drop reached past rules that might accept. None: the verdict holds
 * whatever those rules match.
 *
 * @example
 * ```ts
 * const doubts = verdictDoubts({ accepted: false, skipped: [{ text: "-A FORWARD -m set --match-set ok src -j ACCEPT", could: "accept" }] });
 * doubts.length; // 1
 * ```
 */
export function verdictDoubts(v: FirewallVerdict): string[] {
  return v.skipped.filter((s) => s.could === "either" || (s.could === "accept") !== v.accepted)
    .map((s) => s.text);
}

/**
 * Whether an interface name matches an iptables/nft interface pattern (`docker+`, `eth*`).
 *
 * @example
 * ```ts
 * interfaceMatches("docker+", "docker0"); // true
 * ```
 */
export function interfaceMatches(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  if (pattern.endsWith("+") || pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
