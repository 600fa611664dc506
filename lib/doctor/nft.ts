/**
 * The nftables ruleset as `nft -j list ruleset` prints it, reduced to what decides a forwarded
 * packet: the base chains on the forward hook (by priority) and the chains they jump to. A
 * packet is dropped when any base chain drops it; an accept only ends its own chain. Rules with
 * expressions doctor does not model are skipped and said so.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { formatAddress, parseAddress } from "../net/address.ts";
import { formatPrefix, type Prefix, prefixContains, prefixOf } from "../net/prefix.ts";
import {
  type FirewallVerdict,
  type ForwardedPacket,
  interfaceMatches,
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
  | { readonly field: "ctstate"; readonly names: readonly string[]; readonly negated: boolean }
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
    if (typeof v === "string") return prefixOf(parseAddress(v), 32);
    if (isRecord(v) && isRecord(v.prefix)) {
      return prefixOf(parseAddress(String(v.prefix.addr)), Number(v.prefix.len));
    }
  } catch {
    // not an IPv4 value
  }
  return undefined;
}

function condition(match: Json): Condition | string {
  const left = match.left;
  const negated = match.op === "!=";
  const vals = values(match.right);
  if (!vals) return JSON.stringify(match);
  if (isRecord(left) && isRecord(left.payload) && left.payload.protocol === "ip") {
    const field = left.payload.field;
    if (field === "saddr" || field === "daddr") {
      const prefixes = vals.map(toPrefix);
      if (prefixes.some((p) => p === undefined)) return JSON.stringify(match);
      return { field, prefixes: prefixes as Prefix[], negated };
    }
    if (field === "protocol") return { field: "protocol", names: vals.map(String), negated };
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
    case "daddr":
      return `ip ${c.field} ${not}${
        list(c.prefixes.map((p) => p.length === 32 ? formatAddress(p.address) : formatPrefix(p)))
      }`;
    case "protocol":
      return `ip protocol ${not}${list(c.names)}`;
    case "ctstate":
      return `ct state ${not}${list(c.names)}`;
    case "family":
      return `meta nfproto ${not}${list(c.names)}`;
    default:
      return `${c.field} ${not}${list(c.names.map((n) => `"${n}"`))}`;
  }
}

const VERDICTS = ["accept", "drop", "reject", "return"] as const;

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
 * parseNftRuleset(JSON.parse(nftOutput)).chains.filter((c) => c.hook === "forward");
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

function conditionHolds(c: Condition, p: ForwardedPacket): boolean {
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
      v = c.names.some((n) => n === "icmp" || n === "1");
      break;
    case "ctstate":
      v = c.names.includes("new");
      break;
    case "family":
      v = c.names.includes("ipv4");
      break;
  }
  return v !== c.negated;
}

/**
 * What the forward hook's base chains do with `packet`. `skipTables` leaves out tables another
 * view reports already (iptables-nft's own, read through `iptables-save`).
 *
 * @example
 * ```ts
 * nftForwardVerdict(ruleset, packet, new Set(["ip filter"])).accepted;
 * ```
 */
export function nftForwardVerdict(
  ruleset: NftRuleset,
  packet: ForwardedPacket,
  skipTables: ReadonlySet<string> = new Set(),
): FirewallVerdict {
  const skipped: SkippedRule[] = [];
  const byName = new Map(ruleset.chains.map((c) => [`${c.family} ${c.table} ${c.name}`, c]));
  const walk = (
    chain: NftChain,
    depth: number,
  ): "accept" | "drop" | undefined | { rule: string; v: "accept" | "drop" } => {
    for (const rule of chain.rules) {
      if (rule.unknown) {
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
      if (!rule.conditions.every((c) => conditionHolds(c, packet))) continue;
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
      c.hook === "forward" && (c.family === "ip" || c.family === "inet") &&
      !skipTables.has(`${c.family} ${c.table}`)
    )
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
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
        decidedBy: `${base.family} ${base.table} ${base.name}: policy drop (hook forward)`,
        skipped,
      };
    }
  }
  return { accepted: true, decidedBy: accepted, skipped };
}
