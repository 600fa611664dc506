/**
 * Policy routing rules followed, not only warned about: for the containers' packets to other
 * hosts (and the other hosts' packets back), the route the kernel picks through the rules is
 * compared with the one table main alone gives. Extra rules that change nothing say nothing;
 * a rule that sends the packet where it cannot arrive is an error (its removal the fix); one
 * that sends it to another host that may forward it is a warning; rules doctor cannot
 * evaluate make it undecided.
 *
 * @module
 */
import { isDefaultRule, type Rule } from "../../ip/rule.ts";
import { formatRoute, type Route } from "../../ip/route.ts";
import { addressEquals, formatAddress } from "../../net/address.ts";
import { formatPrefix, hostAt } from "../../net/prefix.ts";
import { isLocalAddress, onLinkInterface } from "../../peers/onlink.ts";
import { type DoctorContext, isPeerRoute, leaseFor } from "../context.ts";
import type { Finding, Severity } from "../finding.ts";
import {
  describeLookup,
  followRules,
  type Lookup,
  type RoutedPacket,
  sameOutcome,
  withoutPolicy,
} from "../lookup.ts";
import { capped } from "./evidence.ts";
import { gatewayFailed } from "./gateways.ts";

/** Which way a packet goes: a container's out to another host, or another host's in to one. */
export type Direction = "out" | "in";

/** A packet and where it goes: by the rules (what the kernel does) and by table main alone. */
export interface PolicyPath {
  readonly packet: RoutedPacket;
  readonly direction: Direction;
  readonly kernel: Lookup;
  readonly main: Lookup;
}

/**
 * Where the kernel sends `packet`, and where table main alone would.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../../net/address.ts";
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * const [src, dst] = [parseAddress("1.1.1.2"), parseAddress("1.1.2.2")];
 * const path = policyPath(ctx, { src, dst, iif: "cni0" }, "out");
 * path.kernel.kind; // "route"
 * ```
 */
export function policyPath(
  ctx: DoctorContext,
  packet: RoutedPacket,
  direction: Direction,
): PolicyPath {
  return {
    packet,
    direction,
    kernel: followRules(ctx.routing, packet),
    main: followRules(withoutPolicy(ctx.routing), packet),
  };
}

/** Whether packets that leave by `r` go nowhere (its gateway does not answer, is off-link or this host). */
function deadEnd(ctx: DoctorContext, r: Route): boolean {
  const gw = r.gateway;
  if (!gw) return false;
  return gatewayFailed(ctx, r) || isLocalAddress(ctx.obs.host, gw) ||
    (!onLinkInterface(ctx.obs.host, gw) && !r.flags.includes("onlink"));
}

/** How bad the kernel's way is, and why; undefined when it reaches where it should. */
function judge(
  ctx: DoctorContext,
  path: PolicyPath,
): { severity: Severity; why: string } | undefined {
  const k = path.kernel;
  const dst = path.packet.dst;
  switch (k.kind) {
    case "undecided":
      return { severity: "undecided", why: "rules doctor cannot evaluate decide it" };
    case "none":
      return {
        severity: "error",
        why: 'no table the rules choose has a route: "Network is unreachable"',
      };
    case "rejected":
      return {
        severity: "error",
        why: k.route ? `the table has ${formatRoute(k.route)}` : "the rule refuses it",
      };
    case "local":
      return {
        severity: "error",
        why: "the kernel delivers it to this host instead of forwarding it",
      };
    case "route": {
      const r = k.route;
      if (path.direction === "in") {
        return r.dev === ctx.obs.bridge ? undefined : {
          severity: "error",
          why: `it leaves by ${r.dev ?? "?"}, not the bridge ${ctx.obs.bridge}`,
        };
      }
      if (!isPeerRoute(ctx, r)) {
        return {
          severity: "error",
          why:
            "it is not a route of the container network: it leads where the containers' subnets are not known",
        };
      }
      const owner = leaseFor(ctx, dst)?.attrs.publicIp ??
        (path.main.kind === "route" ? path.main.route.gateway : undefined);
      if (r.gateway && owner && addressEquals(r.gateway, owner)) return undefined;
      if (deadEnd(ctx, r)) {
        return {
          severity: "error",
          why: `its gateway ${r.gateway ? formatAddress(r.gateway) : ""} does not answer`,
        };
      }
      return {
        severity: "warning",
        why: `it goes to ${r.gateway ? formatAddress(r.gateway) : r.dev}${
          owner ? `, not to ${formatAddress(owner)}, the host that has ${formatAddress(dst)}` : ""
        }; whether that forwards it, only a real packet tells`,
      };
    }
  }
}

