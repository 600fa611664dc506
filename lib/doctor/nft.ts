/**
 * The nftables ruleset as `nft -j list ruleset` prints it, reduced to what decides a packet: the
 * base chains on the hooks it passes (the forward hook for a forwarded container packet;
 * prerouting and input, or output and postrouting, for VXLAN's UDP), by priority, and the chains
 * they jump to. A packet is dropped when any base chain drops it; an accept only ends its own
 * chain. Rules with expressions doctor does not model are skipped and said so.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { formatAddress, parseAddress } from "../net/address.ts";
import { formatPrefix, type Prefix, prefixContains, prefixOf } from "../net/prefix.ts";
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

/** A condition of a rule on the packet. */
type Condition =
  | {
    readonly field: "saddr" | "daddr";
    readonly prefixes: readonly Prefix[];
    readonly negated: boolean;
  }
  | {
    readonly field: "iifname" | "oifname";
    readonly names: readonly string[];
    readonly negated: boolean;
  }
  | { readonly field: "protocol"; readonly names: readonly string[]; readonly negated: boolean }
  | {
    readonly field: "dport" | "sport";
    /** `udp`, `tcp`, or `th` (any transport header with ports). */
    readonly protocol: string;
    readonly ports: PortSet;
    readonly negated: boolean;
  }
  | { readonly field: "ctstate"; readonly names: readonly string[]; readonly negated: boolean }
  | { readonly field: "icmpv6Type"; readonly types: readonly number[]; readonly negated: boolean }
  | { readonly field: "family"; readonly names: readonly string[]; readonly negated: boolean };

/** One rule: its conditions and verdict, or why it cannot be evaluated. */
export interface NftRule {
  readonly text: string;
  readonly conditions: readonly Condition[];
  readonly verdict?: "accept" | "drop" | "reject" | "return" | {
    readonly jump: string;
    readonly goto: boolean;
  };
  readonly unknown?: string;
}

/** A chain: base chains have a hook, a priority and a policy. */
export interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly hook?: string;
  readonly priority?: number;
  readonly policy?: string;
  readonly rules: NftRule[];
}

