/**
 * Checks of the host's own plumbing: forwarding, the bridge, hg's veths and containers, and
 * the bridge's MTU against the uplink's.
 *
 * @module
 */
import { formatAddress, type IpAddress } from "../../net/address.ts";
import { firstHost, formatPrefix, prefixContains, prefixOf } from "../../net/prefix.ts";
import { formatRoute } from "../../ip/route.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";

/** `net.ipv4.ip_forward` is off. */
export function checkForwarding(ctx: DoctorContext): Finding[] {
  if (ctx.obs.host.forwarding) return [];
  return [{
    id: "forwarding-off",
    severity: "error",
    stage: "forwarding",
    summary:
      "IP forwarding is off: this host drops every packet between its containers and other hosts",
    explanation:
      "net.ipv4.ip_forward=0 makes the kernel deliver only packets addressed to the host itself. " +
      "A network restart or a sysctl file can reset it.",
    evidence: [
      `net.ipv4.ip_forward = ${ctx.obs.sysctl.get("net.ipv4.ip_forward") ?? "(unreadable)"}`,
    ],
    fix: [
      "sysctl -w net.ipv4.ip_forward=1",
      "# keep it across reboots:",
      "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-hg.conf",
    ],
  }];
}

/** The subnet the bridge should have: from its address, the registry, or the containers' marks. */
function expectedSubnet(ctx: DoctorContext) {
  if (ctx.subnet) return ctx.subnet;
  const c = ctx.containers[0];
  return c ? prefixOf(c.address, c.prefixLength) : undefined;
}

/** The bridge is missing, down, without an address, or without ports. */
export function checkBridge(ctx: DoctorContext): Finding[] {
  const name = ctx.obs.bridge;
  const subnet = expectedSubnet(ctx);
  const setup = `hg setup --subnet ${subnet ? formatPrefix(subnet) : "SUBNET"} --bridge ${name}`;
  if (!ctx.bridge) {
    return [{
      id: "bridge-missing",
      severity: "error",
      stage: "bridge",
      summary: `the bridge ${name} does not exist: containers have nothing to send through`,
      evidence: [`no link named ${name} (ip link show ${name})`],
      fix: [setup],
    }];
  }
  const findings: Finding[] = [];
  const link = ctx.bridge.link;
  if (!link.up) {
    findings.push({
      id: "bridge-down",
      severity: "error",
      stage: "bridge",
      summary: `the bridge ${name} is down: the containers' gateway does not answer`,
      explanation:
        "Taking a link down also removes every route through it; they come back with it.",
      evidence: [`${name}: state ${link.operstate}, flags without UP`],
      fix: [`ip link set ${name} up`],
    });
  }
  if (!ctx.bridge.gateway) {
    const gw = subnet ? `${formatAddress(firstHost(subnet))}/${subnet.length}` : "GATEWAY/LEN";
    findings.push({
      id: "bridge-no-address",
      severity: "error",
      stage: "bridge",
      summary: `the bridge ${name} has no IPv4 address: the containers' default gateway is gone`,
      evidence: [`ip addr show ${name}: no inet address`],
      fix: [`ip addr add ${gw} dev ${name}`],
    });
  }
  const ports = ctx.obs.host.links.filter((l) => l.master === name);
  if (link.up && ports.length === 0) {
    findings.push({
      id: "bridge-no-ports",
      severity: "warning",
      stage: "bridge",
      summary: `the bridge ${name} has no ports: no container is attached to it`,
      explanation:
        "An empty bridge has no carrier, so its routes are marked linkdown; add a container with hg netns add.",
      evidence: [`no link has master ${name}`],
      fix: [`hg netns add NAME`],
    });
  }
  return findings;
}

