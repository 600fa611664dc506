/**
 * Plans `hg netns add`: a namespace, a veth pair with one end on the bridge, the container's
 * address, `lo` and `eth0` up, and a default route via the bridge. A container that exists gets
 * only what it is missing, so a second run plans nothing.
 *
 * @module
 */
import { EnvironmentError, HgError, InputError } from "../errors.ts";
import type { InterfaceAddress } from "../ip/addr.ts";
import { formatPrefix } from "../net/prefix.ts";
import { findBridge } from "../host/bridge.ts";
import { containerAlias } from "../host/marks.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { pickAddress, takenAddresses } from "./address.ts";
import { containerEntries, type ContainerEntry } from "./list.ts";
import { CONTAINER_IFNAME, hostVethName } from "./name.ts";
import type { ContainerState, HostLinks } from "./observe.ts";

/** What {@link planNetnsAdd} needs to know. */
export interface NetnsAddInput {
  readonly host: HostLinks;
  readonly bridge: string;
  readonly name: string;
  readonly requested?: IpAddress;
  /** Whether `/run/netns/NAME` exists. */
  readonly netnsExists: boolean;
  /** The container's own state, when it already exists. */
  readonly container?: ContainerState;
}

/** The plan and the address the container has or will have. */
export interface NetnsAddPlan {
  readonly plan: Plan;
  /** Its address on the primary subnet (IPv4, or IPv6 on an IPv6-only host), and gateway. */
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly gateway: IpAddress;
  /** A dual-stack container's IPv6 address and gateway. */
  readonly ipv6?: {
    readonly address: IpAddress;
    readonly prefixLength: number;
    readonly gateway: IpAddress;
  };
  readonly created: boolean;
}

/**
 * Plans adding (or completing) the container `input.name`.
 *
 * @example
 * ```ts
 * import type { HostLinks } from "./observe.ts";
 * declare const host: HostLinks; // bridge cni0 1.1.1.1/24, no containers yet
 * const { plan, address } = planNetnsAdd({ host, bridge: "cni0", name: "web1", netnsExists: false });
 * ```
 */
export function planNetnsAdd(input: NetnsAddInput): NetnsAddPlan {
  const { host, bridge, name } = input;
  const found = findBridge(host, bridge);
  if (!found?.gateway) {
    throw new EnvironmentError(
      `no bridge ${bridge} with an address on this host: run "hg setup" first`,
    );
  }
  // One address per family the bridge serves; a requested one is of its own family.
  const [primary, second] = found.gateways;
  if (
    input.requested && !found.gateways.some((g) => g.address.family === input.requested!.family)
  ) {
    throw new InputError(
      `address ${
        formatAddress(input.requested)
      } is IPv${input.requested.family}: bridge ${bridge} serves ${
        found.gateways.map((g) => formatPrefix(g.prefix)).join(" and ")
      }`,
    );
  }
  const gateway = primary.address;
  const subnet = primary.prefix;
  const existing = containerEntries(host).find((c) => c.kind === "netns" && c.name === name);
  if (existing) {
    const has = [existing.address, ...(existing.ipv6 ? [existing.ipv6.address] : [])];
    if (input.requested && !has.some((a) => addressEquals(a, input.requested!))) {
      throw new HgError(
        `container ${name} exists with address ${
          has.map(formatAddress).join(" and ")
        }: "hg netns del ${name}" first to give it ${formatAddress(input.requested)}`,
      );
    }
    return {
      plan: completeExisting(existing, input, gateway, second?.address),
      address: existing.address,
      prefixLength: existing.prefixLength,
      gateway,
      ...(existing.ipv6 && second ? { ipv6: { ...existing.ipv6, gateway: second.address } } : {}),
      created: false,
    };
  }
  if (input.netnsExists) {
    throw new HgError(
      `a network namespace named ${name} exists and was not made by hg: choose another name`,
    );
  }
  const veth = hostVethName(name);
  if (host.links.some((l) => l.ifname === veth)) {
    throw new HgError(
      `interface ${veth} (derived from the name ${name}) already exists: choose another name`,
    );
  }
  // Runtime containers (CNI) draw from the same pool: every marked veth holds its address.
  const pick = (g: InterfaceAddress) => ({
    address: pickAddress(
      g.prefix,
      takenAddresses(host, g.address),
      input.requested?.family === g.address.family ? input.requested : undefined,
    ),
    prefixLength: g.prefix.length,
    gateway: g.address,
  });
  const mine = pick(primary);
  const ipv6 = second && pick(second);
  const { address } = mine;
  const mtu = String(found.link.mtu);
  const steps: Step[] = [
    ipStep(["netns", "add", name]),
    ipStep([
      "link",
      "add",
      veth,
      "mtu",
      mtu,
      "type",
      "veth",
      "peer",
      "name",
      CONTAINER_IFNAME,
      "mtu",
      mtu,
      "netns",
      name,
    ]),
    ipStep([
      "link",
      "set",
      veth,
      "alias",
      containerAlias({
        name,
        address,
        prefixLength: subnet.length,
        ...(ipv6 ? { ipv6: { address: ipv6.address, prefixLength: ipv6.prefixLength } } : {}),
      }),
    ]),
    ipStep(["link", "set", veth, "master", bridge, "up"]),
    ...[mine, ...(ipv6 ? [ipv6] : [])].map((a) => addressStep(name, a.address, a.prefixLength)),
    ipStep(["link", "set", "lo", "up"], name),
    ipStep(["link", "set", CONTAINER_IFNAME, "up"], name),
    ...[gateway, ...(ipv6 ? [ipv6.gateway] : [])].map((g) =>
      ipStep(["route", "add", "default", "via", formatAddress(g), "dev", CONTAINER_IFNAME], name)
    ),
  ];
  return {
    plan: steps,
    address,
    prefixLength: subnet.length,
    gateway,
    ...(ipv6 ? { ipv6 } : {}),
    created: true,
  };
}

