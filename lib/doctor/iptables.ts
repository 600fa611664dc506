/**
 * The iptables filter table as `iptables-save -t filter` prints it, and the walk of a packet
 * through one of its built-in chains (following jumps into user chains): a forwarded container
 * packet through FORWARD, VXLAN's UDP through INPUT and OUTPUT. Matches doctor does not model
 * make a rule "skipped" (said in the verdict), never a guess.
 *
 * @module
 */
import { parseAddress } from "../net/address.ts";
import { parsePrefix, type Prefix, prefixContains, prefixOf } from "../net/prefix.ts";
import {
  type FirewallVerdict,
  type ForwardedPacket,
  ICMPV6_TYPES,
  interfaceMatches,
  type Packet,
  packetIcmpType,
  packetProtocol,
  portMatches,
  type PortSet,
  protocolNames,
  type SkippedRule,
} from "./packet.ts";

/** One `-A CHAIN ...` rule. */
export interface IptablesRule {
  /** The rule as printed. */
  readonly text: string;
  readonly src?: { readonly prefix: Prefix; readonly negated: boolean };
  readonly dst?: { readonly prefix: Prefix; readonly negated: boolean };
  readonly iif?: { readonly name: string; readonly negated: boolean };
  readonly oif?: { readonly name: string; readonly negated: boolean };
  /** Protocol match (`-p icmp`), if any. */
  readonly protocol?: { readonly name: string; readonly negated: boolean };
  /** Destination port match (`--dport 8472`, `-m multiport --dports 8472,4789`). */
  readonly dport?: { readonly ports: PortSet; readonly negated: boolean };
  /** Source port match. */
  readonly sport?: { readonly ports: PortSet; readonly negated: boolean };
  /** ICMPv6 type match (`-m icmp6 --icmpv6-type 135`). */
  readonly icmpv6Type?: { readonly type: number; readonly negated: boolean };
  /** Conntrack states matched (`-m conntrack --ctstate` or `-m state --state`). */
  readonly states?: readonly string[];
  /** A match doctor does not model: the rule is skipped. */
  readonly unknown?: string;
  /** ACCEPT, DROP, REJECT, RETURN, a user chain, or another target; undefined: none. */
  readonly target?: string;
  /** `-g`: a goto, not a jump. */
  readonly goto: boolean;
}

/** The filter table: each chain's policy (built-in chains) and rules. */
export interface IptablesFilter {
  readonly chains: ReadonlyMap<
    string,
    { readonly policy?: string; readonly rules: readonly IptablesRule[] }
  >;
}

/** Splits a rule line into words, keeping quoted strings (comments) whole. */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

function prefixArg(text: string): Prefix {
  if (text.includes("/")) return parsePrefix(text);
  const address = parseAddress(text);
  return prefixOf(address, address.family === 4 ? 32 : 128);
}

/** `8472`, `1000:2000`, `8472,4789,5000:5010` as port ranges; undefined when it is none. */
function portsArg(text: string): PortSet | undefined {
  const ranges = text.split(",").map((part) => {
    const [low, high = low] = part.split(":");
    return [Number(low === "" ? 0 : low), Number(high === "" ? 65535 : high)] as const;
  });
  return ranges.every(([a, b]) => Number.isInteger(a) && Number.isInteger(b)) ? ranges : undefined;
}

const DPORT = new Set(["--dport", "--destination-port", "--dports", "--destination-ports"]);
const SPORT = new Set(["--sport", "--source-port", "--sports", "--source-ports"]);

