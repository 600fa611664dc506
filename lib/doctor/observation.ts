/**
 * The typed view of a host that doctor's checks run on, parsed once from a snapshot.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import type { Neighbour } from "../ip/neigh.ts";
import type { NetState } from "../ip/read.ts";
import type { Route } from "../ip/route.ts";
import type { Rule } from "../ip/rule.ts";
import type { NetworkConfig } from "../store/config.ts";
import type { RegistryEntry } from "../store/store.ts";
import type { IptablesFilter } from "./iptables.ts";
import type { NftRuleset } from "./nft.ts";

/** One of hg's containers on the host, with its namespace's state when it could be read. */
export interface ContainerObservation {
  readonly name: string;
  /** Its host-side veth, which tells containers of one name apart (not in old snapshots). */
  readonly hostVeth?: string;
  readonly state?: NetState;
  /** Its IPv6 routes of table main (not in snapshots from before IPv6). */
  readonly routes6?: readonly Route[];
  /** The namespace's IPv4 settings (see the snapshot's container `sysctl`), when read. */
  readonly sysctl?: ReadonlyMap<string, string>;
  /** Why the namespace could not be read (it is gone, say). */
  readonly error?: string;
}

/** The registry: its config and leases, or why it could not be read. */
export type RegistryObservation =
  | {
    readonly url: string;
    readonly config: NetworkConfig;
    readonly entries: readonly RegistryEntry[];
  }
  | { readonly url: string; readonly error: string };

/** Everything doctor knows about one host. */
export interface Observation {
  readonly takenAt: string;
  readonly bridge: string;
  /** This host's node name in the registry, when known. */
  readonly node?: string;
  readonly host: HostState;
  /** IPv4 neighbour entries. */
  readonly neighbours: readonly Neighbour[];
  /** IPv6 neighbour entries (NDP's cache; every snapshot holds them). */
  readonly neighbours6?: readonly Neighbour[];
  /** The host's IPv6 routes of table main; undefined in snapshots from before IPv6. */
  readonly routes6?: readonly Route[];
  /**
   * The policy routing rules (IPv4) in the order the kernel tries them; undefined when the
   * snapshot did not hold them (the three default rules are then assumed).
   */
  readonly rules?: readonly Rule[];
  /**
   * The IPv4 routes of every table, each with its table; undefined when the snapshot did not
   * hold them (table main, from `host.routes`, and this host's addresses are then all there is).
   */
  readonly routeTables?: readonly Route[];
  /**
   * sysctl values by key (`net.ipv4.conf.eth0.rp_filter`, and since IPv6
   * `net.ipv6.conf.eth0.forwarding`).
   */
  readonly sysctl: ReadonlyMap<string, string>;
  readonly firewall: {
    readonly iptables?: IptablesFilter;
    /** `ip6tables-save -t filter`, parsed (not in snapshots from before IPv6). */
    readonly ip6tables?: IptablesFilter;
    readonly nft?: NftRuleset;
    readonly notes: readonly string[];
  };
  readonly containers: readonly ContainerObservation[];
  readonly registry?: RegistryObservation;
}
