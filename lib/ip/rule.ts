/**
 * Typed policy routing rules parsed from `ip -j rule show` (with or without `-N` and `-d`): the
 * selectors a packet is matched on and what a matching rule does. A selector this parser does
 * not model (tunnel ids, realms, interface groups, anything newer) is kept as an "unmodeled"
 * selector, so that whoever follows the rules can say it cannot tell instead of guessing.
 *
 * @module
 */
import { formatAddress, parseAddressOf } from "../net/address.ts";
import { formatPrefix, type Prefix, prefixOf } from "../net/prefix.ts";
import { JsonFields } from "./json_fields.ts";
import { IpOutputError } from "./output_error.ts";
import { tableName, tableNumber } from "./table.ts";

/** What a rule does with a packet it matches. */
export type RuleAction =
  /** Look the destination up in a table; no match there goes on to the next rule. */
  | { readonly kind: "lookup"; readonly table: number }
  /** Drop (blackhole), or refuse with "network unreachable" or "prohibited". */
  | { readonly kind: "blackhole" | "unreachable" | "prohibit" }
  /** Go on at the first rule of priority `target` (an unresolved goto goes on with the next). */
  | { readonly kind: "goto"; readonly target: number; readonly unresolved: boolean }
  | { readonly kind: "nop" };

/** An inclusive range of numbers (ports, uids). */
export interface NumberRange {
  readonly start: number;
  readonly end: number;
}

/** One policy routing rule. */
export interface Rule {
  readonly priority: number;
  /** `not`: the rule matches the packets its selectors do not. */
  readonly not: boolean;
  /** `from`; undefined: all. */
  readonly from?: Prefix;
  /** `to`; undefined: all. */
  readonly to?: Prefix;
  readonly iif?: string;
  /** The `iif` device does not exist: the rule matches nothing it would by iif. */
  readonly iifDetached: boolean;
  readonly oif?: string;
  readonly oifDetached: boolean;
  /** `fwmark MARK/MASK` (the mask is all ones when none is given). */
  readonly fwmark?: { readonly mark: number; readonly mask: number };
  /** `tos` (dsfield) value. */
  readonly tos?: number;
  /** `ipproto` as an IP protocol number. */
  readonly ipproto?: number;
  readonly sport?: NumberRange;
  readonly dport?: NumberRange;
  readonly uidrange?: NumberRange;
  /** `l3mdev`: look up the table of the VRF the packet's device belongs to. */
  readonly l3mdev: boolean;
  /** `suppress_prefixlength N`: a lookup result with a prefix this short or shorter is ignored. */
  readonly suppressPrefixLength?: number;
  /** Selectors and modifiers this parser does not model, as `key value`. */
  readonly unmodeled: readonly string[];
  readonly action: RuleAction;
  /** The rule as `ip rule` prints it (`100: from 1.1.0.0/16 lookup 7`). */
  readonly text: string;
}

const IP_PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  "ipv6-icmp": 58,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};

const ACTIONS: Readonly<Record<string, "blackhole" | "unreachable" | "prohibit">> = {
  blackhole: "blackhole",
  "6": "blackhole",
  unreachable: "unreachable",
  "7": "unreachable",
  prohibit: "prohibit",
  "8": "prohibit",
};

/** Keys every rule object may carry that are not selectors (or are read elsewhere). */
const KNOWN = new Set([
  "priority",
  "not",
  "src",
  "srclen",
  "dst",
  "dstlen",
  "iif",
  "iif_detached",
  "oif",
  "oif_detached",
  "fwmark",
  "fwmask",
  "tos",
  "dsfield",
  "ipproto",
  "sport",
  "sport_start",
  "sport_end",
  "dport",
  "dport_start",
  "dport_end",
  "uid_start",
  "uid_end",
  "l3mdev",
  "suppress_prefixlen",
  "table",
  "action",
  "goto",
  "unresolved",
  "nop",
  "protocol",
]);

function prefixField(f: JsonFields, key: string, lenKey: string): Prefix | undefined {
  const text = f.optionalString(key);
  if (text === undefined || text === "all") return undefined;
  const address = parseAddressOf(4, text);
  return prefixOf(address, f.optionalNumber(lenKey) ?? 32);
}

function hexOrNumber(f: JsonFields, key: string): number | undefined {
  if (!f.has(key)) return undefined;
  const raw = f.raw(key);
  if (typeof raw === "number") return raw;
  if (typeof raw === "string" && /^(0x[0-9a-fA-F]+|\d+)$/.test(raw)) return Number(raw);
  throw new IpOutputError(`ip printed a rule whose "${key}" is not a number: ${raw}`);
}

function range(f: JsonFields, key: string): NumberRange | undefined {
  const one = f.optionalNumber(key);
  if (one !== undefined) return { start: one, end: one };
  const start = f.optionalNumber(`${key}_start`);
  if (start === undefined) return undefined;
  return { start, end: f.optionalNumber(`${key}_end`) ?? start };
}

function protocolOf(f: JsonFields): { ipproto?: number; unmodeled?: string } {
  if (!f.has("ipproto")) return {};
  const raw = String(f.raw("ipproto"));
  const numbered = /^(?:ipproto-)?(\d+)$/.exec(raw);
  if (numbered) return { ipproto: Number(numbered[1]) };
  const named = IP_PROTOCOLS[raw];
  return named === undefined ? { unmodeled: `ipproto ${raw}` } : { ipproto: named };
}

