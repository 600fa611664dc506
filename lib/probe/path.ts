/**
 * Where the probe's packets went: for the echo requests (source → destination) and the replies
 * (destination → source), the hooks each watched namespace saw them at, and the first place
 * they stopped: a netfilter verdict, an address rewritten by NAT, a routing decision that sent
 * them nowhere, a link they left by and never arrived from, a destination that did not answer.
 * Pure: it reads a {@link ProbeResult}.
 *
 * @module
 */
import { counterDeltas } from "./nstat.ts";
import { type Pass, tracePasses } from "./passes.ts";
import type { NamespaceProbe, ProbeResult, ProbeRole, RouteAnswer } from "./probe.ts";

/** Which way a packet goes. */
export type Direction = "request" | "reply";

/**
 * The packets of a direction, in words: "requests" or "replies".
 *
 * @example
 * ```ts
 * plural("reply"); // "replies"
 * ```
 */
export function plural(direction: Direction): string {
  return direction === "request" ? "requests" : "replies";
}

/** One watched namespace as one direction's packets saw it. */
export interface HopView {
  readonly role: ProbeRole;
  readonly netns?: string;
  /** The hooks the packets reached, in the order first reached. */
  readonly hooks: readonly string[];
  /** Passes through tables other than the probe's own. */
  readonly passes: readonly Pass[];
  /** Every pass, the probe's own included (they show the headers at each hook). */
  readonly allPasses: readonly Pass[];
  /** The last output interface the packets were seen to leave by. */
  readonly oif?: string;
}

/** Where and why the packets stopped. */
export type Stop =
  & { readonly direction: Direction; readonly role: ProbeRole; readonly netns?: string }
  & (
    /** A rule or a chain's policy dropped (or rejected) them. */
    | { readonly kind: "dropped"; readonly pass: Pass }
    /** NAT changed an address of theirs and they never came back. */
    | { readonly kind: "rewritten"; readonly rewrite: Rewrite }
    /** They arrived and the kernel's routing sent them nowhere (no forward, no input). */
    | {
      readonly kind: "not-routed";
      readonly route?: RouteAnswer;
      readonly counters: readonly (readonly [string, number])[];
    }
    /** They left this namespace (`role`) and the next watched one (`next`) never saw them. */
    | {
      readonly kind: "not-delivered";
      readonly next: ProbeRole;
      readonly nextNetns?: string;
      readonly oif?: string;
    }
    /** The destination got the requests and sent no reply. */
    | { readonly kind: "not-answered"; readonly counters: readonly (readonly [string, number])[] }
    /** They left the part of the path this machine can watch and nothing came back. */
    | { readonly kind: "unwatched"; readonly oif?: string }
    /** The source could not send them (ping's own error). */
    | { readonly kind: "not-sent"; readonly reason: string }
  );

/** The probe's result read along the path. */
export interface PathView {
  /** Some small echo was answered. */
  readonly answered: boolean;
  /** The large echo (Don't Fragment) was sent and not answered while small ones were. */
  readonly largeLost: boolean;
  readonly request: readonly HopView[];
  readonly reply: readonly HopView[];
  /** The first stop of the requests, else of the replies (none when answered). */
  readonly stop?: Stop;
  /** Where the large echo stopped, when only it was lost. */
  readonly largeStop?: Stop;
  /** NAT rules that changed the small echoes' addresses on the way. */
  readonly rewrites: readonly Rewrite[];
}

/** Counters whose growth names a drop outside netfilter. */
const DROP_COUNTERS = [
  "IpInAddrErrors",
  "IpInNoRoutes",
  "IpOutNoRoutes",
  "IpExtInNoRoutes",
  "TcpExtIPReversePathFilter",
  "IpInHdrErrors",
  "IpInDiscards",
  "IpOutDiscards",
  "IpFragFails",
  "IcmpOutDestUnreachs",
  "IcmpOutErrors",
  "IcmpInEchos",
  "IcmpOutEchoReps",
  "Ip6InNoRoutes",
  "Ip6OutNoRoutes",
  "Ip6InAddrErrors",
  "Ip6InHdrErrors",
  "Ip6InDiscards",
  "Ip6OutDiscards",
  "Ip6FragFails",
  "Icmp6OutDestUnreachs",
  "Icmp6OutErrors",
  "Icmp6InEchos",
  "Icmp6OutEchoReplies",
];