function parseRule(text: string): { chain: string; rule: IptablesRule } {
  const w = words(text);
  const chain = w[1];
  const rule: {
    -readonly [K in keyof IptablesRule]: IptablesRule[K];
  } = { text, goto: false };
  let negated = false;
  for (let i = 2; i < w.length; i++) {
    const word = w[i];
    const arg = () => w[++i] ?? "";
    switch (word) {
      case "!":
        negated = true;
        continue;
      case "-s":
        rule.src = { prefix: prefixArg(arg()), negated };
        break;
      case "-d":
        rule.dst = { prefix: prefixArg(arg()), negated };
        break;
      case "-i":
        rule.iif = { name: arg(), negated };
        break;
      case "-o":
        rule.oif = { name: arg(), negated };
        break;
      case "-p":
        rule.protocol = { name: arg(), negated };
        break;
      case "-j":
        rule.target = arg();
        break;
      case "-g":
        rule.target = arg();
        rule.goto = true;
        break;
      case "-m": {
        const module = arg();
        if (module === "comment") {
          if (w[i + 1] === "--comment") i += 2;
        } else if (module === "conntrack" || module === "state") {
          if (w[i + 1] === "--ctstate" || w[i + 1] === "--state") {
            i++;
            rule.states = arg().split(",");
          }
        } else if (!KNOWN_MODULES.has(module)) {
          rule.unknown ??= `-m ${module}`;
        }
        break;
      }
      case "--icmpv6-type": {
        // ip6tables-save prints the type's number; a code (`135/0`) is not modeled.
        const value = arg();
        const type = /^\d+$/.test(value) ? Number(value) : ICMPV6_TYPES[value];
        if (type === undefined) rule.unknown ??= `--icmpv6-type ${value}`;
        else rule.icmpv6Type = { type, negated };
        break;
      }
      default:
        if ((DPORT.has(word) || SPORT.has(word)) && rule.target === undefined) {
          const text = arg();
          const ports = portsArg(text);
          if (!ports) rule.unknown ??= `${word} ${text}`;
          else if (DPORT.has(word)) rule.dport = { ports, negated };
          else rule.sport = { ports, negated };
        } else if (word.startsWith("-") && rule.target === undefined) rule.unknown ??= word;
    }
    negated = false;
  }
  return { chain, rule };
}

/**
 * Parses `iptables-save -t filter` output.
 *
 * @example
 * ```ts
 * parseIptablesSave("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n").chains.get("FORWARD")?.policy; // "DROP"
 * ```
 */
export function parseIptablesSave(text: string): IptablesFilter {
  const chains = new Map<string, { policy?: string; rules: IptablesRule[] }>();
  let inFilter = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) inFilter = line === "*filter";
    if (!inFilter) continue;
    if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(" ");
      chains.set(name, { policy: policy === "-" ? undefined : policy, rules: [] });
    } else if (line.startsWith("-A ")) {
      const { chain, rule } = parseRule(line);
      if (!chains.has(chain)) chains.set(chain, { rules: [] });
      chains.get(chain)!.rules.push(rule);
    }
  }
  return { chains };
}

/**
 * Modules whose matches doctor models (the ports of udp, tcp and multiport, icmp6's type;
 * icmp's type is not).
 */
const KNOWN_MODULES = new Set(["icmp", "icmp6", "physdev", "udp", "tcp", "multiport"]);

/** Whether the rule's protocol match (if any) lets a packet of `p`'s protocol through. */
function protocolHolds(rule: IptablesRule, p: Packet): boolean {
  if (!rule.protocol) return true;
  return protocolNames(p).includes(rule.protocol.name) !== rule.protocol.negated;
}

/** Whether the rule matches `p`; undefined when a match needs what is not known of `p`. */
function matches(rule: IptablesRule, p: Packet): boolean | undefined {
  const xor = (v: boolean, negated: boolean) => v !== negated;
  if (rule.src && !xor(prefixContains(rule.src.prefix, p.src), rule.src.negated)) return false;
  if (rule.dst && !xor(prefixContains(rule.dst.prefix, p.dst), rule.dst.negated)) return false;
  if (rule.iif && !xor(interfaceMatches(rule.iif.name, p.iif), rule.iif.negated)) return false;
  if (rule.oif && !xor(interfaceMatches(rule.oif.name, p.oif), rule.oif.negated)) return false;
  if (!protocolHolds(rule, p)) return false;
  if (rule.states && !rule.states.includes("NEW")) return false;
  if (rule.icmpv6Type) {
    if (packetProtocol(p) !== "icmpv6") return false;
    const type = packetIcmpType(p);
    if (type === undefined) return undefined;
    if (!xor(type === rule.icmpv6Type.type, rule.icmpv6Type.negated)) return false;
  }
  let known = true;
  for (const [match, port] of [[rule.dport, p.dport], [rule.sport, p.sport]] as const) {
    if (!match) continue;
    // Only TCP and UDP have ports.
    if (p.protocol !== "udp") return false;
    const v = portMatches(match.ports, port);
    if (v === undefined) known = false;
    else if (!xor(v, match.negated)) return false;
  }
  return known ? true : undefined;
}

