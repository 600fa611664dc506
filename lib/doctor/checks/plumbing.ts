/**
 * Checks of the host's own plumbing: the bridge, hg's veths and containers (their addresses
 * and links; their routes, MTUs and settings have modules of their own).
 *
 * @module
 */
import { containerIpCommand } from "../../containers/where.ts";
import { formatAddress, type IpAddress } from "../../net/address.ts";
import { firstHost, formatPrefix, prefixContains, prefixOf } from "../../net/prefix.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { sysctlCommand } from "../../sysctl/sysctl.ts";

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
    const evidence = `ip addr show ${name}: no ${
      ctx.family === 4 ? "inet" : "global inet6"
    } address`;
    // IPv6 turned off on the bridge took its addresses and refuses new ones: say so, and turn
    // it on first, or the fix's `ip addr add` fails ("IPv6 is disabled on this device").
    const disabledKey = `net.ipv6.conf.${name}.disable_ipv6`;
    const disabled = ctx.family === 6 && ctx.obs.sysctl.get(disabledKey) === "1";
    findings.push({
      id: "bridge-no-address",
      severity: "error",
      stage: "bridge",
      ...(disabled
        ? {
          summary: `IPv6 is disabled on the bridge ${name}: it has no IPv6 address, and none ` +
            "can be added, so the containers' default gateway is gone",
          explanation: "disable_ipv6=1 removes every IPv6 address of an interface and refuses " +
            "new ones; turning it off again brings back only the link-local address.",
          evidence: [evidence, `${disabledKey} = 1`],
          fix: [sysctlCommand(disabledKey, "0"), `ip addr add ${gw} dev ${name}`],
        }
        : {
          summary: `the bridge ${name} has no IPv${ctx.family} address: the containers' ` +
            "default gateway is gone",
          evidence: [evidence],
          fix: [`ip addr add ${gw} dev ${name}`],
        }),
    });
  }
  const wide = ctx.bridge.gateway;
  if (wide && ctx.subnet && wide.prefix.length < ctx.subnet.length) {
    const own = `${formatAddress(wide.address)}/${wide.prefix.length}`;
    findings.push({
      id: "bridge-mask-wide",
      severity: "warning",
      stage: "bridge",
      summary: `the bridge ${name} has ${own}, a wider network than this host's subnet ${
        formatPrefix(ctx.subnet)
      }: hg refuses the other hosts' subnets inside ${formatPrefix(wide.prefix)}`,
      explanation:
        "Traffic flows while the peer routes are there (they are more specific than the bridge's network), " +
        "but hg peer add, hg peer sync and the agent refuse leases that overlap a local network, and a sync " +
        "removes the routes it had made for them.",
      evidence: [
        `ip addr show ${name}: ${own}`,
        `this host's subnet: ${formatPrefix(ctx.subnet)}${
          ctx.ownLease ? " (its lease)" : " (its containers')"
        }`,
      ],
      fix: [
        `# give ${name} the mask of its subnet (${
          formatAddress(wide.address)
        }/${ctx.subnet.length}) ` +
        `in place of /${wide.prefix.length}`,
      ],
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
  if (!state && c.kind === "cni") {
    // The kernel keeps a runtime container's veth only while its namespace lives: it is there,
    // only not visible from this mount namespace (or its path was not recorded).
    findings.push({
      id: "container-missing",
      severity: "warning",
      stage: "container",
      summary: `runtime container ${c.name}'s network namespace was not read: ${
        c.observed?.error ?? "not in the snapshot"
      }`,
      evidence: [`${c.netns ?? "(path not recorded)"}: ${c.observed?.error ?? "not read"}`],
      fix: [`# run hg doctor where the runtime's ${c.netns ?? "/run/netns"} is visible`],
    });
    return findings;
  }
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
  const inside = (cmd: string) => containerIpCommand(c, cmd);
  // Taking an address away or a link down removes the routes through it: the default too.
  const gw = ctx.bridge?.gateway?.address;
  const restoreDefault = (dev: string) =>
    gw ? [inside(`route replace default via ${formatAddress(gw)} dev ${dev}`)] : [];
  const eth = state.addresses.find((l) =>
    l.addresses.some((a) => a.address.family === ctx.family && a.scope === "global")
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
          : `${c.name}: no IPv${ctx.family} address`,
      ],
      fix: [inside(`addr add ${addr} dev ${c.ifname}`), ...restoreDefault(c.ifname)],
    });
  } else if (!own.link.up) {
    findings.push({
      id: "container-down",
      severity: "error",
      stage: "container",
      summary: `container ${c.name}'s ${own.link.ifname} is down`,
      evidence: [`${c.name}: ${own.link.ifname} flags without UP`],
      fix: [inside(`link set ${own.link.ifname} up`), ...restoreDefault(own.link.ifname)],
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
      fix: c.kind === "netns" ? [`hg netns del ${c.name}`, `hg netns add ${c.name}`] : [
        `# remove the container and run it again with its runtime: hg gives it an address in ${
          formatPrefix(ctx.subnet)
        }`,
      ],
    });
  }
  return findings;
}

/** The container in `ctx` that has `address`, if any. */
export function containerAt(ctx: DoctorContext, address: IpAddress): Container | undefined {
  return ctx.containers.find((c) => c.address.value === address.value);
}
