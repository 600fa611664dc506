/**
 * MTUs along the containers' way: the bridge's against the uplink's, and each container's
 * (and its veth's) against its veth, the bridge and the uplink. Measured in namespaces: a
 * container whose eth0 is larger than its veth on the host loses every bigger packet without
 * an error; one whose veth takes it, but the bridge or uplink does not, gets "fragmentation
 * needed" back and learns the path MTU after the first packet.
 *
 * @module
 */
import { containerIpCommand } from "../../containers/where.ts";
import { addressEquals } from "../../net/address.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";

/** The bridge's MTU is larger than the uplink's: big packets are lost on the way out or back. */
export function checkMtu(ctx: DoctorContext): Finding[] {
  const bridge = ctx.bridge?.link;
  const uplink = ctx.obs.host.links.find((l) => l.ifname === ctx.uplink);
  if (!bridge || !uplink || bridge.mtu <= uplink.mtu) return [];
  return [{
    id: "mtu-bridge-over-uplink",
    severity: "error",
    stage: "mtu",
    summary:
      `the bridge ${bridge.ifname} has MTU ${bridge.mtu} but the uplink ${uplink.ifname} only ${uplink.mtu}: ` +
      `packets over ${uplink.mtu} bytes are lost`,
    explanation:
      "host-gw adds no header, so containers must not send more than the uplink carries; and every host on " +
      "the segment must use the same MTU, or the larger packets of the others are dropped on the way in.",
    evidence: [`${bridge.ifname} mtu ${bridge.mtu}`, `${uplink.ifname} mtu ${uplink.mtu}`],
    fix: [
      `ip link set ${uplink.ifname} mtu ${bridge.mtu}`,
      "# the containers remember the smaller path MTU for 10 minutes: forget it",
      ...ctx.containers.map((c) => containerIpCommand(c, `route flush cache`)),
      `# (if the segment really carries only ${uplink.mtu} bytes, every host's bridge, veths and containers ` +
      `must be lowered to it: "hg setup --mtu ${uplink.mtu}" on each)`,
    ],
  }];
}

/**
 * A container whose eth0 (or veth) has a larger MTU than the veth, the bridge or the uplink.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkContainerMtu(ctx, ctx.containers[0])[0]?.id; // "mtu-container"
 * ```
 */
export function checkContainerMtu(ctx: DoctorContext, c: Container): Finding[] {
  const state = c.observed?.state;
  const veth = ctx.obs.host.links.find((l) => l.ifname === c.hostVeth);
  if (!state || !veth) return [];
  const holder = state.addresses.find((l) =>
    l.addresses.some((a) => addressEquals(a.address, c.address))
  );
  const eth = holder && state.links.find((l) => l.ifname === holder.ifname);
  if (!eth) return [];
  const inside = (cmd: string) => containerIpCommand(c, cmd);
  if (eth.mtu > veth.mtu) {
    return [{
      id: "mtu-container",
      severity: "error",
      stage: "mtu",
      summary:
        `container ${c.name}'s ${eth.ifname} has MTU ${eth.mtu} but its veth ${veth.ifname} ` +
        `only ${veth.mtu}: its packets over ${veth.mtu} bytes are lost without an error`,
      explanation:
        "A veth drops a packet larger than the MTU of its other end, and nothing tells the sender.",
      evidence: [`${c.name}: ${eth.ifname} mtu ${eth.mtu}`, `${veth.ifname} mtu ${veth.mtu}`],
      fix: [inside(`link set ${eth.ifname} mtu ${veth.mtu}`)],
    }];
  }
  const bridge = ctx.bridge?.link;
  const uplink = ctx.obs.host.links.find((l) => l.ifname === ctx.uplink);
  const limits = [
    ...(bridge ? [{ link: bridge, what: "the bridge" }] : []),
    ...(uplink ? [{ link: uplink, what: "the uplink" }] : []),
  ].filter((x) => eth.mtu > x.link.mtu).sort((a, b) => a.link.mtu - b.link.mtu);
  // The bridge larger than the uplink is mtu-bridge-over-uplink's to report.
  if (
    limits.length === 0 || (limits[0].what === "the uplink" && bridge && bridge.mtu > uplink!.mtu)
  ) {
    return [];
  }
  const limit = limits[0];
  return [{
    id: "mtu-container",
    severity: "warning",
    stage: "mtu",
    summary: `container ${c.name}'s ${eth.ifname} has MTU ${eth.mtu}, more than ${limit.what} ` +
      `${limit.link.ifname} (${limit.link.mtu}): its larger packets get through only by path-MTU discovery`,
    explanation:
      `The first packet over ${limit.link.mtu} bytes is lost and the host answers "fragmentation needed"; ` +
      "when that ICMP message is filtered on the way, every such packet is lost.",
    evidence: [
      `${c.name}: ${eth.ifname} mtu ${eth.mtu}`,
      `${veth.ifname} mtu ${veth.mtu}`,
      `${limit.link.ifname} mtu ${limit.link.mtu}`,
    ],
    fix: [
      inside(`link set ${eth.ifname} mtu ${limit.link.mtu}`),
      `ip link set ${veth.ifname} mtu ${limit.link.mtu}`,
    ],
  }];
}
