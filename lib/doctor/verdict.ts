/**
 * Doctor's verdict with a probe: the probe decides. Its echoes answered: OK, whatever the
 * static checks suspect (their errors become warnings, and no fix that removes or replaces
 * anything is printed). Not answered: the cause found where the packets stopped comes first,
 * then what else the static checks found on this host and the peer. Pure.
 *
 * @module
 */
import { type PathView, plural, type Stop } from "../probe/path.ts";
import type { ProbeResult } from "../probe/probe.ts";
import type { Diagnosis, ProbeSummary } from "./diagnose.ts";
import type { Finding } from "./finding.ts";
import type { Observation } from "./observation.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import { pathView } from "../probe/path.ts";
import { containerAt } from "./checks/plumbing.ts";
import { type Container, type DoctorContext, leaseFor } from "./context.ts";
import { diagnose } from "./diagnose.ts";
import { sortFindings } from "./finding.ts";
import { fixFor, probeCause, type Side } from "./probe_cause.ts";

/** A fix line that removes or replaces something: printed only for a proven cause. */
const REMOVES = /\b(del|delete|flush|rm|release|replace|down|nomaster)\b|\s-[DFX]\s/;

/** A finding as a warning whose fix removes nothing. */
function demote(f: Finding): Finding {
  return {
    ...f,
    severity: f.severity === "error" ? "warning" : f.severity,
    fix: f.fix.filter((l) => !REMOVES.test(l)),
  };
}

function stopText(stop: Stop): string {
  const where = stop.netns === undefined ? stop.role : `${stop.role} ${stop.netns}`;
  switch (stop.kind) {
    case "dropped":
      return `${where}: dropped by ${stop.pass.family} ${stop.pass.table} ${stop.pass.chain}${
        stop.pass.encapsulated ? " (the VXLAN packets that carry them)" : ""
      }`;
    case "rewritten":
      return `${where}: ${stop.rewrite.field} rewritten from ${stop.rewrite.from} to ${stop.rewrite.to}`;
    case "not-routed":
      return `${where}: not routed${stop.route?.error ? ` (${stop.route.error})` : ""}`;
    case "not-delivered":
      return `${where}: left${stop.oif ? ` by ${stop.oif}` : ""}, never reached the ${stop.next}`;
    case "not-answered":
      return `${where}: arrived, not answered`;
    case "unwatched":
      return `${where}: left${stop.oif ? ` by ${stop.oif}` : ""}, no reply came back`;
    case "not-sent":
      return `${where}: not sent (${stop.reason})`;
  }
}

/** The probe's result as doctor reports it. */
export function probeSummary(result: ProbeResult, view: PathView): ProbeSummary {
  const stop = view.stop ?? view.largeStop;
  return {
    sent: result.small.sent,
    answered: result.small.answered,
    ...(result.large
      ? {
        large: {
          size: result.large.size,
          sent: result.large.sent,
          answered: result.large.answered,
        },
      }
      : {}),
    ...(stop ? { stoppedAt: `${plural(stop.direction)}: ${stopText(stop)}` } : {}),
    watched: result.namespaces.map((n) => ({
      role: n.role,
      ...(n.netns === undefined ? {} : { netns: n.netns }),
      ...(n.error === undefined ? {} : { error: n.error }),
    })),
    elapsedMs: result.elapsedMs,
  };
}

/** What the verdict is made from. */
export interface VerdictInput {
  /** The static diagnosis of this host for the packet. */
  readonly local: Diagnosis;
  readonly here: Side;
  /** The destination's host, when the probe watched it. */
  readonly peer?: Side;
  readonly result: ProbeResult;
  readonly view: PathView;
  readonly src: string;
  readonly dst: string;
  readonly peerAddress?: string;
}

/** Every address of a side's host and of its containers. */
function addressesOf(side: Side | undefined): Set<string> {
  if (!side) return new Set();
  const host = side.ctx.obs.host.addresses.flatMap((l) => l.addresses);
  const containers = side.ctx.containers.flatMap((c) =>
    c.observed?.state?.addresses.flatMap((l) => l.addresses) ?? []
  );
  return new Set([...host, ...containers].map((a) => formatAddress(a.address)));
}

/**
 * A NAT rewrite that explains unanswered echoes: any destination rewrite, or a source rewrite
 * to an address that is not the rewriting machine's own (masquerading to the host's own
 * address works, and is not blamed).
 */
function natStop(input: VerdictInput): Stop | undefined {
  const { view } = input;
  if (view.answered || view.stop?.kind === "dropped") return undefined;
  const own = new Set([...addressesOf(input.here), ...addressesOf(input.peer)]);
  const r = view.rewrites.find((r) => r.field === "daddr" || !own.has(r.to));
  return r
    ? {
      direction: r.direction,
      role: r.role,
      ...(r.netns === undefined ? {} : { netns: r.netns }),
      kind: "rewritten",
      rewrite: r,
    }
    : undefined;
}

