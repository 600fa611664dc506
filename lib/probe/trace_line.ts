/**
 * Lines of `nft -a monitor` while a probe runs: the kernel's trace of each traced packet through
 * every base chain of every table and family (the packet's headers first, then each rule it
 * met with its verdict, then the chain's policy), and the ruleset changes the monitor also
 * prints (the probe waits for its own table's `add table` line to know the monitor listens).
 *
 * @module
 */

/** Header fields of a traced packet, as far as the trace printed them. */
export interface TracedPacket {
  readonly iif?: string;
  readonly oif?: string;
  readonly saddr?: string;
  readonly daddr?: string;
  /** The IPv4 header's id: one packet keeps it from hook to hook (NAT rewrites addresses only). */
  readonly ipId?: number;
  readonly ttl?: number;
  readonly length?: number;
  readonly icmpType?: string;
  readonly icmpId?: number;
  readonly icmpSequence?: number;
  /** UDP's ports (the VXLAN packets that carry the probe's echoes between hosts). */
  readonly sport?: number;
  readonly dport?: number;
  readonly mark?: number;
  /** `request` or `reply` for ARP. */
  readonly arpOperation?: string;
}

/** Where a trace event happened: the trace id, family, table and chain. */
interface TracePoint {
  /** The kernel's id of this pass of the packet (a packet gets a new one at some hooks). */
  readonly traceId: string;
  readonly family: string;
  readonly table: string;
  readonly chain: string;
}

/** One line of the trace. */
export type TraceEvent =
  | TracePoint & { readonly kind: "packet"; readonly packet: TracedPacket }
  | TracePoint & {
    readonly kind: "rule";
    /** The rule as nft prints it, without its handle. */
    readonly rule: string;
    readonly handle?: number;
    /** `continue`, `accept`, `drop` (also for reject), `jump CHAIN`, `goto CHAIN`, `return`... */
    readonly verdict: string;
  }
  | TracePoint & { readonly kind: "policy"; readonly verdict: string }
  | TracePoint & { readonly kind: "verdict"; readonly verdict: string };

/** A monitor line that is not a trace: a ruleset change such as `add table inet NAME # handle 6`. */
export interface RulesetEvent {
  readonly kind: "ruleset";
  readonly text: string;
}

