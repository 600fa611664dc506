import type { InterfaceAddress } from "../ip/addr.ts";
import type { Link } from "../ip/link.ts";
import { BRIDGE_ALIAS } from "./marks.ts";
import type { HostState } from "./state.ts";

/** A host's container bridge as found in its state. */
export interface BridgeState {
  readonly link: Link;
  /** The bridge's IPv4 address: the containers' gateway, inside the host's subnet. */
  readonly gateway?: InterfaceAddress;
  readonly createdByHg: boolean;
}

/**
 * Finds the bridge `name` in a host's state.
 *
 * @example
 * ```ts
 * findBridge(state, "cni0")?.gateway?.prefix; // 1.1.1.0/24
 * ```
 */
export function findBridge(state: HostState, name: string): BridgeState | undefined {
  const link = state.links.find((l) => l.ifname === name);
  if (!link) return undefined;
  const gateway = state.addresses.find((a) => a.ifname === name)?.addresses.find((a) =>
    a.address.family === 4 && a.scope === "global"
  );
  return { link, gateway, createdByHg: link.alias === BRIDGE_ALIAS };
}
