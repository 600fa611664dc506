/**
 * Whether the host forwards what arrives on the interfaces of the containers' traffic: the
 * bridge (the containers' packets to other hosts) and the uplink (other hosts' packets to the
 * containers, and the replies). The kernel checks the forwarding switch of the interface a
 * packet arrives on; `net.ipv4.ip_forward` sets them all at once.
 *
 * @module
 */
import { sysctlCommand } from "../../sysctl/sysctl.ts";
import type { DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { forwards6From, forwardsFrom, interfaceSetting } from "../settings.ts";

/** The interfaces packets are forwarded from: the bridge and the uplink (or `inputs`). */
function forwardingInputs(ctx: DoctorContext, inputs?: readonly string[]): string[] {
  const names = inputs ?? [ctx.obs.bridge, ...(ctx.uplink ? [ctx.uplink] : [])];
  const present = new Set(ctx.obs.host.links.map((l) => l.ifname));
  return [...new Set(names)].filter((n) => present.has(n));
}

/**
 * Interfaces that packets arrive on to be forwarded whose `forwarding` is off.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkForwarding(ctx, ["cni0", "eth0"]); // [] when both forward
 * ```
 */
export function checkForwarding(ctx: DoctorContext, inputs?: readonly string[]): Finding[] {
  if (ctx.family === 6) return checkIpv6Forwarding(ctx, inputs);
  const s = ctx.obs.sysctl;
  const all = forwardingInputs(ctx, inputs);
  const off = all.filter((i) => !forwardsFrom(s, i));
  if (off.length === 0) return [];
  const globalOff = s.get("net.ipv4.ip_forward") !== "1";
  const value = (key: string) => s.get(key) ?? "(not read)";
  const perInterface = off.map((i) =>
    `net.ipv4.conf.${i}.forwarding = ${value(`net.ipv4.conf.${i}.forwarding`)}`
  );
  if (globalOff && off.length === all.length) {
    return [{
      id: "forwarding-off",
      severity: "error",
      stage: "forwarding",
      summary:
        "IP forwarding is off: this host drops every packet between its containers and other hosts",
      explanation:
        "net.ipv4.ip_forward=0 makes the kernel deliver only packets addressed to the host itself. " +
        "A network restart or a sysctl file can reset it.",
      evidence: [`net.ipv4.ip_forward = ${value("net.ipv4.ip_forward")}`, ...perInterface],
      fix: [
        sysctlCommand("net.ipv4.ip_forward", "1"),
        "# keep it across reboots:",
        "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-hg.conf",
      ],
    }];
  }
  const carries = (i: string) =>
    i === ctx.obs.bridge
      ? `the containers' packets to other hosts arrive on ${i}`
      : `other hosts' packets to the containers, and the replies, arrive on ${i}`;
  return [{
    id: "forwarding-off",
    severity: "error",
    stage: "forwarding",
    summary:
      `forwarding is off on ${off.join(" and ")}: the kernel drops packets that arrive there ` +
      "to be forwarded",
    explanation:
      `The kernel forwards a packet only when the interface it arrives on has forwarding on; ${
        off.map(carries).join("; ")
      }. ${
        globalOff
          ? "net.ipv4.ip_forward is off too, but the other interfaces' own switches are on."
          : "net.ipv4.ip_forward is on, but an interface's own switch was turned off after it."
      }`,
    evidence: [
      `net.ipv4.ip_forward = ${value("net.ipv4.ip_forward")}`,
      ...perInterface,
      ...(interfaceSetting(s, "all", "forwarding") === undefined
        ? []
        : [`net.ipv4.conf.all.forwarding = ${value("net.ipv4.conf.all.forwarding")}`]),
    ],
    fix: off.map((i) => sysctlCommand(`net.ipv4.conf.${i}.forwarding`, "1")),
  }];
}

/**
 * IPv6 forwarding off where the containers' IPv6 packets arrive: `all.forwarding` is the switch
 * (an interface's own `forwarding` off changes nothing for forwarding, so it is not named).
 */
function checkIpv6Forwarding(ctx: DoctorContext, inputs?: readonly string[]): Finding[] {
  const s = ctx.obs.sysctl;
  const all = forwardingInputs(ctx, inputs);
  const off = all.filter((i) => forwards6From(s, i) === false);
  if (off.length === 0) return [];
  const key = "net.ipv6.conf.all.forwarding";
  return [{
    id: "forwarding-off",
    severity: "error",
    stage: "forwarding",
    summary: "IPv6 forwarding is off: this host drops every IPv6 packet between its containers " +
      "and other hosts",
    explanation:
      "net.ipv6.conf.all.forwarding=0 makes the kernel deliver only IPv6 packets addressed to the host itself; " +
      "the interfaces' own forwarding switches do not turn it on again. Writing it also makes the host a router " +
      "on every interface (it then ignores router advertisements: static routes are fine).",
    evidence: [
      `${key} = ${s.get(key)}`,
      ...off.flatMap((i) => {
        const force = s.get(`net.ipv6.conf.${i}.force_forwarding`);
        return force === undefined ? [] : [`net.ipv6.conf.${i}.force_forwarding = ${force}`];
      }),
    ],
    fix: [
      sysctlCommand(key, "1"),
      "# keep it across reboots:",
      `echo ${key}=1 > /etc/sysctl.d/90-hg-ipv6.conf`,
    ],
  }];
}
