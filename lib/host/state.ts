/**
 * Everything hg reads about one host (one network namespace) before it plans a change.
 *
 * @module
 */
import type { AddressedLink } from "../ip/addr.ts";
import type { FdbEntry } from "../ip/fdb.ts";
import type { Link } from "../ip/link.ts";
import type { Neighbour } from "../ip/neigh.ts";
import type { Route } from "../ip/route.ts";

/**
 * A host's links, addresses, routes of table main (IPv4 and IPv6), permanent neighbours, the fdb
 * entries of hg's VXLAN device (none without one), and forwarding switches.
 */
export interface HostState {
  readonly links: readonly Link[];
  readonly addresses: readonly AddressedLink[];
  readonly routes: readonly Route[];
  readonly neighbours: readonly Neighbour[];
  readonly fdb: readonly FdbEntry[];
  /** `net.ipv4.ip_forward`. */
  readonly forwarding: boolean;
  /** `net.ipv6.conf.all.forwarding` (false on a host without IPv6). */
  readonly forwarding6: boolean;
}
