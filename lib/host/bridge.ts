import type { InterfaceAddress } from "../ip/addr.ts";
import type { Link } from "../ip/link.ts";
import { BRIDGE_ALIAS } from "./marks.ts";
import type { HostState } from "./state.ts";

/** A host's container bridge as found in its state. */
export interface BridgeState {
  readonly link: Link;
  /**
   * The bridge's primary address: the containers' gateway, inside the host's subnet (the IPv4
   * one, or the IPv6 one on a bridge with no IPv4 address: an IPv6-only host).
   */
  readonly gateway?: InterfaceAddress;
  /** Its first global address of each family, IPv4 first (dual-stack: the two gateways). */
  readonly gateways: readonly InterfaceAddress[];
  readonly createdByHg: boolean;
}

/**
 * Finds the bridge `name` in a host's state.
 *
 * @example
 * ```ts
 * import type { HostState } from "./state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * findBridge(state, "cni0")?.gateway?.prefix; // 1.1.1.0/24
 * ```
 */
export function findBridge(
  state: Pick<HostState, "links" | "addresses">,
  name: string,
): BridgeState | undefined {
  const link = state.links.find((l) => l.ifname === name);
  if (!link) return undefined;
  const global =
    state.addresses.find((a) => a.ifname === name)?.addresses.filter((a) => a.scope === "global") ??
      [];
  const gateways = ([4, 6] as const).flatMap((family) => {
    const found = global.find((a) => a.address.family === family);
    return found ? [found] : [];
  });
  return { link, gateway: gateways[0], gateways, createdByHg: link.alias === BRIDGE_ALIAS };
}