/** The extra rules the packet met on its way (the one that decided first). */
function blamed(ctx: DoctorContext, path: PolicyPath): Rule[] {
  const k = path.kernel;
  if (k.kind === "undecided") return [...k.rules];
  const decider = "rule" in k ? k.rule : undefined;
  if (decider && !isDefaultRule(decider)) return [decider];
  return ctx.routing.rules.filter((r) => !isDefaultRule(r));
}

const what = (p: RoutedPacket) =>
  `${p.src ? formatAddress(p.src) : "any"} -> ${formatAddress(p.dst)} (in ${p.iif})`;

/**
 * The finding for a packet whose way the rules change (undefined when they change nothing, or
 * the new way reaches its host).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../../net/address.ts";
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * const packet = { src: parseAddress("1.1.1.2"), dst: parseAddress("1.1.2.2"), iif: "cni0" };
 * policyFinding(ctx, policyPath(ctx, packet, "out"))?.severity; // "error"
 * ```
 */
export function policyFinding(ctx: DoctorContext, path: PolicyPath): Finding | undefined {
  if (sameOutcome(path.kernel, path.main)) return undefined;
  const verdict = judge(ctx, path);
  if (!verdict) return undefined;
  const rules = blamed(ctx, path);
  const decider = rules.length === 1 ? rules[0] : undefined;
  const p = path.packet;
  const get = `ip route get ${formatAddress(p.dst)}${
    p.src ? ` from ${formatAddress(p.src)}` : ""
  } iif ${p.iif}`;
  const k = path.kernel;
  return {
    id: "policy-route",
    severity: verdict.severity,
    stage: path.direction === "in" ? "return" : "route",
    summary: verdict.severity === "undecided"
      ? `doctor cannot tell where the kernel sends ${what(p)}: ${
        rules.length === 1 ? "a policy rule matches" : `${rules.length} policy rules match`
      } on things it does not model`
      : `${decider ? `the policy rule ${decider.priority}` : "policy rules"} send${
        decider ? "s" : ""
      } ${what(p)} away from ${
        path.main.kind === "route" ? `the route ${formatRoute(path.main.route)}` : "table main"
      }: ${verdict.why}`,
    explanation:
      "The kernel tries the policy rules (ip rule) by priority before table main; a rule that matches the " +
      "packet sends it by another table, or refuses it.",
    evidence: [
      ...capped(rules.map((r) => `ip rule: ${r.text}`)),
      `the kernel: ${describeLookup(k)}`,
      `table main alone: ${describeLookup(path.main)}`,
    ],
    fix: verdict.severity === "error" && decider
      ? [`ip rule del pref ${decider.priority}`]
      : [`# see where the kernel sends it: ${get}`],
  };
}

/**
 * Policy rules that change the way of the containers' packets, for a sample of packets: from
 * this host's containers to each other host's subnet and back (whole-host checks; the packet's
 * own path is followed by diagnose with a destination). Nothing when only the default rules
 * exist.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkPolicy(ctx).map((f) => f.severity);
 * ```
 */
export function checkPolicy(ctx: DoctorContext): Finding[] {
  if (ctx.routing.rules.every(isDefaultRule) || !ctx.subnet) return [];
  const local = ctx.containers[0]?.address ?? hostAt(ctx.subnet, 2);
  const subnets = ctx.leases.length > 0
    ? ctx.leases.filter((l) => l !== ctx.ownLease).map((l) => l.subnet)
    : ctx.hgRoutes.map((r) => r.dst);
  const findings = new Map<string, Finding>();
  for (const subnet of subnets) {
    if (subnet.length >= 31) continue;
    const remote = hostAt(subnet, 2);
    const out = policyPath(ctx, { src: local, dst: remote, iif: ctx.obs.bridge }, "out");
    const back = ctx.uplink
      ? [policyPath(ctx, { src: remote, dst: local, iif: ctx.uplink }, "in")]
      : [];
    for (const path of [out, ...back]) {
      const f = policyFinding(ctx, path);
      if (!f) continue;
      // One finding per rule and outcome; the first subnet stands for the others.
      const key = `${f.severity} ${f.evidence[0]}`;
      if (!findings.has(key)) {
        findings.set(key, { ...f, evidence: [...f.evidence, `(for ${formatPrefix(subnet)})`] });
      }
    }
  }
  return [...findings.values()];
}
