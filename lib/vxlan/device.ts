/**
 * Plans this host's VXLAN device (`flannel.<VNI>`): made when missing, made again when its
 * settings differ (VNI, port, local address, uplink, MAC, learning), its MTU, its one address
 * (the host subnet's network address as a /32, as flannel gives it) and its up state fixed in
 * place. Pure.
 *
 * @module
 */
import { EnvironmentError } from "../errors.ts";
import { VXLAN_ALIAS } from "../host/marks.ts";
import type { HostState } from "../host/state.ts";
import type { Link } from "../ip/link.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import type { Prefix } from "../net/prefix.ts";
import { ipStep, type Step } from "../plan/step.ts";
import { interfaceWithAddress } from "../host/public_address.ts";
import { findBridge } from "../host/bridge.ts";
import { vtepMac, vxlanDeviceName, vxlanMtu, type VxlanOptions } from "./vtep.ts";

/** This host's end of the VXLAN network. */
export interface LocalVtep {
  readonly device: string;
  readonly vni: number;
  readonly port: number;
  /** The host's public address: the tunnels' source, and where peers send to. */
  readonly local: IpAddress;
  /** The uplink that holds `local`. */
  readonly uplink: string;
  readonly mac: string;
  readonly mtu: number;
  /** This host's container subnet: its network address goes on the device. */
  readonly subnet: Prefix;
}

/**
 * This host's VTEP on a VXLAN network: the device for the VNI, on the interface that holds the
 * host's public address, with hg's MAC for that address and the uplink's MTU less the
 * encapsulation; or why there can be none (the public address is not on this host).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * localVtep(state, { vni: 1, port: 8472 }, parseAddress("10.0.12.11"), parsePrefix("1.1.1.0/24"));
 * // { device: "flannel.1", uplink: "eth0", mac: "0e:56:0a:00:0c:0b", mtu: 1450, ... }
 * ```
 */
export function localVtep(
  state: HostState,
  options: VxlanOptions,
  publicIp: IpAddress,
  subnet: Prefix,
): LocalVtep | { readonly error: string } {
  const uplink = interfaceWithAddress(state, publicIp);
  if (!uplink) {
    return {
      error: `this host's public address ${formatAddress(publicIp)} (its lease's) is on none ` +
        `of its interfaces: VXLAN packets would have no source`,
    };
  }
  return {
    device: vxlanDeviceName(options.vni),
    vni: options.vni,
    port: options.port,
    local: publicIp,
    uplink: uplink.ifname,
    mac: vtepMac(publicIp),
    mtu: vxlanMtu(uplink.mtu),
    subnet,
  };
}

/**
 * The VTEP hg's VXLAN device already is (made by `hg setup --backend vxlan` or the agent), for
 * a hand-made `hg peer add --vtep-mac`; or why there is none to use.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * existingVtep(state, "cni0"); // { device: "flannel.1", vni: 1, ... } or { error: "..." }
 * ```
 */
export function existingVtep(
  state: HostState,
  bridge: string,
): LocalVtep | { readonly error: string } {
  const link = findVxlanDevice(state);
  const subnet = findBridge(state, bridge)?.gateway?.prefix;
  if (!link || !link.vxlan?.local || !link.vxlan.dev || !link.mac) {
    return {
      error: "this host has no VXLAN device of hg's: make it with " +
        `"hg setup --subnet CIDR --backend vxlan" first (or run hg on a vxlan registry)`,
    };
  }
  if (!subnet) return { error: `bridge ${bridge} has no subnet: run "hg setup" first` };
  const { vni, port, local, dev } = link.vxlan;
  return {
    device: link.ifname,
    vni,
    port,
    local,
    uplink: dev,
    mac: link.mac,
    mtu: link.mtu,
    subnet,
  };
}

/** What planning the device decided. */
export interface DevicePlan {
  readonly steps: Step[];
  /** The device is made (again) by the plan: nothing on it now survives. */
  readonly fresh: boolean;
  /** hg's VXLAN devices the plan deletes (its own made again, or another VNI's), by name. */
  readonly deleted: readonly string[];
}