/** One container's veth and namespace. */
export function checkContainer(ctx: DoctorContext, c: Container): Finding[] {
  const findings: Finding[] = [];
  const bridge = ctx.obs.bridge;
  const addr = `${formatAddress(c.address)}/${c.prefixLength}`;
  if (c.master !== bridge) {
    findings.push({
      id: "veth-detached",
      severity: "error",
      stage: "veth",
      summary: `container ${c.name}'s veth ${c.hostVeth} is not attached to ${bridge}`,
      evidence: [
        `${c.hostVeth}: ${
          c.master ? `master ${c.master}` : "no master"
        } (hg mark: ${c.name} ${addr})`,
      ],
      fix: [`ip link set ${c.hostVeth} master ${bridge}`],
    });
  }
  if (!c.vethUp) {
    findings.push({
      id: "veth-down",
      severity: "error",
      stage: "veth",
      summary: `container ${c.name}'s veth ${c.hostVeth} is down`,
      evidence: [`${c.hostVeth}: flags without UP`],
      fix: [`ip link set ${c.hostVeth} up`],
    });
  }
  const state = c.observed?.state;
  if (!state) {
    findings.push({
      id: "container-missing",
      severity: "error",
      stage: "container",
      summary: `container ${c.name}'s network namespace cannot be read: ${
        c.observed?.error ?? "not in the snapshot"
      }`,
      evidence: [`/run/netns/${c.name}: ${c.observed?.error ?? "missing"}`],
      fix: [`hg netns del ${c.name}`, `hg netns add ${c.name} --ip ${formatAddress(c.address)}`],
    });
    return findings;
  }
  const inside = (cmd: string) => `ip -n ${c.name} ${cmd}`;
  const eth = state.addresses.find((l) =>
    l.addresses.some((a) => a.address.family === 4 && a.scope === "global")
  );
  const own = state.addresses.flatMap((l) => l.addresses.map((a) => ({ link: l, a })))
    .find(({ a }) => a.address.value === c.address.value);
  if (!own) {
    findings.push({
      id: "container-no-address",
      severity: "error",
      stage: "container",
      summary: `container ${c.name} does not have its address ${addr}`,
      evidence: [
        eth
          ? `${c.name}: ${eth.ifname} has ${
            eth.addresses.map((a) => `${formatAddress(a.address)}/${a.prefix.length}`).join(", ")
          }`
          : `${c.name}: no IPv4 address`,
      ],
      fix: [inside(`addr add ${addr} dev eth0`)],
    });
  } else if (!own.link.up) {
    findings.push({
      id: "container-down",
      severity: "error",
      stage: "container",
      summary: `container ${c.name}'s ${own.link.ifname} is down`,
      evidence: [`${c.name}: ${own.link.ifname} flags without UP`],
      fix: [inside(`link set ${own.link.ifname} up`)],
    });
  }
  if (ctx.subnet && !prefixContains(ctx.subnet, c.address)) {
    findings.push({
      id: "container-subnet-mismatch",
      severity: "error",
      stage: "container",
      summary: `container ${c.name} has ${addr}, outside this host's subnet ${
        formatPrefix(ctx.subnet)
      }`,
      explanation:
        "Other hosts route only this host's subnet here, and the container's gateway is the bridge's address in it.",
      evidence: [`${c.name}: ${addr}; ${ctx.obs.bridge}: ${formatPrefix(ctx.subnet)}`],
      fix: [`hg netns del ${c.name}`, `hg netns add ${c.name}`],
    });
  }
  const gateway = ctx.bridge?.gateway?.address;
  const defaultRoute = state.routes.find((r) => r.dst.length === 0);
  if (!defaultRoute || (gateway && defaultRoute.gateway?.value !== gateway.value)) {
    findings.push({
      id: "container-no-default-route",
      severity: "error",
      stage: "container",
      summary: defaultRoute
        ? `container ${c.name}'s default route does not go to the bridge ${
          gateway ? formatAddress(gateway) : ""
        }`
        : `container ${c.name} has no default route: it can reach only its own subnet`,
      evidence: defaultRoute
        ? [`${c.name}: ${formatRoute(defaultRoute)}`]
        : [`${c.name}: no default route`],
      fix: [
        inside(
          `route replace default via ${gateway ? formatAddress(gateway) : "GATEWAY"} dev eth0`,
        ),
      ],
    });
  }
  return findings;
}

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
      ...ctx.containers.map((c) => `ip -n ${c.name} route flush cache`),
      `# (if the segment really carries only ${uplink.mtu} bytes, every host's bridge, veths and containers ` +
      `must be lowered to it: "hg setup --mtu ${uplink.mtu}" on each)`,
    ],
  }];
}

/** The container in `ctx` that has `address`, if any. */
export function containerAt(ctx: DoctorContext, address: IpAddress): Container | undefined {
  return ctx.containers.find((c) => c.address.value === address.value);
}
