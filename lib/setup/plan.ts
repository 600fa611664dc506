/**
 * Plans `hg setup`: a bridge holding the first host address of each of the host's subnets (IPv4,
 * IPv6, or both), up; forwarding on for each family; an optional masquerade rule (IPv4). Pure: the same state and request always give the same plan, and a
 * host that already matches gives an empty one.
 *
 * @module
 */
import { EnvironmentError, InputError } from "../errors.ts";
import { findBridge } from "../host/bridge.ts";
import { addressLabel, BRIDGE_ALIAS } from "../host/marks.ts";
import { overlappingNetworks } from "../host/overlap.ts";
import type { HostState } from "../host/state.ts";
import { addressEquals, formatAddress } from "../net/address.ts";
import { firstHost, formatPrefix, type Prefix } from "../net/prefix.ts";
import { leaseSubnets } from "../store/lease.ts";
import { specialPrefixError } from "../net/special.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import { bridgeMtuError } from "./mtu.ts";
import { hgRules, masqueradeRule } from "./masquerade.ts";
import type { SetupRequest } from "./request.ts";

/**
 * The steps that make the host match `request`: the bridge, a gateway address for each of its
 * subnets (IPv6 ones without DAD: the gateway is this host's own, and a tentative address would
 * hold the containers' first packets back), forwarding of each family the host serves.
 *
 * @param natRules `iptables -t nat -S POSTROUTING` lines; only read when masquerading.
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22, no bridge yet
 * planSetup(state, { subnet: parsePrefix("1.1.1.0/24"), bridge: "cni0" });
 * // ip link add cni0 type bridge, ip link set cni0 alias hg:bridge, ip addr add 1.1.1.1/24 dev cni0,
 * // ip link set cni0 up, sysctl -w net.ipv4.ip_forward=1
 * ```
 */
export function planSetup(
  state: HostState,
  request: SetupRequest,
  natRules: readonly string[] = [],
): Plan {
  const { subnet, bridge } = request;
  const subnets = leaseSubnets(request);
  if (
    request.ipv6Subnet && (subnet.address.family !== 4 || request.ipv6Subnet.address.family !== 6)
  ) {
    throw new InputError(
      `a dual-stack host has an IPv4 and an IPv6 subnet, not ${
        subnets.map(formatPrefix).join(" and ")
      }`,
    );
  }
  const mtuError = bridgeMtuError(request.mtu, request.uplink);
  if (mtuError) throw mtuError;
  // hg's VXLAN device holds the subnet's network address (as flannel's does): not a conflict.
  const vxlan = findVxlanDevice(state)?.ifname;
  for (const s of subnets) {
    const unusable = specialPrefixError("subnet", s);
    if (unusable) throw unusable;
    const longest = s.address.family === 4 ? 30 : 126;
    if (s.length > longest) {
      throw new InputError(
        `subnet ${
          formatPrefix(s)
        } is too small: at most /${longest}, to fit a gateway and a container`,
      );
    }
    const conflicts = overlappingNetworks(state, s, vxlan ? [bridge, vxlan] : [bridge]);
    if (conflicts.length > 0) {
      const c = conflicts[0];
      throw new InputError(
        `subnet ${formatPrefix(s)} overlaps ${
          formatPrefix(c.prefix)
        } (${c.where}) already on this host`,
      );
    }
  }
  const gatewayText = (s: Prefix) => `${formatAddress(firstHost(s))}/${s.length}`;
  // An IPv6 gateway is usable at once: DAD would leave it tentative for a second or two.
  const noDad = (s: Prefix) => (s.address.family === 6 ? ["nodad"] : []);
  const steps: Step[] = [];
  const found = findBridge(state, bridge);
  if (!found) {
    const mtu = request.mtu === undefined ? [] : ["mtu", String(request.mtu)];
    steps.push(
      ipStep(["link", "add", bridge, ...mtu, "type", "bridge"]),
      ipStep(["link", "set", bridge, "alias", BRIDGE_ALIAS]),
      ...subnets.map((s) => ipStep(["addr", "add", gatewayText(s), "dev", bridge, ...noDad(s)])),
      ipStep(["link", "set", bridge, "up"]),
    );
  } else {
    if (found.link.kind !== "bridge") {
      throw new EnvironmentError(
        `${bridge} exists and is not a bridge (it is ${found.link.kind ?? "a plain device"})`,
      );
    }
    if (request.mtu !== undefined && found.link.mtu !== request.mtu) {
      steps.push(ipStep(["link", "set", bridge, "mtu", String(request.mtu)]));
    }
    // On a bridge hg did not create, its address is marked for teardown to find (IPv6 addresses
    // take no label: teardown finds them by the subnet).
    const label = found.createdByHg ? undefined : addressLabel(bridge);
    for (const s of subnets) {
      const gateway = firstHost(s);
      const addGateway = ipStep([
        "addr",
        "add",
        gatewayText(s),
        "dev",
        bridge,
        ...(label && s.address.family === 4 ? ["label", label] : []),
        ...noDad(s),
      ]);
      const present = found.gateways.find((g) => g.address.family === s.address.family);
      if (!present) {
        steps.push(addGateway);
      } else if (
        !addressEquals(present.address, gateway) || present.prefix.length !== s.length
      ) {
        if (request.renumber) {
          const old = `${formatAddress(present.address)}/${present.prefix.length}`;
          steps.push(ipStep(["addr", "del", old, "dev", bridge]), addGateway);
        } else {
          // The host says another subnet than the one asked for: the request is refused, as
          // an overlapping one is (exit 2), until the operator tears the old one down.
          throw new InputError(
            `bridge ${bridge} already has ${
              formatAddress(present.address)
            }/${present.prefix.length}` +
              ` (subnet ${
                formatPrefix(present.prefix)
              }): run "hg teardown" first to change the subnet`,
          );
        }
      }
    }
    // A gateway of a family the host no longer serves: the bridge is on another network.
    for (const present of found.gateways) {
      if (subnets.some((s) => s.address.family === present.address.family)) continue;
      const old = `${formatAddress(present.address)}/${present.prefix.length}`;
      if (!request.renumber) {
        throw new InputError(
          `bridge ${bridge} already has ${old} (subnet ${formatPrefix(present.prefix)}), which ${
            subnets.map(formatPrefix).join(" + ")
          } leaves out: run "hg teardown" first to change the subnet`,
        );
      }
      steps.push(ipStep(["addr", "del", old, "dev", bridge]));
    }
    if (!found.link.up) steps.push(ipStep(["link", "set", bridge, "up"]));
  }
  const families = new Set(subnets.map((s) => s.address.family));
  if (families.has(4) && !state.forwarding) {
    steps.push({ kind: "sysctl", key: "net.ipv4.ip_forward", value: "1" });
  }
  if (families.has(6) && !state.forwarding6) {
    steps.push({ kind: "sysctl", key: "net.ipv6.conf.all.forwarding", value: "1" });
  }
  if (request.masqueradeNetwork) {
    if (subnet.address.family !== 4) {
      throw new InputError(
        "--masquerade covers IPv4 only: an IPv6-only host has nothing to masquerade",
      );
    }
    const rule = masqueradeRule(subnet, request.masqueradeNetwork);
    const present = hgRules(natRules).some((r) => r.join(" ") === rule.join(" "));
    if (!present) {
      steps.push({ kind: "iptables", args: ["-t", "nat", "-A", "POSTROUTING", ...rule] });
    }
  }
  return steps;
}
