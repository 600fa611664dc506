import type { Prefix } from "../net/prefix.ts";
import type { Uplink } from "./mtu.ts";

/** What `hg setup` is asked to make true. */
export interface SetupRequest {
  /**
   * This host's container subnet (IPv4, or IPv6 on an IPv6-only host); the bridge gets its
   * first host address.
   */
  readonly subnet: Prefix;
  /** A dual-stack host's IPv6 subnet: the bridge gets its first host address too. */
  readonly ipv6Subnet?: Prefix;
  readonly bridge: string;
  readonly mtu?: number;
  /** The uplink, when `mtu` is to be checked against it (a bridge MTU above it is refused). */
  readonly uplink?: Uplink;
  /** The cluster network, when traffic leaving it is to be masqueraded. */
  readonly masqueradeNetwork?: Prefix;
  /**
   * The bridge may move from another subnet to this one (the agent moving a host that has no
   * containers); otherwise a bridge on another subnet is an error.
   */
  readonly renumber?: boolean;
}