/** Whether `link` is hg's VXLAN device (whatever its VNI). */
export function isVxlanDevice(link: Link): boolean {
  return link.vxlan !== undefined && link.alias === VXLAN_ALIAS;
}

/** hg's VXLAN device on the host, if any. */
export function findVxlanDevice(state: Pick<HostState, "links">): Link | undefined {
  return state.links.find(isVxlanDevice);
}

/** Whether an existing device is made as `vtep` says (what cannot be changed in place). */
function madeAs(link: Link, vtep: LocalVtep): boolean {
  const v = link.vxlan!;
  return v.vni === vtep.vni && v.port === vtep.port && v.local !== undefined &&
    addressEquals(v.local, vtep.local) && v.dev === vtep.uplink && link.mac === vtep.mac &&
    !v.learning;
}

/**
 * The steps that make the host's VXLAN device match `vtep`; another hg VXLAN device (an old
 * VNI) is removed. A device of that name hg did not make is refused.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * planVxlanDevice(state, { device: "flannel.1", vni: 1, port: 8472, local: parseAddress("10.0.12.11"), uplink: "eth0", mac: "0e:56:0a:00:0c:0b", mtu: 1450, subnet: parsePrefix("1.1.1.0/24") });
 * // link add flannel.1 address 0e:56:0a:00:0c:0b mtu 1450 type vxlan id 1 local 10.0.12.11 dev eth0 nolearning dstport 8472, ...
 * ```
 */
export function planVxlanDevice(state: HostState, vtep: LocalVtep): DevicePlan {
  const steps: Step[] = [];
  const { device } = vtep;
  const named = state.links.find((l) => l.ifname === device);
  if (named && !isVxlanDevice(named)) {
    throw new EnvironmentError(
      `${device} exists and hg did not make it (${
        named.vxlan
          ? "a VXLAN device without hg's mark: flanneld's?"
          : `a ${named.kind ?? "plain"} device`
      }): remove it ("ip link del ${device}") for hg to make its own`,
    );
  }
  const deleted: string[] = [];
  const own = findVxlanDevice(state);
  if (own && own.ifname !== device) deleted.push(own.ifname);
  const address = `${formatAddress(vtep.subnet.address)}/32`;
  const current = named && madeAs(named, vtep) ? named : undefined;
  if (named && !current) deleted.push(device);
  for (const name of deleted) steps.push(ipStep(["link", "del", name]));
  if (!current) {
    steps.push(
      ipStep([
        "link",
        "add",
        device,
        "address",
        vtep.mac,
        "mtu",
        String(vtep.mtu),
        "type",
        "vxlan",
        "id",
        String(vtep.vni),
        "local",
        formatAddress(vtep.local),
        "dev",
        vtep.uplink,
        "nolearning",
        "dstport",
        String(vtep.port),
      ]),
      ipStep(["link", "set", device, "alias", VXLAN_ALIAS]),
      ipStep(["addr", "add", address, "dev", device]),
      ipStep(["link", "set", device, "up"]),
    );
    return { steps, fresh: true, deleted };
  }
  if (current.mtu !== vtep.mtu) {
    steps.push(ipStep(["link", "set", device, "mtu", String(vtep.mtu)]));
  }
  const held = state.addresses.find((a) => a.ifname === device)?.addresses ?? [];
  let has = false;
  for (const a of held) {
    if (a.address.family !== 4) continue;
    if (addressEquals(a.address, vtep.subnet.address) && a.prefix.length === 32) has = true;
    else {
      steps.push(
        ipStep(["addr", "del", `${formatAddress(a.address)}/${a.prefix.length}`, "dev", device]),
      );
    }
  }
  if (!has) steps.push(ipStep(["addr", "add", address, "dev", device]));
  if (!current.up) steps.push(ipStep(["link", "set", device, "up"]));
  return { steps, fresh: false, deleted };
}

/**
 * Removes hg's VXLAN device (with its routes, neighbours and fdb entries), when there is one.
 */
export function planVxlanRemoval(state: HostState): DevicePlan {
  const own = findVxlanDevice(state);
  return {
    steps: own ? [ipStep(["link", "del", own.ifname])] : [],
    fresh: false,
    deleted: own ? [own.ifname] : [],
  };
}