function deltas(ns: NamespaceProbe): [string, number][] {
  if (!ns.trace) return [];
  const d = counterDeltas(ns.trace.before.counters, ns.trace.after.counters);
  return DROP_COUNTERS.flatMap((name) =>
    d.has(name) ? [[name, d.get(name)!] as [string, number]] : []
  );
}

const ICMP_TYPE: Readonly<Record<Direction, string>> = {
  request: "echo-request",
  reply: "echo-reply",
};

/** The passes of `direction`'s packets with one of `ids` in a namespace. */
function hop(ns: NamespaceProbe, direction: Direction, ids: ReadonlySet<number>): HopView {
  const all = ns.trace ? tracePasses(ns.trace.events, ns.trace.hooks) : [];
  const mine = all.filter((p) =>
    p.packet.icmpType === ICMP_TYPE[direction] && p.packet.icmpId !== undefined &&
    ids.has(p.packet.icmpId)
  );
  const hooks: string[] = [];
  for (const p of mine) {
    const hook = p.hook ?? (p.family === "netdev" ? "ingress" : undefined);
    if (hook && !hooks.includes(hook)) hooks.push(hook);
  }
  const oif = mine.findLast((p) => p.packet.oif)?.packet.oif;
  return {
    role: ns.role,
    ...(ns.netns === undefined ? {} : { netns: ns.netns }),
    hooks,
    passes: mine.filter((p) => !p.probe),
    allPasses: mine,
    ...(oif ? { oif } : {}),
  };
}

/** A NAT rule that changed the packets' addresses, and where. */
export interface Rewrite {
  readonly direction: Direction;
  readonly role: ProbeRole;
  readonly netns?: string;
  readonly pass: Pass;
  readonly field: "daddr" | "saddr";
  readonly from: string;
  readonly to: string;
}

/** The NAT rules of one namespace that changed an address of the packets after them. */
function rewrites(view: HopView, direction: Direction, next?: HopView): Rewrite[] {
  const found: Rewrite[] = [];
  for (const [i, p] of view.allPasses.entries()) {
    const rule = p.decidedBy?.rule ?? "";
    const field = /\b(dnat|redirect)\b/.test(rule)
      ? "daddr"
      : /\b(snat|masquerade)\b/.test(rule)
      ? "saddr"
      : undefined;
    if (!field || p.probe) continue;
    // After postrouting NAT no hook of this namespace sees the packet again: the next one does.
    const later = [...view.allPasses.slice(i + 1), ...(next?.allPasses ?? [])].find((q) =>
      q.packet.ipId === p.packet.ipId && q.packet[field] !== undefined &&
      q.packet[field] !== p.packet[field]
    );
    if (later && p.packet[field]) {
      found.push({
        direction,
        role: view.role,
        ...(view.netns === undefined ? {} : { netns: view.netns }),
        pass: p,
        field,
        from: p.packet[field]!,
        to: later.packet[field]!,
      });
    }
  }
  return found;
}

/** The hooks a packet reaches when a namespace passes it on (or takes it in, at the end). */
function passedOn(role: ProbeRole, direction: Direction, hooks: readonly string[]): boolean {
  const start = direction === "request" ? "source" : "destination";
  const end = direction === "request" ? "destination" : "source";
  if (role === start) return hooks.includes("postrouting") || hooks.includes("output");
  if (role === end) return hooks.includes("input");
  return hooks.includes("postrouting");
}