/**
 * The container's address on its interface; an IPv6 one without DAD (hg picked it from the
 * host's pool: a tentative address would hold the first packets back for a second or two).
 */
function addressStep(name: string, address: IpAddress, prefixLength: number): Step {
  const noDad = address.family === 6 ? ["nodad"] : [];
  return ipStep(
    ["addr", "add", `${formatAddress(address)}/${prefixLength}`, "dev", CONTAINER_IFNAME, ...noDad],
    name,
  );
}

function completeExisting(
  existing: ContainerEntry,
  input: NetnsAddInput,
  gateway: IpAddress,
  gateway6: IpAddress | undefined,
): Step[] {
  const { name, hostVeth: veth } = existing;
  const steps: Step[] = [];
  if (existing.master !== input.bridge) {
    steps.push(ipStep(["link", "set", veth, "master", input.bridge]));
  }
  if (!existing.vethUp) steps.push(ipStep(["link", "set", veth, "up"]));
  const inside = input.container;
  if (!inside) {
    throw new HgError(
      `container ${name}'s namespace is gone but its veth ${veth} remains: run "hg netns del ${name}"`,
    );
  }
  const eth0 = inside.addresses.find((l) => l.ifname === CONTAINER_IFNAME);
  if (!eth0) {
    throw new HgError(
      `container ${name} has no ${CONTAINER_IFNAME}: run "hg netns del ${name}" and add it again`,
    );
  }
  const families = [
    { address: existing.address, prefixLength: existing.prefixLength, gateway },
    ...(existing.ipv6 && gateway6 ? [{ ...existing.ipv6, gateway: gateway6 }] : []),
  ];
  for (const { address, prefixLength } of families) {
    if (!eth0.addresses.some((a) => addressEquals(a.address, address))) {
      steps.push(addressStep(name, address, prefixLength));
    }
  }
  if (!inside.addresses.find((l) => l.ifname === "lo")?.up) {
    steps.push(ipStep(["link", "set", "lo", "up"], name));
  }
  if (!eth0.up) steps.push(ipStep(["link", "set", CONTAINER_IFNAME, "up"], name));
  for (const { gateway: via } of families) {
    const hasDefault = inside.routes.some((r) =>
      r.dst.length === 0 && r.gateway !== undefined && addressEquals(r.gateway, via)
    );
    if (!hasDefault) {
      steps.push(
        ipStep(
          ["route", "replace", "default", "via", formatAddress(via), "dev", CONTAINER_IFNAME],
          name,
        ),
      );
    }
  }
  return steps;
}