/** The ruleset's chains. */
export interface NftRuleset {
  readonly chains: readonly NftChain[];
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The values of a match's right side: a string, an address, a prefix, or a set of them. */
function values(right: unknown): unknown[] | undefined {
  if (isRecord(right) && Array.isArray(right.set)) return right.set;
  if (typeof right === "string" || typeof right === "number" || isRecord(right)) return [right];
  return undefined;
}

function toPrefix(v: unknown): Prefix | undefined {
  try {
    if (typeof v === "string") {
      const address = parseAddress(v);
      return prefixOf(address, address.family === 4 ? 32 : 128);
    }
    if (isRecord(v) && isRecord(v.prefix)) {
      return prefixOf(parseAddress(String(v.prefix.addr)), Number(v.prefix.len));
    }
  } catch {
    // not an address
  }
  return undefined;
}

/** A port value, a range (`{"range": [a, b]}`), as a range; undefined when it is neither. */
function toPortRange(v: unknown): readonly [number, number] | undefined {
  if (typeof v === "number" && Number.isInteger(v)) return [v, v];
  if (isRecord(v) && Array.isArray(v.range) && v.range.every((x) => typeof x === "number")) {
    return [v.range[0] as number, v.range[1] as number];
  }
  return undefined;
}

function condition(match: Json): Condition | string {
  const left = match.left;
  const negated = match.op === "!=";
  const vals = values(match.right);
  if (!vals) return JSON.stringify(match);
  if (
    isRecord(left) && isRecord(left.payload) &&
    (left.payload.protocol === "ip" || left.payload.protocol === "ip6")
  ) {
    const field = left.payload.field;
    if (field === "saddr" || field === "daddr") {
      const prefixes = vals.map(toPrefix);
      if (prefixes.some((p) => p === undefined)) return JSON.stringify(match);
      return { field, prefixes: prefixes as Prefix[], negated };
    }
    if (field === "protocol" || field === "nexthdr") {
      return { field: "protocol", names: vals.map(String), negated };
    }
  }
  if (
    isRecord(left) && isRecord(left.payload) && left.payload.protocol === "icmpv6" &&
    left.payload.field === "type" && (match.op === "==" || match.op === "!=" || match.op === "in")
  ) {
    const types = vals.map((v) => typeof v === "number" ? v : ICMPV6_TYPES[String(v)]);
    if (types.some((t) => t === undefined)) return JSON.stringify(match);
    return { field: "icmpv6Type", types: types as number[], negated };
  }
  if (
    isRecord(left) && isRecord(left.payload) &&
    (left.payload.field === "dport" || left.payload.field === "sport") &&
    ["udp", "tcp", "th"].includes(String(left.payload.protocol)) &&
    (match.op === "==" || match.op === "!=" || match.op === "in")
  ) {
    const ports = vals.map(toPortRange);
    if (ports.some((p) => p === undefined)) return JSON.stringify(match);
    return {
      field: left.payload.field,
      protocol: String(left.payload.protocol),
      ports: ports as [number, number][],
      negated,
    };
  }
  if (isRecord(left) && isRecord(left.meta)) {
    const key = left.meta.key;
    if (key === "iifname" || key === "oifname") {
      return { field: key, names: vals.map(String), negated };
    }
    if (key === "l4proto") return { field: "protocol", names: vals.map(String), negated };
    if (key === "nfproto") return { field: "family", names: vals.map(String), negated };
  }
  if (isRecord(left) && isRecord(left.ct) && left.ct.key === "state") {
    return {
      field: "ctstate",
      names: vals.flatMap((v) => Array.isArray(v) ? v : [v]).map(String),
      negated,
    };
  }
  return JSON.stringify(match);
}

function describe(c: Condition): string {
  const not = c.negated ? "!= " : "";
  const list = (xs: readonly string[]) => xs.length === 1 ? xs[0] : `{ ${xs.join(", ")} }`;
  switch (c.field) {
    case "saddr":
    case "daddr": {
      const v6 = c.prefixes[0]?.address.family === 6;
      const host = v6 ? 128 : 32;
      return `${v6 ? "ip6" : "ip"} ${c.field} ${not}${
        list(c.prefixes.map((p) => p.length === host ? formatAddress(p.address) : formatPrefix(p)))
      }`;
    }
    case "icmpv6Type":
      return `icmpv6 type ${not}${list(c.types.map((t) => ICMPV6_NAMES.get(t) ?? String(t)))}`;
    case "protocol":
      return `ip protocol ${not}${list(c.names)}`;
    case "ctstate":
      return `ct state ${not}${list(c.names)}`;
    case "family":
      return `meta nfproto ${not}${list(c.names)}`;
    case "dport":
    case "sport":
      return `${c.protocol} ${c.field} ${not}${
        list(c.ports.map(([a, b]) => a === b ? String(a) : `${a}-${b}`))
      }`;
    default:
      return `${c.field} ${not}${list(c.names.map((n) => `"${n}"`))}`;
  }
}

const VERDICTS = ["accept", "drop", "reject", "return"] as const;

/** nft's names of the ICMPv6 types, for the rule text. */
const ICMPV6_NAMES = new Map(
  Object.entries(ICMPV6_TYPES).filter(([name]) =>
    name.startsWith("nd-") || !/(neighbou?r|router|^redirect$|reduction)/.test(name)
  ).map(([name, type]) => [type, name]),
);

function parseRule(json: Json): NftRule {
  const conditions: Condition[] = [];
  const parts: string[] = [];
  let verdict: NftRule["verdict"];
  let unknown: string | undefined;
  for (const e of Array.isArray(json.expr) ? json.expr : []) {
    if (!isRecord(e)) continue;
    if (isRecord(e.match)) {
      const c = condition(e.match);
      if (typeof c === "string") {
        unknown ??= c;
        parts.push(c);
      } else {
        conditions.push(c);
        parts.push(describe(c));
      }
    } else if (VERDICTS.some((v) => v in e)) {
      verdict = VERDICTS.find((v) => v in e)!;
      parts.push(verdict);
    } else if (isRecord(e.jump) || isRecord(e.goto)) {
      const goto = isRecord(e.goto);
      const name = String(((goto ? e.goto : e.jump) as Json).target);
      verdict = { jump: name, goto };
      parts.push(`${goto ? "goto" : "jump"} ${name}`);
    } else if ("counter" in e || "log" in e || "comment" in e) {
      parts.push(Object.keys(e)[0]);
    } else {
      unknown ??= JSON.stringify(e);
      parts.push(JSON.stringify(e));
    }
  }
  const text = `${json.family} ${json.table} ${json.chain}: ${parts.join(" ")}`;
  return { text, conditions, verdict, ...(unknown ? { unknown } : {}) };
}

/**
 * Parses `nft -j list ruleset` output (the parsed JSON document).
 *
 * @example
 * ```ts
 * const nftOutput = JSON.stringify({ nftables: [
 *   { chain: { family: "inet", table: "filter", name: "forward", type: "filter", hook: "forward", prio: 0, policy: "drop" } },
 * ]});
 * parseNftRuleset(JSON.parse(nftOutput)).chains.filter((c) => c.hook === "forward");
 * // [{ family: "inet", table: "filter", name: "forward", hook: "forward", priority: 0, policy: "drop", rules: [] }]
 * ```
 */
export function parseNftRuleset(document: unknown): NftRuleset {
  if (!isRecord(document) || !Array.isArray(document.nftables)) {
    throw new InputError("snapshot: firewall.nft is not `nft -j list ruleset` output");
  }
  const chains = new Map<string, NftChain>();
  const key = (o: Json) => `${o.family} ${o.table} ${o.chain ?? o.name}`;
  for (const item of document.nftables) {
    if (!isRecord(item)) continue;
    if (isRecord(item.chain)) {
      const c = item.chain;
      chains.set(key(c), {
        family: String(c.family),
        table: String(c.table),
        name: String(c.name),
        hook: typeof c.hook === "string" ? c.hook : undefined,
        priority: typeof c.prio === "number" ? c.prio : undefined,
        policy: typeof c.policy === "string" ? c.policy : undefined,
        rules: [],
      });
    } else if (isRecord(item.rule)) {
      chains.get(key(item.rule))?.rules.push(parseRule(item.rule));
    }
  }
  return { chains: [...chains.values()] };
}

/** Whether a condition holds for `p`; undefined when it needs what is not known of `p`. */
function conditionHolds(c: Condition, p: Packet): boolean | undefined {
  let v: boolean;
  switch (c.field) {
    case "saddr":
      v = c.prefixes.some((x) => prefixContains(x, p.src));
      break;
    case "daddr":
      v = c.prefixes.some((x) => prefixContains(x, p.dst));
      break;
    case "iifname":
      v = c.names.some((n) => interfaceMatches(n, p.iif));
      break;
    case "oifname":
      v = c.names.some((n) => interfaceMatches(n, p.oif));
      break;
    case "protocol":
      v = c.names.some((n) => protocolNames(p).includes(n));
      break;
    case "icmpv6Type": {
      // `icmpv6 type` asks for ICMPv6 too: any other packet matches neither it nor its negation.
      if (packetProtocol(p) !== "icmpv6") return false;
      const type = packetIcmpType(p);
      if (type === undefined) return undefined;
      v = c.types.includes(type);
      break;
    }
    case "ctstate":
      v = c.names.includes("new");
      break;
    case "family":
      v = c.names.includes(p.src.family === 6 ? "ipv6" : "ipv4");
      break;
    case "dport":
    case "sport": {
      // `udp dport` also asks for UDP, `th dport` for a transport with ports: an ICMP packet
      // matches neither, nor its negation.
      if (p.protocol !== "udp" || c.protocol === "tcp") return false;
      const held = portMatches(c.ports, c.field === "dport" ? p.dport : p.sport);
      if (held === undefined) return undefined;
      v = held;
      break;
    }
  }
  return v !== c.negated;
}

/**
 * What the forward hook's base chains do with `packet`. `skipTables` leaves out tables another
 * view reports already (iptables-nft's own, read through `iptables-save`).
 *
 * @example
 * ```ts
 * import type { ForwardedPacket } from "./packet.ts";
 * declare const ruleset: NftRuleset; // nft -j list ruleset, parsed
 * declare const packet: ForwardedPacket;
 * nftForwardVerdict(ruleset, packet, new Set(["ip filter"])).accepted;
 * ```
 */
export function nftForwardVerdict(
  ruleset: NftRuleset,
  packet: ForwardedPacket,
  skipTables: ReadonlySet<string> = new Set(),
): FirewallVerdict {
  return nftHookVerdict(ruleset, packet, ["forward"], skipTables);
}

/**
 * What the base chains of `hooks` (in the order the packet meets them, each by priority) do
 * with `packet`: dropped when any of them drops it.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * declare const ruleset: NftRuleset; // nft -j list ruleset, parsed
 * const [src, dst] = [parseAddress("10.0.12.12"), parseAddress("10.0.12.11")];
 * nftHookVerdict(ruleset, { src, dst, iif: "eth0", protocol: "udp", dport: 8472 }, ["prerouting", "input"]).accepted;
 * ```
 */
export function nftHookVerdict(
  ruleset: NftRuleset,
  packet: Packet,
  hooks: readonly string[],
  skipTables: ReadonlySet<string> = new Set(),
): FirewallVerdict {
  const skipped: SkippedRule[] = [];
  const byName = new Map(ruleset.chains.map((c) => [`${c.family} ${c.table} ${c.name}`, c]));
  const walk = (
    chain: NftChain,
    depth: number,
  ): "accept" | "drop" | undefined | { rule: string; v: "accept" | "drop" } => {
    for (const rule of chain.rules) {
      const held = rule.conditions.map((c) => conditionHolds(c, packet));
      // A condition that fails ends the rule, whatever the expressions doctor does not model say.
      if (held.includes(false)) continue;
      if (rule.unknown || held.includes(undefined)) {
        const v = rule.verdict;
        const could = v === "accept"
          ? "accept"
          : v === "drop" || v === "reject"
          ? "drop"
          : v !== undefined || /"queue"/.test(rule.text)
          ? "either"
          : undefined;
        if (could) skipped.push({ text: rule.text, could });
        continue;
      }
      const v = rule.verdict;
      if (v === "accept") return { rule: rule.text, v: "accept" };
      if (v === "drop" || v === "reject") return { rule: rule.text, v: "drop" };
      if (v === "return") return undefined;
      if (v && typeof v === "object" && depth < 16) {
        const target = byName.get(`${chain.family} ${chain.table} ${v.jump}`);
        const r = target ? walk(target, depth + 1) : undefined;
        if (r) return r;
        if (v.goto) return undefined;
      }
    }
    return undefined;
  };
  const bases = ruleset.chains
    .filter((c) =>
      c.hook !== undefined && hooks.includes(c.hook) &&
      (c.family === "inet" || c.family === (packet.src.family === 6 ? "ip6" : "ip")) &&
      !skipTables.has(`${c.family} ${c.table}`)
    )
    .sort((a, b) =>
      hooks.indexOf(a.hook!) - hooks.indexOf(b.hook!) || (a.priority ?? 0) - (b.priority ?? 0)
    );
  let accepted: string | undefined;
  for (const base of bases) {
    const r = walk(base, 0);
    if (r && typeof r === "object") {
      if (r.v === "drop") return { accepted: false, decidedBy: r.rule, skipped };
      accepted = r.rule;
      continue;
    }
    if (base.policy === "drop") {
      return {
        accepted: false,
        decidedBy: `${base.family} ${base.table} ${base.name}: policy drop (hook ${base.hook})`,
        skipped,
      };
    }
  }
  return { accepted: true, decidedBy: accepted, skipped };
}
