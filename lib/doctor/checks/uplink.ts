/**
 * This host's own uplink: the interface its peers reach it by must be up, have a carrier and
 * hold this host's address. When it is down the kernel has also removed every route through
 * it, so the peer routes are missing as a consequence: this finding names the cause.
 *
 * @module
 */
import { interfaceWithAddress } from "../../host/public_address.ts";
import { formatAddress } from "../../net/address.ts";
import { formatPrefix } from "../../net/prefix.ts";
import type { DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";

/** The command that puts the peer routes back after the uplink returns. */
function resync(ctx: DoctorContext): string {
  return ctx.registry
    ? `hg peer sync --store ${ctx.registry.url}${ctx.obs.node ? ` --node ${ctx.obs.node}` : ""}`
    : "# then add the peer routes again: hg peer add SUBNET --via ADDRESS, for each peer";
}

/**
 * The uplink is down, has no carrier, or does not hold this host's address.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkUplink(ctx)[0]?.id; // "uplink-down"
 * ```
 */
export function checkUplink(ctx: DoctorContext): Finding[] {
  const host = ctx.obs.host;
  const self = ctx.ownLease?.attrs.publicIp;
  if (self && !interfaceWithAddress(host, self)) {
    const addr = formatAddress(self);
    return [{
      id: "uplink-down",
      severity: "error",
      stage: "uplink",
      summary: `this host's address ${addr} (its lease's public address) is on no interface: ` +
        "other hosts send its containers' packets to an address nobody here answers",
      evidence: [
        `registry: ${formatPrefix(ctx.ownLease!.subnet)} -> ${addr}`,
        `no interface has ${addr} (ip -4 addr)`,
      ],
      fix: [
        `# give it back: ip addr add ${addr}/PREFIX-LENGTH dev ${ctx.uplink ?? "UPLINK"}`,
        resync(ctx),
      ],
    }];
  }
  const link = host.links.find((l) => l.ifname === ctx.uplink);
  if (!link) return [];
  const name = link.ifname;
  if (!link.up) {
    return [{
      id: "uplink-down",
      severity: "error",
      stage: "uplink",
      summary: `the uplink ${name} is down: this host reaches no other host, and the kernel ` +
        "removed every route through it",
      explanation:
        "Taking a link down removes the routes through it; they do not come back with the link.",
      evidence: [`${name}: state ${link.operstate}, flags without UP`],
      fix: [`ip link set ${name} up`, resync(ctx)],
    }];
  }
  if (!link.lowerUp) {
    return [{
      id: "uplink-down",
      severity: "error",
      stage: "uplink",
      summary: `the uplink ${name} has no carrier: nothing is plugged in at its other end`,
      explanation: "Routes through it stay, marked linkdown, but no packet leaves.",
      evidence: [`${name}: state ${link.operstate}, flags without LOWER_UP`],
      fix: [`# check ${name}'s other end (cable, switch port, veth peer): ip link show ${name}`],
    }];
  }
  const addressed = host.addresses.find((l) => l.ifname === name);
  if (!addressed?.addresses.some((a) => a.address.family === ctx.family)) {
    return [{
      id: "uplink-down",
      severity: "error",
      stage: "uplink",
      summary: `the uplink ${name} has no IPv${ctx.family} address: no other host can reach ` +
        "this one",
      evidence: [`ip -${ctx.family} addr show ${name}: no address`],
      fix: [`# give ${name} this host's address: ip addr add ADDRESS/PREFIX-LENGTH dev ${name}`],
    }];
  }
  return [];
}
