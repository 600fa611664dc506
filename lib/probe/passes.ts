/**
 * The trace of one namespace turned into passes: one pass is one packet through one base chain
 * (its headers there, the rules it met, the verdict that ended the chain). Events of one pass
 * share the kernel's trace id; a jump keeps the id, and the pass belongs to the base chain that
 * printed the headers.
 *
 * @module
 */
import type { TracedPacket, TraceEvent } from "./trace_line.ts";
import { encapsulatedEcho, probeTableOwner } from "./trace_table.ts";

/** One packet through one base chain. */
export interface Pass {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  /**
   * A pass through the probe's own trace table: it shows that the packet reached the hook,
   * and decides nothing.
   */
  readonly probe: boolean;
  /** The hook of the base chain (from the namespace's chain list), when known. */
  readonly hook?: string;
  readonly packet: TracedPacket;
  /** Every rule it met, with its verdict, in order (`chain: rule (verdict)`). */
  readonly rules: readonly { chain: string; rule: string; handle?: number; verdict: string }[];
  /** How the base chain ended for it: `accept`, `drop`, or undefined while it continued. */
  readonly verdict?: string;
  /** The rule or policy that decided the verdict (`policy drop` for a chain's policy). */
  readonly decidedBy?: { chain: string; rule: string; handle?: number };
  /**
   * The packet is a VXLAN packet that carries one of the probe's echoes between hosts (its
   * `packet` then has the inner echo's type and id beside the outer headers).
   */
  readonly encapsulated?: boolean;
}

/** A base chain's hook, by `family table chain`. */
export type ChainHooks = ReadonlyMap<string, string>;

/** The key of {@link ChainHooks}. */
export const chainKey = (family: string, table: string, chain: string) =>
  `${family} ${table} ${chain}`;

const FINAL = new Set(["accept", "drop", "queue", "stolen"]);

/**
 * Groups trace events into passes, in the order they began.
 *
 * @example
 * ```ts
 * import type { TraceEvent } from "./trace_line.ts";
 * declare const events: TraceEvent[];
 * const passes = tracePasses(events, new Map([["ip filter FORWARD", "forward"]]));
 * passes.find((p) => p.verdict === "drop")?.decidedBy;
 * ```
 */
export function tracePasses(events: readonly TraceEvent[], hooks: ChainHooks): Pass[] {
  const passes: (Pass & { rules: Pass["rules"][number][] })[] = [];
  const open = new Map<string, (typeof passes)[number]>();
  const keys: string[] = [];
  // The echo that VXLAN packets carry, by trace id and IP id (the kernel's trace ids come back
  // for other packets): the probe's own rule that traced them says.
  const carried = new Map<string, { icmpType: string; icmpId: number }>();
  const key = (traceId: string, packet: TracedPacket) => `${traceId} ${packet.ipId ?? ""}`;
  for (const e of events) {
    if (e.kind === "packet") {
      const pass = {
        family: e.family,
        table: e.table,
        chain: e.chain,
        probe: probeTableOwner(e.table) !== undefined,
        hook: hooks.get(chainKey(e.family, e.table, e.chain)),
        packet: e.packet,
        rules: [],
      };
      passes.push(pass);
      keys.push(key(e.traceId, e.packet));
      open.set(e.traceId, pass);
      continue;
    }
    const pass = open.get(e.traceId);
    if (!pass || pass.verdict !== undefined) continue;
    const mutable = pass as { -readonly [K in keyof Pass]: Pass[K] };
    if (e.kind === "rule" && pass.probe && pass.packet.icmpType === undefined) {
      const echo = encapsulatedEcho(e.rule);
      if (echo) carried.set(key(e.traceId, pass.packet), echo);
    }
    if (e.kind === "rule") {
      pass.rules.push({ chain: e.chain, rule: e.rule, handle: e.handle, verdict: e.verdict });
      if (FINAL.has(e.verdict)) {
        mutable.verdict = e.verdict;
        mutable.decidedBy = { chain: e.chain, rule: e.rule, handle: e.handle };
      }
    } else if (e.kind === "policy" && e.chain === pass.chain) {
      mutable.verdict = e.verdict;
      mutable.decidedBy = { chain: e.chain, rule: `policy ${e.verdict}` };
    } else if (e.kind === "verdict" && FINAL.has(e.verdict)) {
      mutable.verdict = e.verdict;
    }
  }
  return passes.map((pass, i) => {
    const echo = pass.packet.icmpType === undefined ? carried.get(keys[i]) : undefined;
    return echo ? { ...pass, packet: { ...pass.packet, ...echo }, encapsulated: true } : pass;
  });
}

/**
 * The packet mark a pass leaves on its packet: the trace's headers do not print marks, but a
 * rule that sets one says so (`meta mark set 0x42`, iptables' MARK target alike).
 *
 * @example
 * ```ts
 * declare const pass: Pass;
 * markOf(pass); // 66 after "meta mark set 0x42"
 * ```
 */
export function markOf(pass: Pass): number | undefined {
  let mark = pass.packet.mark;
  for (const r of pass.rules) {
    const m = /(?:^|\s)(?:meta )?mark set (0x[0-9a-f]+|\d+)\b/.exec(r.rule);
    if (m && !/\bct mark set/.test(r.rule)) mark = Number(m[1]);
  }
  return mark || undefined;
}
