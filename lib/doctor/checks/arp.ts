/**
 * Whether this host answers ARP for its own address on its uplink, and each container for its
 * address on its eth0: without the answer, other hosts (or this host, for a container) cannot
 * send it a single packet. The kernel ignores a request when `arp_ignore` (the larger of `all`
 * and the interface's) is 8, or is 1-2 and the address is on another interface (2: or the
 * asker is outside the address's subnet); with `arp_filter` (`all` or the interface's) when
 * its route back to the asker, from the asked address, leaves by another interface (measured:
 * a policy rule that sends that route elsewhere makes the host fall silent).
 *
 * @module
 */
import { containerExecCommand } from "../../containers/where.ts";
import { sysctlCommand } from "../../sysctl/sysctl.ts";
import type { AddressedLink } from "../../ip/addr.ts";
import { addressEquals, formatAddress, type IpAddress } from "../../net/address.ts";
import { formatPrefix, prefixContains } from "../../net/prefix.ts";
import { selfAddress } from "../context.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { followRules } from "../lookup.ts";
import { effectiveMax, effectiveOr, type Sysctls } from "../settings.ts";
import { capped } from "./evidence.ts";

/**
 * Why `ifname` ignores ARP requests for `address` from `askers` (asked for only when the
 * setting depends on who asks), or undefined when it answers.
 */
function ignoredBy(
  s: Sysctls,
  links: readonly AddressedLink[],
  ifname: string,
  address: IpAddress,
  askers: () => readonly IpAddress[],
): { why: string; keys: string[] } | undefined {
  const level = effectiveMax(s, ifname, "arp_ignore") ?? 0;
  const keys = [`net.ipv4.conf.all.arp_ignore`, `net.ipv4.conf.${ifname}.arp_ignore`];
  if (level === 8) return { why: "arp_ignore=8 answers no request at all", keys };
  if (level !== 1 && level !== 2) return undefined;
  const own = links.find((l) => l.ifname === ifname)?.addresses.find((a) =>
    addressEquals(a.address, address)
  );
  if (!own) {
    const holder = links.find((l) => l.addresses.some((a) => addressEquals(a.address, address)));
    return {
      why:
        `arp_ignore=${level} answers only for addresses of the interface a request arrives on, ` +
        `and ${formatAddress(address)} is on ${holder?.ifname ?? "no interface"}, not ${ifname}`,
      keys,
    };
  }
  const outside = askers().filter((a) => !prefixContains(own.prefix, a));
  if (level === 2 && outside.length > 0) {
    return {
      why: `arp_ignore=2 answers only askers inside ${formatPrefix(own.prefix)}, and ${
        outside.map(formatAddress).join(", ")
      } are not`,
      keys,
    };
  }
  return undefined;
}

function settingsEvidence(s: Sysctls, keys: readonly string[]): string[] {
  return keys.map((k) => `${k} = ${s.get(k) ?? "(not read)"}`);
}

