/**
 * Plans `hg netns add`: a namespace, a veth pair with one end on the bridge, the container's
 * address, `lo` and `eth0` up, and a default route via the bridge. A container that exists gets
 * only what it is missing, so a second run plans nothing.
 *
 * @module
 */
import { EnvironmentError, HgError } from "../errors.ts";
import { findBridge } from "../host/bridge.ts";
import { containerAlias } from "../host/marks.ts";
import type { HostState } from "../host/state.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { pickAddress, takenAddresses } from "./address.ts";
import { type ContainerEntry, listContainers } from "./list.ts";
import { CONTAINER_IFNAME, hostVethName } from "./name.ts";
import type { ContainerState } from "./observe.ts";

/** What {@link planNetnsAdd} needs to know. */
export interface NetnsAddInput {
  readonly host: HostState;
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
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly gateway: IpAddress;
  readonly created: boolean;
}

/**
 * Plans adding (or completing) the container `input.name`.
 *
 * @example
 * ```ts
 * const { plan, address } = planNetnsAdd({ host, bridge: "cni0", name: "web1", netnsExists: false });
 * ```
 */
export function planNetnsAdd(input: NetnsAddInput): NetnsAddPlan {
  const { host, bridge, name } = input;
  const found = findBridge(host, bridge);
  if (!found?.gateway) {
    throw new EnvironmentError(
      `no bridge ${bridge} with an IPv4 address on this host: run "hg setup" first`,
    );
  }
  const gateway = found.gateway.address;
  const subnet = found.gateway.prefix;
  const containers = listContainers(host);
  const existing = containers.find((c) => c.kind === "netns" && c.name === name);
  if (existing) {
    if (input.requested && !addressEquals(input.requested, existing.address)) {
      throw new HgError(
        `container ${name} exists with address ${formatAddress(existing.address)}: ` +
          `"hg netns del ${name}" first to give it ${formatAddress(input.requested)}`,
      );
    }
    return {
      plan: completeExisting(existing, input, gateway),
      address: existing.address,
      prefixLength: existing.prefixLength,
      gateway,
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
  const address = pickAddress(subnet, takenAddresses(host, gateway), input.requested);
  const cidr = `${formatAddress(address)}/${subnet.length}`;
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
      containerAlias({ name, address, prefixLength: subnet.length }),
    ]),
    ipStep(["link", "set", veth, "master", bridge, "up"]),
    ipStep(["addr", "add", cidr, "dev", CONTAINER_IFNAME], name),
    ipStep(["link", "set", "lo", "up"], name),
    ipStep(["link", "set", CONTAINER_IFNAME, "up"], name),
    ipStep(
      ["route", "add", "default", "via", formatAddress(gateway), "dev", CONTAINER_IFNAME],
      name,
    ),
  ];
  return { plan: steps, address, prefixLength: subnet.length, gateway, created: true };
}

function completeExisting(
  existing: ContainerEntry,
  input: NetnsAddInput,
  gateway: IpAddress,
): Step[] {
  const { name, address, prefixLength, hostVeth: veth } = existing;
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
  if (!eth0.addresses.some((a) => addressEquals(a.address, address))) {
    steps.push(
      ipStep(
        ["addr", "add", `${formatAddress(address)}/${prefixLength}`, "dev", CONTAINER_IFNAME],
        name,
      ),
    );
  }
  if (!inside.addresses.find((l) => l.ifname === "lo")?.up) {
    steps.push(ipStep(["link", "set", "lo", "up"], name));
  }
  if (!eth0.up) steps.push(ipStep(["link", "set", CONTAINER_IFNAME, "up"], name));
  const hasDefault = inside.routes.some((r) =>
    r.dst.length === 0 && r.gateway !== undefined && addressEquals(r.gateway, gateway)
  );
  if (!hasDefault) {
    steps.push(
      ipStep([
        "route",
        "replace",
        "default",
        "via",
        formatAddress(gateway),
        "dev",
        CONTAINER_IFNAME,
      ], name),
    );
  }
  return steps;
}