function actionOf(f: JsonFields): RuleAction {
  if (f.has("goto")) {
    return { kind: "goto", target: f.number("goto"), unresolved: f.present("unresolved") };
  }
  if (f.present("nop")) return { kind: "nop" };
  const action = f.has("action") ? String(f.raw("action")) : undefined;
  if (action !== undefined && ACTIONS[action]) return { kind: ACTIONS[action] };
  if (f.has("table")) return { kind: "lookup", table: tableNumber(f.raw("table")) };
  throw new IpOutputError(
    `ip printed a rule with an action doctor does not know: ${action ?? "none"}`,
  );
}

/** A prefix as ip rule prints it: a single address without its /32. */
const prefixText = (p: Prefix) => p.length === 32 ? formatAddress(p.address) : formatPrefix(p);

const rangeText = (r: NumberRange) => r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`;

/** A rule the way `ip rule` prints it. */
export function formatRule(rule: Omit<Rule, "text">): string {
  const a = rule.action;
  const hex = (n: number) => `0x${n.toString(16)}`;
  return `${rule.priority}: ` + [
    rule.not ? "not" : "",
    `from ${rule.from ? prefixText(rule.from) : "all"}`,
    rule.to ? `to ${prefixText(rule.to)}` : "",
    rule.tos !== undefined ? `tos ${hex(rule.tos)}` : "",
    rule.fwmark
      ? `fwmark ${hex(rule.fwmark.mark)}${
        rule.fwmark.mask === 0xffffffff ? "" : `/${hex(rule.fwmark.mask)}`
      }`
      : "",
    rule.iif ? `iif ${rule.iif}${rule.iifDetached ? " [detached]" : ""}` : "",
    rule.oif ? `oif ${rule.oif}${rule.oifDetached ? " [detached]" : ""}` : "",
    rule.uidrange ? `uidrange ${rule.uidrange.start}-${rule.uidrange.end}` : "",
    rule.ipproto !== undefined ? `ipproto ${rule.ipproto}` : "",
    rule.sport ? `sport ${rangeText(rule.sport)}` : "",
    rule.dport ? `dport ${rangeText(rule.dport)}` : "",
    rule.l3mdev ? "lookup [l3mdev-table]" : "",
    ...rule.unmodeled,
    a.kind === "lookup" && !rule.l3mdev ? `lookup ${tableName(a.table)}` : "",
    rule.suppressPrefixLength !== undefined
      ? `suppress_prefixlength ${rule.suppressPrefixLength}`
      : "",
    a.kind === "goto" ? `goto ${a.target}${a.unresolved ? " [unresolved]" : ""}` : "",
    a.kind === "nop" ? "nop" : "",
    a.kind === "blackhole" || a.kind === "unreachable" || a.kind === "prohibit" ? a.kind : "",
  ].filter(Boolean).join(" ");
}

function parseRule(f: JsonFields): Rule {
  const unmodeled: string[] = [];
  for (const key of f.keys()) {
    if (!KNOWN.has(key)) {
      const v = f.raw(key);
      unmodeled.push(v === null ? key : `${key} ${typeof v === "string" ? v : JSON.stringify(v)}`);
    }
  }
  const protocol = protocolOf(f);
  if (protocol.unmodeled) unmodeled.push(protocol.unmodeled);
  const mark = hexOrNumber(f, "fwmark");
  const tos = hexOrNumber(f, "tos") ?? hexOrNumber(f, "dsfield");
  const sport = range(f, "sport");
  const dport = range(f, "dport");
  const uidrange = f.has("uid_start")
    ? { start: f.number("uid_start"), end: f.optionalNumber("uid_end") ?? f.number("uid_start") }
    : undefined;
  const suppress = f.optionalNumber("suppress_prefixlen");
  const rule: Omit<Rule, "text"> = {
    priority: f.optionalNumber("priority") ?? 0,
    not: f.present("not"),
    ...optional("from", prefixField(f, "src", "srclen")),
    ...optional("to", prefixField(f, "dst", "dstlen")),
    ...optional("iif", f.optionalString("iif")),
    iifDetached: f.present("iif_detached"),
    ...optional("oif", f.optionalString("oif")),
    oifDetached: f.present("oif_detached"),
    ...optional(
      "fwmark",
      mark === undefined ? undefined : { mark, mask: hexOrNumber(f, "fwmask") ?? 0xffffffff },
    ),
    ...optional("tos", tos),
    ...optional("ipproto", protocol.ipproto),
    ...optional("sport", sport),
    ...optional("dport", dport),
    ...optional("uidrange", uidrange),
    l3mdev: f.present("l3mdev"),
    ...optional("suppressPrefixLength", suppress),
    unmodeled,
    action: f.present("l3mdev") && !f.has("table") ? { kind: "lookup", table: 0 } : actionOf(f),
  };
  return { ...rule, text: formatRule(rule) };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * Parses the output of `ip -j rule show` (IPv4), in the order the kernel tries the rules.
 *
 * @example
 * ```ts
 * const [rule] = parseRules('[{"priority":100,"src":"1.1.0.0","srclen":16,"table":"7"}]');
 * rule.text; // "100: from 1.1.0.0/16 lookup 7"
 * ```
 */
export function parseRules(text: string | readonly unknown[]): Rule[] {
  return JsonFields.list(text, "rule").map(parseRule);
}

/** The three rules every namespace starts with. */
export const DEFAULT_RULES: readonly Rule[] = parseRules([
  { priority: 0, src: "all", table: "local" },
  { priority: 32766, src: "all", table: "main" },
  { priority: 32767, src: "all", table: "default" },
]);

/**
 * Whether a rule is one of the three every namespace starts with (local, main, default).
 *
 * @example
 * ```ts
 * isDefaultRule(DEFAULT_RULES[1]); // true
 * ```
 */
export function isDefaultRule(rule: Rule): boolean {
  return DEFAULT_RULES.some((d) => d.text === rule.text);
}