/** Targets that do not end a packet's walk through the chain (they log, mark or count). */
const NON_TERMINATING = new Set([
  "LOG",
  "NFLOG",
  "ULOG",
  "MARK",
  "CONNMARK",
  "CT",
  "TRACE",
  "CLASSIFY",
  "DSCP",
  "TOS",
  "TCPMSS",
  "AUDIT",
  "SECMARK",
  "CONNSECMARK",
  "TEE",
  "IDLETIMER",
  "CHECKSUM",
  "TTL",
]);

/** What a rule with `target` could do to a packet it matches (undefined: nothing that decides). */
function effect(target: string | undefined): SkippedRule["could"] | undefined {
  if (target === undefined || NON_TERMINATING.has(target)) return undefined;
  if (target === "ACCEPT") return "accept";
  if (target === "DROP" || target === "REJECT") return "drop";
  return "either";
}

/**
 * What the FORWARD chain does with `packet`: the first ACCEPT, DROP or REJECT it reaches
 * (through jumps), else the chain's policy.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const filter = parseIptablesSave("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -s 1.1.0.0/16 -j ACCEPT\nCOMMIT\n");
 * const [src, dst] = [parseAddress("1.1.1.2"), parseAddress("1.1.2.2")];
 * forwardVerdict(filter, { src, dst, iif: "cni0", oif: "eth0" }).accepted; // true
 * ```
 */
export function forwardVerdict(filter: IptablesFilter, packet: ForwardedPacket): FirewallVerdict {
  return chainVerdict(filter, "FORWARD", packet);
}

/**
 * What a built-in chain (`INPUT`, `FORWARD`, `OUTPUT`) does with `packet`: the first ACCEPT,
 * DROP or REJECT it reaches (through jumps), else the chain's policy. A rule for another
 * protocol never matches, whatever else it asks.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const filter = parseIptablesSave("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -s 1.1.0.0/16 -j ACCEPT\nCOMMIT\n");
 * const [src, dst] = [parseAddress("10.0.12.12"), parseAddress("10.0.12.11")];
 * chainVerdict(filter, "INPUT", { src, dst, iif: "eth0", protocol: "udp", dport: 8472 }).accepted; // true
 * ```
 */
export function chainVerdict(
  filter: IptablesFilter,
  chain: "INPUT" | "FORWARD" | "OUTPUT",
  packet: Packet,
): FirewallVerdict {
  const skipped: SkippedRule[] = [];
  const walk = (name: string, depth: number): FirewallVerdict | undefined => {
    const rules = filter.chains.get(name)?.rules ?? [];
    for (const rule of rules) {
      const could = effect(rule.target);
      // A match that fails ends the rule, whatever the matches doctor does not model say.
      const modeled = matches(rule, packet);
      if (modeled === false) continue;
      const matched = rule.unknown ? undefined : modeled;
      if (matched === undefined) {
        if (could) skipped.push({ text: rule.text, could });
        continue;
      }
      const target = rule.target;
      if (could === "either" && !filter.chains.has(target ?? "") && target !== "RETURN") {
        // A target doctor does not know that ends the packet's walk (NFQUEUE, ...).
        skipped.push({ text: rule.text, could });
        continue;
      }
      if (target === "ACCEPT") return { accepted: true, decidedBy: rule.text, skipped };
      if (target === "DROP" || target === "REJECT") {
        return { accepted: false, decidedBy: rule.text, skipped };
      }
      if (target === "RETURN") return undefined;
      if (target !== undefined && filter.chains.has(target) && depth < 16) {
        const verdict = walk(target, depth + 1);
        if (verdict) return verdict;
        if (rule.goto) return undefined;
      }
    }
    return undefined;
  };
  const decided = walk(chain, 0);
  if (decided) return decided;
  const policy = filter.chains.get(chain)?.policy ?? "ACCEPT";
  return {
    accepted: policy !== "DROP",
    decidedBy: `:${chain} ${policy} (the chain's policy)`,
    skipped,
  };
}