const same = (a: Finding, b: Finding) =>
  a.id === b.id && (a.where ?? "") === (b.where ?? "") && a.summary === b.summary;

/**
 * The verdict.
 *
 * @example
 * ```ts
 * import { pathView } from "../probe/path.ts";
 * import type { ProbeResult } from "../probe/probe.ts";
 * import type { Diagnosis } from "./diagnose.ts";
 * import type { Side } from "./probe_cause.ts";
 * declare const local: Diagnosis, here: Side, result: ProbeResult;
 * const view = pathView(result);
 * const d = probeVerdict({ local, here, result, view, src: "1.1.1.2", dst: "1.1.2.2" });
 * d.ok; d.findings[0];
 * ```
 */
export function probeVerdict(input: VerdictInput): Diagnosis {
  const { local, result, view } = input;
  const probe = probeSummary(result, view);
  const peerFindings = (input.peer?.findings ?? []).map((f) => ({
    ...f,
    where: input.peer!.netns,
    fix: fixFor(input.peer!.netns, f.fix),
  }));
  const statics = [...local.findings, ...peerFindings].filter((f, i, all) =>
    all.findIndex((g) => same(f, g)) === i
  );
  if (view.answered && !view.largeLost) {
    return {
      ...local,
      ok: true,
      status: "ok",
      verdict:
        `the probe's echoes to ${input.dst} were answered (${result.small.answered} of ${result.small.sent})` +
        (result.large ? `, also one of ${result.large.size} bytes` : ""),
      findings: sortFindings(statics.map(demote)),
      probe,
    };
  }
  const stop = natStop(input) ?? view.stop ?? view.largeStop;
  const cause = stop
    ? probeCause({
      stop,
      result,
      here: input.here,
      ...(input.peer ? { peer: input.peer } : {}),
      src: input.src,
      dst: input.dst,
      ...(input.peerAddress ? { peerAddress: input.peerAddress } : {}),
    })
    : undefined;
  const rest = sortFindings(
    statics.filter((f) =>
      !cause || !(f.id === cause.id && (f.where ?? "") === (cause.where ?? "")) &&
        !(cause.id === "firewall-drop" && f.id === "firewall-forward-drop" &&
          (f.where ?? "") === (cause.where ?? ""))
    ),
  );
  const findings = cause ? [cause, ...rest] : rest;
  const large = view.largeLost && result.large
    ? ` (echoes of ${result.large.size} bytes with Don't Fragment are lost; small ones pass)`
    : "";
  return {
    ...local,
    ok: false,
    status: "problem",
    verdict: cause ? `${cause.summary}${large}` : `the probe's echoes were not answered${large}`,
    findings,
    probe,
  };
}

/** What {@link judgeProbe} reads: the observations, the packet, and the probe's result. */
export interface ProbeJudgement {
  /** The static diagnosis of this host for the packet. */
  readonly local: Diagnosis;
  /** This host's facts (`doctorContext` of its observation). */
  readonly here: DoctorContext;
  /**
   * The destination's host, when the probe watched it (its observation holds the registry):
   * its facts in the family of the probe, and its observation as read (`ctx.obs` is a view of
   * it for IPv6; without `obs` it is that).
   */
  readonly peer?: {
    readonly netns: string;
    readonly ctx: DoctorContext;
    readonly obs?: Observation;
  };
  readonly from: Container;
  readonly to: IpAddress;
  readonly result: ProbeResult;
}

/**
 * The verdict on a probe's result, from the observations alone: the static findings of both
 * hosts (the peer's whole host and its way back to the source), where the packets stopped, and
 * the cause. Pure: `hg doctor` runs it after its probe, and tests replay captured probes.
 *
 * @example
 * ```ts
 * declare const input: ProbeJudgement;
 * judgeProbe(input).findings[0];
 * ```
 */
export function judgeProbe(input: ProbeJudgement): Diagnosis {
  const { local, here, from, to, result } = input;
  const peerCtx = input.peer?.ctx;
  const peerObs = input.peer?.obs ?? peerCtx?.obs;
  const target = peerCtx && containerAt(peerCtx, to);
  const peer = input.peer && peerCtx
    ? {
      netns: input.peer.netns,
      ctx: peerCtx,
      findings: [
        ...diagnose(peerObs!).findings,
        ...(target ? diagnose(peerObs!, { to: from.address, from: target.name }).findings : []),
      ],
    }
    : undefined;
  const peerUplink = peerCtx?.obs.host.addresses.find((l) => l.ifname === peerCtx.uplink)
    ?.addresses.find((a) => a.address.family === to.family && a.scope === "global")?.address;
  const peerAddress = leaseFor(here, to)?.attrs.publicIp ?? peerUplink;
  return probeVerdict({
    local,
    here: { ctx: here, findings: local.findings },
    ...(peer ? { peer } : {}),
    result,
    view: pathView(result),
    src: formatAddress(from.address),
    dst: formatAddress(to),
    ...(peerAddress ? { peerAddress: formatAddress(peerAddress) } : {}),
  });
}