/** This host's uplink and its own address. */
function checkHost(ctx: DoctorContext): Finding[] {
  const uplink = ctx.uplink;
  const self = selfAddress(ctx);
  if (!uplink || !self) return [];
  const s = ctx.obs.sysctl;
  // The peers that ask: every lease's holder and hg's gateways, each address once, first come
  // first (a set per family, not a scan per address); gathered only when a setting needs them.
  let asking: IpAddress[] | undefined;
  const peers = () => {
    if (asking) return asking;
    const seen = { 4: new Set<bigint>(), 6: new Set<bigint>() };
    asking = [];
    const add = (a: IpAddress) => {
      if (!seen[a.family].has(a.value)) {
        seen[a.family].add(a.value);
        asking!.push(a);
      }
    };
    for (const l of ctx.leases) if (l !== ctx.ownLease) add(l.attrs.publicIp);
    for (const r of ctx.hgRoutes) if (r.gateway) add(r.gateway);
    return asking;
  };
  const addr = formatAddress(self);
  const ignored = ignoredBy(s, ctx.obs.host.addresses, uplink, self, peers);
  const findings: Finding[] = [];
  if (ignored) {
    findings.push({
      id: "arp-ignored",
      severity: "error",
      stage: "uplink",
      summary: `this host does not answer ARP for its address ${addr} on ${uplink}: ${ignored.why}`,
      explanation:
        "Other hosts send this host's containers' packets to its address; without an ARP answer they never learn " +
        "where it is, and every packet for its containers (and every reply to them) is lost.",
      evidence: settingsEvidence(s, ignored.keys),
      fix: [
        sysctlCommand("net.ipv4.conf.all.arp_ignore", "0"),
        sysctlCommand(`net.ipv4.conf.${uplink}.arp_ignore`, "0"),
      ],
    });
  }
  if (effectiveOr(s, uplink, "arp_filter")) {
    // The kernel's route back to the asker, from the asked address, as it looks it up.
    const elsewhere = peers().flatMap((p) => {
      const back = followRules(ctx.routing, { src: self, dst: p, iif: "lo" });
      if (back.kind === "route" && back.route.dev !== undefined && back.route.dev !== uplink) {
        return [{ peer: p, dev: back.route.dev, route: back.route }];
      }
      return [];
    });
    if (elsewhere.length > 0) {
      const keys = ["net.ipv4.conf.all.arp_filter", `net.ipv4.conf.${uplink}.arp_filter`];
      findings.push({
        id: "arp-ignored",
        severity: "error",
        stage: "uplink",
        summary: `this host does not answer ARP from ${
          formatAddress(elsewhere[0].peer)
        } on ${uplink}: with arp_filter on, it answers only where its route back leaves, and that is ${
          elsewhere[0].dev
        }`,
        evidence: [
          ...settingsEvidence(s, keys),
          ...capped(
            elsewhere.map((e) => `route from ${addr} to ${formatAddress(e.peer)}: dev ${e.dev}`),
          ),
        ],
        fix: [
          sysctlCommand("net.ipv4.conf.all.arp_filter", "0"),
          sysctlCommand(`net.ipv4.conf.${uplink}.arp_filter`, "0"),
        ],
      });
    }
  }
  return findings;
}

/** A container that does not answer the host's ARP requests for its address. */
export function checkContainerArp(ctx: DoctorContext, c: Container): Finding[] {
  const state = c.observed?.state;
  const s = c.observed?.sysctl;
  if (!state || !s) return [];
  const link = state.addresses.find((l) =>
    l.addresses.some((a) => addressEquals(a.address, c.address))
  );
  const gateway = ctx.bridge?.gateway?.address;
  if (!link || !gateway) return [];
  const ignored = ignoredBy(s, state.addresses, link.ifname, c.address, () => [gateway]);
  if (!ignored) return [];
  return [{
    id: "arp-ignored",
    severity: "error",
    stage: "container",
    summary: `container ${c.name} does not answer ARP for ${
      formatAddress(c.address)
    } on ${link.ifname}: ${ignored.why}`,
    explanation:
      "The host finds a container by ARP; without an answer, no packet for the container (and no reply to it) " +
      "gets there.",
    evidence: settingsEvidence(s, ignored.keys),
    fix: [
      containerExecCommand(c, sysctlCommand("net.ipv4.conf.all.arp_ignore", "0")),
      containerExecCommand(c, sysctlCommand(`net.ipv4.conf.${link.ifname}.arp_ignore`, "0")),
    ],
  }];
}

/**
 * ARP settings that keep this host (on its uplink) or its containers from answering.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkArp(ctx).map((f) => f.summary);
 * ```
 */
export function checkArp(ctx: DoctorContext, containers = ctx.containers): Finding[] {
  return [...checkHost(ctx), ...containers.flatMap((c) => checkContainerArp(ctx, c))];
}
