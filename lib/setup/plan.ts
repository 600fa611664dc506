/**
 * Plans `hg setup`: a bridge holding the subnet's first host address, up; forwarding on; an
 * optional masquerade rule. Pure: the same state and request always give the same plan, and a
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
import { firstHost, formatPrefix } from "../net/prefix.ts";
import { specialPrefixError } from "../net/special.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { findVxlanDevice } from "../vxlan/device.ts";
import { bridgeMtuError } from "./mtu.ts";
import { hgRules, masqueradeRule } from "./masquerade.ts";
import type { SetupRequest } from "./request.ts";

/**
 * The steps that make the host match `request`.
 *
 * @param natRules `iptables -t nat -S POSTROUTING` lines; only read when masquerading.
 * @example
 * ```ts
 * planSetup(state, { subnet: parsePrefix("1.1.1.0/24"), bridge: "cni0" });
 * // ip link add cni0 type bridge, ip link set cni0 alias hg:bridge, ip addr add 1.1.1.1/24 dev cni0, ...
 * ```
 */
export function planSetup(
  state: HostState,
  request: SetupRequest,
  natRules: readonly string[] = [],
): Plan {
  const { subnet, bridge } = request;
  if (subnet.address.family !== 4) {
    throw new InputError(`subnet ${formatPrefix(subnet)} is IPv6: hg setup takes an IPv4 subnet`);
  }
  const unusable = specialPrefixError("subnet", subnet) ??
    bridgeMtuError(request.mtu, request.uplink);
  if (unusable) throw unusable;
  if (subnet.length > 30) {
    throw new InputError(
      `subnet ${formatPrefix(subnet)} is too small: at most /30, to fit a gateway and a container`,
    );
  }
  // hg's VXLAN device holds the subnet's network address (as flannel's does): not a conflict.
  const vxlan = findVxlanDevice(state)?.ifname;
  const conflicts = overlappingNetworks(state, subnet, vxlan ? [bridge, vxlan] : [bridge]);
  if (conflicts.length > 0) {
    const c = conflicts[0];
    throw new InputError(
      `subnet ${formatPrefix(subnet)} overlaps ${
        formatPrefix(c.prefix)
      } (${c.where}) already on this host`,
    );
  }
  const gateway = firstHost(subnet);
  const gatewayText = `${formatAddress(gateway)}/${subnet.length}`;
  const steps: Step[] = [];
  const found = findBridge(state, bridge);
  if (!found) {
    const mtu = request.mtu === undefined ? [] : ["mtu", String(request.mtu)];
    steps.push(
      ipStep(["link", "add", bridge, ...mtu, "type", "bridge"]),
      ipStep(["link", "set", bridge, "alias", BRIDGE_ALIAS]),
      ipStep(["addr", "add", gatewayText, "dev", bridge]),
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
    // On a bridge hg did not create, its address is marked for teardown to find.
    const label = found.createdByHg ? undefined : addressLabel(bridge);
    const addGateway = ipStep([
      "addr",
      "add",
      gatewayText,
      "dev",
      bridge,
      ...(label ? ["label", label] : []),
    ]);
    if (!found.gateway) {
      steps.push(addGateway);
    } else if (
      !addressEquals(found.gateway.address, gateway) ||
      found.gateway.prefix.length !== subnet.length
    ) {
      if (request.renumber) {
        const old = `${formatAddress(found.gateway.address)}/${found.gateway.prefix.length}`;
        steps.push(ipStep(["addr", "del", old, "dev", bridge]), addGateway);
      } else {
        // The host says another subnet than the one asked for: the request is refused, as
        // an overlapping one is (exit 2), until the operator tears the old one down.
        throw new InputError(
          `bridge ${bridge} already has ${
            formatAddress(found.gateway.address)
          }/${found.gateway.prefix.length}` +
            ` (subnet ${
              formatPrefix(found.gateway.prefix)
            }): run "hg teardown" first to change the subnet`,
        );
      }
    }
    if (!found.link.up) steps.push(ipStep(["link", "set", bridge, "up"]));
  }
  if (!state.forwarding) steps.push({ kind: "sysctl", key: "net.ipv4.ip_forward", value: "1" });
  if (request.masqueradeNetwork) {
    const rule = masqueradeRule(subnet, request.masqueradeNetwork);
    const present = hgRules(natRules).some((r) => r.join(" ") === rule.join(" "));
    if (!present) {
      steps.push({ kind: "iptables", args: ["-t", "nat", "-A", "POSTROUTING", ...rule] });
    }
  }
  return steps;
}
