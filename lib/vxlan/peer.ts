/**
 * Plans what reaching one peer over VXLAN takes besides its route, as flannel lays it out: the
 * route goes via the peer subnet's network address on the device (`onlink`), a permanent
 * neighbour entry gives that address the peer's VTEP MAC, and a permanent fdb entry sends that
 * MAC to the peer's public address. Pure.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { addressEquals, formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix, type Prefix } from "../net/prefix.ts";
import { bridgeStep, ipStep, type Step } from "../plan/step.ts";
import { findVxlanDevice } from "./device.ts";

/** A peer reached over VXLAN. */
export interface VxlanPeer {
  readonly subnet: Prefix;
  readonly publicIp: IpAddress;
  readonly mac: string;
}

/**
 * The route to a VXLAN peer's subnet.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * vxlanRouteArgs(parsePrefix("1.1.2.0/24"), "flannel.1");
 * // ["route", "replace", "1.1.2.0/24", "via", "1.1.2.0", "dev", "flannel.1", "onlink", "proto", "104"]
 * ```
 */
export function vxlanRouteArgs(subnet: Prefix, device: string): string[] {
  return [
    "route",
    "replace",
    formatPrefix(subnet),
    "via",
    formatAddress(subnet.address),
    "dev",
    device,
    "onlink",
    "proto",
    String(HG_ROUTE_PROTOCOL),
  ];
}

/**
 * The permanent neighbour entry that gives a VXLAN peer's gateway (its subnet's network
 * address) the peer's VTEP MAC. Strings, so that a fix may name a value it does not know.
 *
 * @example
 * ```ts
 * neighbourArgs("1.1.2.0", "0e:56:0a:00:14:0c", "flannel.1");
 * // ["neigh", "replace", "1.1.2.0", "lladdr", "0e:56:0a:00:14:0c", "dev", "flannel.1", "nud", "permanent"]
 * ```
 */
export function neighbourArgs(gateway: string, mac: string, device: string): string[] {
  return ["neigh", "replace", gateway, "lladdr", mac, "dev", device, "nud", "permanent"];
}

/**
 * The permanent fdb entry (a `bridge` command) that sends a VTEP MAC's frames to the peer
 * host's address.
 *
 * @example
 * ```ts
 * fdbArgs("0e:56:0a:00:14:0c", "flannel.1", "10.0.20.12");
 * // ["fdb", "replace", "0e:56:0a:00:14:0c", "dev", "flannel.1", "dst", "10.0.20.12", "self", "permanent"]
 * ```
 */
export function fdbArgs(mac: string, device: string, dst: string): string[] {
  return ["fdb", "replace", mac, "dev", device, "dst", dst, "self", "permanent"];
}

const neighbourDel = (dst: string, device: string) => ipStep(["neigh", "del", dst, "dev", device]);
const fdbDel = (mac: string, device: string) =>
  bridgeStep(["fdb", "del", mac, "dev", device, "self"]);

/** The neighbour and fdb steps for VXLAN peers, and which peers had both right already. */
export interface VxlanEntries {
  readonly steps: Step[];
  /** Subnets (formatted) whose neighbour and fdb entries were already right. */
  readonly right: ReadonlySet<string>;
}

/**
 * Plans the neighbour and fdb entries of `peers` on `device`. `fresh`: the device is being made
 * (again), nothing on it now counts. `sync`: entries on the device that no peer wants go.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parseAddress } from "../net/address.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * planVxlanEntries(state, "flannel.1", [{ subnet: parsePrefix("1.1.2.0/24"), publicIp: parseAddress("10.0.20.12"), mac: "0e:56:0a:00:14:0c" }], { fresh: false, sync: true });
 * // neigh replace 1.1.2.0 lladdr 0e:56:0a:00:14:0c dev flannel.1 nud permanent; bridge fdb replace ... dst 10.0.20.12 self permanent
 * ```
 */
export function planVxlanEntries(
  state: HostState,
  device: string,
  peers: readonly VxlanPeer[],
  options: { readonly fresh: boolean; readonly sync: boolean },
): VxlanEntries {
  const neighbours = options.fresh ? [] : state.neighbours.filter((n) => n.dev === device);
  const fdb = options.fresh ? [] : state.fdb.filter((f) => f.dev === device);
  const neighbourOf = new Map(neighbours.map((n) => [formatAddress(n.dst), n]));
  const fdbOf = new Map(fdb.map((f) => [f.mac, f]));
  const steps: Step[] = [];
  const right = new Set<string>();
  const wantedNeighbours = new Set<string>();
  const wantedMacs = new Set<string>();
  for (const peer of peers) {
    const gateway = formatAddress(peer.subnet.address);
    wantedNeighbours.add(gateway);
    wantedMacs.add(peer.mac);
    const n = neighbourOf.get(gateway);
    const f = fdbOf.get(peer.mac);
    const neighbourRight = n?.lladdr?.toLowerCase() === peer.mac;
    const fdbRight = f?.dst !== undefined && addressEquals(f.dst, peer.publicIp);
    if (!neighbourRight) steps.push(ipStep(neighbourArgs(gateway, peer.mac, device)));
    if (!fdbRight) {
      steps.push(bridgeStep(fdbArgs(peer.mac, device, formatAddress(peer.publicIp))));
    }
    if (neighbourRight && fdbRight) right.add(formatPrefix(peer.subnet));
  }
  if (options.sync) {
    for (const n of neighbours) {
      const dst = formatAddress(n.dst);
      if (!wantedNeighbours.has(dst)) steps.push(neighbourDel(dst, device));
    }
    for (const f of fdb) {
      if (!wantedMacs.has(f.mac)) steps.push(fdbDel(f.mac, device));
    }
  }
  return { steps, right };
}

/**
 * The steps that take VXLAN peers' entries off hg's device for `subnets` (a peer removed, or
 * now reached host-gw): each subnet's neighbour entry, and the fdb entry of its MAC unless a
 * neighbour that stays still uses that MAC. Nothing when there is no such device or entry.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // the VXLAN peer 1.1.5.0/24 through flannel.1
 * planVxlanEntryRemoval(state, [parsePrefix("1.1.5.0/24")]);
 * // ip neigh del 1.1.5.0 dev flannel.1, bridge fdb del 0e:56:0a:00:14:0c dev flannel.1 self
 * ```
 */
export function planVxlanEntryRemoval(state: HostState, subnets: readonly Prefix[]): Step[] {
  const device = findVxlanDevice(state)?.ifname;
  if (device === undefined) return [];
  const onDevice = state.neighbours.filter((n) => n.dev === device);
  const gone = new Set(subnets.map((s) => formatAddress(s.address)));
  const leaving = onDevice.filter((n) => gone.has(formatAddress(n.dst)));
  const kept = new Set(
    onDevice.filter((n) => !gone.has(formatAddress(n.dst))).map((n) => n.lladdr?.toLowerCase()),
  );
  const steps: Step[] = leaving.map((n) => neighbourDel(formatAddress(n.dst), device));
  const macs = new Set(
    leaving.map((n) => n.lladdr?.toLowerCase()).filter((m) => m && !kept.has(m)),
  );
  for (const f of state.fdb) {
    if (f.dev === device && macs.has(f.mac)) steps.push(fdbDel(f.mac, device));
  }
  return steps;
}