const TRACE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict )(.*)$/;
const RULE = /^(.*?)(?: # handle (\d+))? \(verdict ([^)]*)\)\s*$/;

const NUMBER_FIELDS: ReadonlyMap<string, keyof TracedPacket> = new Map([
  ["ip id", "ipId"],
  ["ip ttl", "ttl"],
  ["ip length", "length"],
  ["ip6 hoplimit", "ttl"],
  ["ip6 length", "length"],
  ["icmp id", "icmpId"],
  ["icmp sequence", "icmpSequence"],
  ["udp sport", "sport"],
  ["udp dport", "dport"],
]);
const TEXT_FIELDS: ReadonlyMap<string, keyof TracedPacket> = new Map([
  ["iif", "iif"],
  ["oif", "oif"],
  ["ip saddr", "saddr"],
  ["ip daddr", "daddr"],
  ["ip6 saddr", "saddr"],
  ["ip6 daddr", "daddr"],
  ["icmp type", "icmpType"],
  ["icmpv6 type", "icmpType"],
  ["arp operation", "arpOperation"],
]);

/** The header fields of a `packet:` line (`iif "eth0" ... ip saddr 1.1.1.2 ... icmp id 7 ...`). */
function parsePacket(text: string): TracedPacket {
  const words = text.trim().split(/\s+/);
  const packet: Record<string, string | number> = {};
  for (let i = 0; i < words.length; i++) {
    const two = `${words[i]} ${words[i + 1] ?? ""}`;
    const single = words[i];
    for (const [name, value] of [[two, words[i + 2]], [single, words[i + 1]]] as const) {
      const numberKey = NUMBER_FIELDS.get(name);
      const textKey = TEXT_FIELDS.get(name);
      if (value === undefined || (!numberKey && !textKey)) continue;
      if (numberKey) packet[numberKey] = Number(value);
      else packet[textKey!] = value.replace(/^"(.*)"$/, "$1");
      i += name === two ? 2 : 1;
      break;
    }
    // nft prints an ICMPv6 echo's id and sequence as the one 32-bit word after the checksum,
    // under the name of that word in a parameter problem message.
    if (two === "icmpv6 parameter-problem" && /^\d+$/.test(words[i + 2] ?? "")) {
      const word = Number(words[i + 2]);
      packet.icmpv6Word = word;
      i += 2;
      continue;
    }
    if (single === "meta" && words[i + 1] === "mark" && words[i + 2] !== undefined) {
      packet.mark = Number(words[i + 2]);
      i += 2;
    }
  }
  const { icmpv6Word, ...fields } = packet;
  // An echo's word is its id and sequence (the word of other ICMPv6 types is something else).
  if (
    typeof icmpv6Word === "number" &&
    (fields.icmpType === "echo-request" || fields.icmpType === "echo-reply")
  ) {
    fields.icmpId = Math.floor(icmpv6Word / 65536);
    fields.icmpSequence = icmpv6Word % 65536;
  }
  return { ...rawHeaders(text), ...fields } as TracedPacket;
}

const ICMP_TYPES: Readonly<Record<number, string>> = { 0: "echo-reply", 8: "echo-request" };

/**
 * The headers of a packet the trace printed as raw bytes (`@nh,0,160 0x4500...` for the IPv4
 * header, `@th,0,64 0x0800...` for ICMP), as it does at the netdev egress hook.
 */
function rawHeaders(text: string): Record<string, string | number> {
  const bytes = (base: string) => {
    // nft prints the bytes as one number: leading zero digits are left out.
    const m = new RegExp(`@${base},0,(\\d+) 0x([0-9a-f]+)`).exec(text);
    if (!m) return undefined;
    return m[2].padStart(Number(m[1]) / 4, "0").match(/../g)!.map((b) => parseInt(b, 16));
  };
  const nh = bytes("nh");
  if (!nh || nh.length < 20 || nh[0] >> 4 !== 4) return {};
  const fields: Record<string, string | number> = {
    length: (nh[2] << 8) | nh[3],
    ipId: (nh[4] << 8) | nh[5],
    ttl: nh[8],
    saddr: nh.slice(12, 16).join("."),
    daddr: nh.slice(16, 20).join("."),
  };
  const th = bytes("th");
  if (nh[9] === 1 && th && th.length >= 8 && ICMP_TYPES[th[0]] !== undefined) {
    fields.icmpType = ICMP_TYPES[th[0]];
    fields.icmpId = (th[4] << 8) | th[5];
    fields.icmpSequence = (th[6] << 8) | th[7];
  }
  return fields;
}

/**
 * Parses one line of `nft -a monitor`; undefined for an empty line.
 *
 * @example
 * ```ts
 * const e = parseMonitorLine("trace id 89a0b803 ip filter FORWARD policy drop ");
 * if (e?.kind === "policy") e.verdict; // "drop"
 * ```
 */
export function parseMonitorLine(line: string): TraceEvent | RulesetEvent | undefined {
  const text = line.trimEnd();
  if (text === "") return undefined;
  const m = TRACE.exec(text);
  if (!m) return { kind: "ruleset", text };
  const point = { traceId: m[1], family: m[2], table: m[3], chain: m[4] };
  const rest = m[6];
  switch (m[5]) {
    case "packet: ":
      return { ...point, kind: "packet", packet: parsePacket(rest) };
    case "rule ": {
      const r = RULE.exec(rest);
      if (!r) return { ...point, kind: "rule", rule: rest.trim(), verdict: "continue" };
      return {
        ...point,
        kind: "rule",
        rule: r[1].replace(/\s+/g, " ").trim(),
        ...(r[2] === undefined ? {} : { handle: Number(r[2]) }),
        verdict: r[3],
      };
    }
    case "policy ":
      return { ...point, kind: "policy", verdict: rest.trim() };
    default:
      return { ...point, kind: "verdict", verdict: rest.trim() };
  }
}
