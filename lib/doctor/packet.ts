/**
 * The packets doctor follows through a host's firewall: a container's ping being forwarded, and
 * the UDP packets that carry VXLAN between the hosts.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";

/**
 * A packet as a firewall sees it, the first of its flow (conntrack state NEW): an IPv4 ICMP echo
 * request (the default), or a UDP packet to a port.
 */
export interface Packet {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** The interface it came in on; none for a packet this host sends. */
  readonly iif?: string;
  /** The interface it leaves by; none for a packet this host takes in. */
  readonly oif?: string;
  /** Its protocol (default icmp). */
  readonly protocol?: "icmp" | "udp";
  /** UDP's destination port. */
  readonly dport?: number;
  /** UDP's source port; undefined: not known (VXLAN's is a hash of the inner flow). */
  readonly sport?: number;
}

/** A forwarded IPv4 ICMP echo request (the first packet of a ping: conntrack state NEW). */
export interface ForwardedPacket extends Packet {
  readonly iif: string;
  readonly oif: string;
}

/** The protocol names and numbers that a packet of `protocol` matches (`all` matches all). */
export function protocolNames(protocol: Packet["protocol"]): readonly string[] {
  return protocol === "udp" ? ["udp", "17", "all"] : ["icmp", "1", "all"];
}

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
