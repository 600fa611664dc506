import type { HostState } from "../host/state.ts";
import { parseContainerAlias } from "../host/marks.ts";
import type { IpAddress } from "../net/address.ts";

/** A container as the host sees it: its host-side veth and the mark hg left on it. */
export interface ContainerEntry {
  readonly name: string;
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly hostVeth: string;
  /** The bridge the veth is attached to, if any. */
  readonly master?: string;
  readonly vethUp: boolean;
}

/**
 * The containers hg made on this host, found by the mark on their host-side veths.
 *
 * @example
 * ```ts
 * listContainers(state).map((c) => c.name); // ["web1", "web2"]
 * ```
 */
export function listContainers(state: HostState): ContainerEntry[] {
  return state.links.flatMap((link) => {
    const mark = parseContainerAlias(link.alias);
    if (!mark) return [];
    return [{ ...mark, hostVeth: link.ifname, master: link.master, vethUp: link.up }];
  }).sort((a, b) => a.name.localeCompare(b.name));
}