function walk(
  direction: Direction,
  ids: ReadonlySet<number>,
  order: readonly NamespaceProbe[],
): { views: HopView[]; stop?: Stop } {
  const views: HopView[] = [];
  for (const [i, ns] of order.entries()) {
    if (!ns.trace) continue;
    const seen = hop(ns, direction, ids);
    // Seen only by netdev ingress: the stack threw the frame away before IP (a frame for
    // another MAC address, say): for IP it never arrived.
    const onlyIngress = seen.hooks.length > 0 && seen.hooks.every((h) => h === "ingress") &&
      !seen.passes.some((p) => p.verdict === "drop");
    const view = onlyIngress ? { ...seen, hooks: [] } : seen;
    views.push(view);
    const at = { direction, role: ns.role, ...(ns.netns === undefined ? {} : { netns: ns.netns }) };
    const previous = order.slice(0, i).reverse().find((n) => n.trace);
    if (view.hooks.length === 0) {
      if (!previous && direction === "reply" && ns.role === "destination") {
        return { views, stop: { ...at, kind: "not-answered", counters: deltas(ns) } };
      }
      if (!previous) return { views };
      const before = views[views.length - 2];
      if (!passedOn(previous.role, direction, before.hooks)) return { views };
      const oif = before.oif;
      return {
        views,
        stop: {
          direction,
          role: previous.role,
          ...(previous.netns === undefined ? {} : { netns: previous.netns }),
          kind: "not-delivered",
          next: ns.role,
          ...(ns.netns === undefined ? {} : { nextNetns: ns.netns }),
          ...(oif ? { oif } : {}),
        },
      };
    }
    const dropped = view.passes.find((p) => p.verdict === "drop");
    if (dropped) return { views, stop: { ...at, kind: "dropped", pass: dropped } };
    if (!passedOn(ns.role, direction, view.hooks)) {
      const start = direction === "request" ? "source" : "destination";
      if (ns.role === start && direction === "reply") {
        return { views, stop: { ...at, kind: "not-answered", counters: deltas(ns) } };
      }
      const route = ns.routes[direction === "request" ? 0 : 1];
      return {
        views,
        stop: { ...at, kind: "not-routed", ...(route ? { route } : {}), counters: deltas(ns) },
      };
    }
  }
  return { views };
}

/**
 * Reads the probe's result along the path (`result.namespaces` in path order: source, this
 * host, peer host, destination).
 *
 * @example
 * ```ts
 * import { type ProbePlan, runProbe } from "./probe.ts";
 * declare const plan: ProbePlan;
 * const view = pathView(await runProbe(plan));
 * if (!view.answered) view.stop; // where the packets stopped
 * ```
 */
export function pathView(result: ProbeResult): PathView {
  const order = result.namespaces;
  const small = new Set([result.small.icmpId]);
  const answered = result.small.answered > 0;
  const request = walk("request", small, order);
  const reply = walk("reply", small, [...order].reverse());
  const largeLost = result.large !== undefined && answered && result.large.answered === 0;
  const stop = answered ? undefined : firstStop(result, request, reply, order);
  const largeStop = largeLost ? largeStopOf(result, order) : undefined;
  return {
    answered,
    largeLost,
    request: request.views,
    reply: reply.views,
    ...(stop ? { stop } : {}),
    ...(largeStop ? { largeStop } : {}),
    rewrites: [
      ...request.views.flatMap((v, i) => rewrites(v, "request", request.views[i + 1])),
      ...reply.views.flatMap((v, i) => rewrites(v, "reply", reply.views[i + 1])),
    ],
  };
}

function largeStopOf(result: ProbeResult, order: readonly NamespaceProbe[]): Stop | undefined {
  const ids = new Set([result.large!.icmpId]);
  const request = walk("request", ids, order);
  if (request.stop) return request.stop;
  // Never sent (the source knew a smaller path MTU already): not a missing answer.
  const failure = result.large!.failure;
  if (failure && (request.views[0]?.hooks.length ?? 0) === 0) {
    return { direction: "request", role: "source", kind: "not-sent", reason: failure };
  }
  const reply = walk("reply", ids, [...order].reverse());
  return reply.stop ??
    (result.large!.failure
      ? { direction: "request", role: "source", kind: "not-sent", reason: result.large!.failure }
      : undefined);
}

function firstStop(
  result: ProbeResult,
  request: { views: HopView[]; stop?: Stop },
  reply: { views: HopView[]; stop?: Stop },
  order: readonly NamespaceProbe[],
): Stop | undefined {
  if (request.stop) return request.stop;
  const source = request.views[0];
  if (!source || source.hooks.length === 0) {
    return {
      direction: "request",
      role: "source",
      kind: "not-sent",
      reason: result.small.failure ?? result.small.errors[0] ??
        "no echo request left the container",
    };
  }
  const last = request.views[request.views.length - 1];
  const reached = last.role === "destination" && last.hooks.includes("input");
  if (reply.stop) return reply.stop;
  if (!reached) {
    // The requests left the last watched namespace; no reply came back.
    const host = order.findLast((n) => n.trace && n.role !== "destination" && n.role !== "source");
    const view = request.views.find((v) => v.role === host?.role);
    const oif = view?.oif;
    return {
      direction: "request",
      role: host?.role ?? "this host",
      ...(host?.netns === undefined ? {} : { netns: host.netns }),
      kind: "unwatched",
      ...(oif ? { oif } : {}),
    };
  }
  return undefined;
}
