/**
 * The packet doctor follows through a host's firewall: a container's ping being forwarded.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";

/** A forwarded IPv4 ICMP echo request (the first packet of a ping: conntrack state NEW). */
export interface ForwardedPacket {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** The interface it came in on. */
  readonly iif: string;
  /** The interface it leaves by. */
  readonly oif: string;
}

/** What a firewall does with the packet, and the rule or policy that decided it. */
export interface FirewallVerdict {
  readonly accepted: boolean;
  /** The rule or chain policy that decided, as the firewall prints it. */
  readonly decidedBy?: string;
  /** Rules doctor could not evaluate (matches it does not model) on the way, skipped. */
  readonly skipped: readonly string[];
}

/**
 * Whether an interface name matches an iptables/nft interface pattern (`docker+`, `eth*`).
 *
 * @example
 * ```ts
 * interfaceMatches("docker+", "docker0"); // true
 * ```
 */
export function interfaceMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith("+") || pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
