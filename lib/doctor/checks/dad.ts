/**
 * IPv6 duplicate address detection on the containers' way: an address whose DAD failed (another
 * node on the link has it; the kernel never uses it) on the bridge, the uplink or a container,
 * and addresses still tentative there (DAD runs for 1-2 s after an address or link is made:
 * until then the kernel does not use the address, and packets that need it wait). Link-local
 * addresses count for the bridge and the uplink: forwarded packets' neighbour solicitations go
 * out from the outgoing device's link-local address (measured: the first packets wait 1-2 s
 * while it is tentative). `optimistic` and `nodad` addresses are usable at once.
 *
 * @module
 */
import { containerExecCommand } from "../../containers/where.ts";
import type { AddressedLink, InterfaceAddress } from "../../ip/addr.ts";
import { formatAddress } from "../../net/address.ts";
import { sysctlCommand } from "../../sysctl/sysctl.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding, Stage } from "../finding.ts";

/** One interface whose IPv6 addresses are judged, and where it is. */
interface Place {
  readonly links: readonly AddressedLink[];
  readonly ifname: string;
  readonly stage: Stage;
  /** The container, for an interface inside one. */
  readonly container?: Container;
  /** Whether its link-local address counts (the host's forwarding interfaces). */
  readonly linkLocal: boolean;
}

function places(ctx: DoctorContext, containers: readonly Container[]): Place[] {
  const host = ctx.obs.host.addresses;
  return [
    { links: host, ifname: ctx.obs.bridge, stage: "bridge" as const, linkLocal: true },
    ...(ctx.uplink
      ? [{ links: host, ifname: ctx.uplink, stage: "uplink" as const, linkLocal: true }]
      : []),
    ...containers.flatMap((c) =>
      c.observed?.state
        ? [{
          links: c.observed.state.addresses,
          ifname: c.ifname,
          stage: "container" as const,
          container: c,
          linkLocal: false,
        }]
        : []
    ),
  ];
}

const text = (a: InterfaceAddress) => `${formatAddress(a.address)}/${a.prefix.length}`;
const where = (p: Place) => p.container ? `container ${p.container.name}'s ${p.ifname}` : p.ifname;
const run = (p: Place, line: string) =>
  p.container ? containerExecCommand(p.container, line) : line;

function failed(p: Place, a: InterfaceAddress): Finding {
  const addr = text(a);
  return {
    id: "address-dad-failed",
    severity: "error",
    stage: p.stage,
    summary: `${formatAddress(a.address)} on ${
      where(p)
    } failed duplicate address detection: another node on the link has it, and the kernel never uses it`,
    explanation:
      "The kernel asked the link whether anyone has the address before using it, and someone answered. " +
      "It keeps the address marked dadfailed and sends nothing from it, nor answers for it.",
    evidence: [`ip -6 addr show dev ${p.ifname}: ${addr} ${(a.flags ?? []).join(" ")}`],
    fix: [
      `# find who else has it: ip -6 neigh show ${
        formatAddress(a.address)
      }; give one of the two another address`,
      run(p, `ip addr del ${addr} dev ${p.ifname}`),
      run(p, `ip addr add ${addr} dev ${p.ifname}`),
    ],
  };
}

function tentative(p: Place, addresses: readonly InterfaceAddress[]): Finding {
  const list = addresses.map((a) => formatAddress(a.address)).join(", ");
  return {
    id: "address-tentative",
    severity: "warning",
    stage: p.stage,
    summary: `${list} on ${where(p)} ${
      addresses.length === 1 ? "is" : "are"
    } still tentative (duplicate address detection runs): the first packets that need ${
      addresses.length === 1 ? "it" : "them"
    } wait 1-2 s`,
    explanation:
      "The kernel uses an IPv6 address only once DAD has found no other node with it. Setting " +
      "accept_dad=0 (all and default) before the links are made skips it; otherwise it ends by itself.",
    evidence: addresses.map((a) =>
      `ip -6 addr show dev ${p.ifname}: ${text(a)} ${(a.flags ?? []).join(" ")}`
    ),
    fix: [
      run(p, sysctlCommand("net.ipv6.conf.all.accept_dad", "0")),
      run(p, sysctlCommand("net.ipv6.conf.default.accept_dad", "0")),
      "# before the links are made (it applies to new ones); or wait: DAD ends within 1-2 s",
    ],
  };
}

/**
 * DAD's verdicts on the IPv6 addresses of the bridge, the uplink and `containers` (all of the
 * IPv6 view's `ctx` unless given).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx6: DoctorContext;
 * checkDad(ctx6).map((f) => f.id); // ["address-dad-failed"]
 * ```
 */
export function checkDad(ctx: DoctorContext, containers = ctx.containers): Finding[] {
  const findings: Finding[] = [];
  for (const p of places(ctx, containers)) {
    const own = p.links.find((l) =>
      l.ifname === p.ifname
    )?.addresses.filter((a) =>
      a.address.family === 6 && (a.scope === "global" || (p.linkLocal && a.scope === "link"))
    ) ?? [];
    const flagged = (flag: string) => own.filter((a) => a.flags?.includes(flag as never));
    for (const a of flagged("dadfailed")) findings.push(failed(p, a));
    const waiting = flagged("tentative").filter((a) =>
      !a.flags?.includes("dadfailed") && !a.flags?.includes("optimistic")
    );
    if (waiting.length > 0) findings.push(tentative(p, waiting));
  }
  return findings;
}
