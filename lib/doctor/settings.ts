/**
 * The IPv4 settings of a namespace as doctor reads them from a snapshot's sysctl values, and how
 * the kernel combines an interface's own value with `all` for each of them.
 *
 * @module
 */

/** A namespace's sysctl values by key (`net.ipv4.conf.eth0.rp_filter`). */
export type Sysctls = ReadonlyMap<string, string>;

/** An interface's own value of a `net.ipv4.conf.IF.NAME` setting, when it was read. */
export function interfaceSetting(s: Sysctls, ifname: string, name: string): number | undefined {
  const v = s.get(`net.ipv4.conf.${ifname}.${name}`);
  return v === undefined || !/^-?\d+$/.test(v.trim()) ? undefined : Number(v);
}

/**
 * The value the kernel acts on for settings it takes the larger of `all` and the interface's
 * own (`rp_filter`, `arp_ignore`); undefined when neither was read.
 *
 * @example
 * ```ts
 * effectiveMax(new Map([["net.ipv4.conf.all.arp_ignore", "8"]]), "eth0", "arp_ignore"); // 8
 * ```
 */
export function effectiveMax(s: Sysctls, ifname: string, name: string): number | undefined {
  const all = interfaceSetting(s, "all", name);
  const own = interfaceSetting(s, ifname, name);
  if (all === undefined && own === undefined) return undefined;
  return Math.max(all ?? 0, own ?? 0);
}

/**
 * The value the kernel acts on for settings that are on when `all` or the interface's own is
 * (`arp_filter`, `proxy_arp`); undefined when neither was read.
 *
 * @example
 * ```ts
 * effectiveOr(new Map([["net.ipv4.conf.eth0.arp_filter", "1"]]), "eth0", "arp_filter"); // true
 * ```
 */
export function effectiveOr(s: Sysctls, ifname: string, name: string): boolean | undefined {
  const all = interfaceSetting(s, "all", name);
  const own = interfaceSetting(s, ifname, name);
  if (all === undefined && own === undefined) return undefined;
  return (all ?? 0) !== 0 || (own ?? 0) !== 0;
}

/**
 * Whether the kernel forwards IPv4 packets that arrive on `ifname`: its own `forwarding`
 * decides (measured: `ip_forward=0` with the interfaces' own `forwarding=1` forwards; an
 * interface's `forwarding=0` drops what arrives on it, whatever `all` says). Writing
 * `ip_forward` or `all.forwarding` sets every interface's. Without the interface's value (an
 * older snapshot) `ip_forward` stands for it.
 *
 * @example
 * ```ts
 * forwardsFrom(new Map([["net.ipv4.ip_forward", "0"], ["net.ipv4.conf.cni0.forwarding", "1"]]), "cni0"); // true
 * ```
 */
export function forwardsFrom(s: Sysctls, ifname: string): boolean {
  const own = interfaceSetting(s, ifname, "forwarding");
  if (own !== undefined) return own !== 0;
  return s.get("net.ipv4.ip_forward") === "1";
}

/**
 * Whether the kernel forwards IPv6 packets that arrive on `ifname`: `net.ipv6.conf.all.forwarding`
 * decides, or the interface's own `force_forwarding` (Linux 6.17 on); the interface's own
 * `forwarding` does not (measured on 6.18: `all` on with the bridge's and the uplink's off
 * forwards; `all` off with theirs on does not). Undefined when the snapshot holds no IPv6
 * settings (one from before IPv6).
 *
 * @example
 * ```ts
 * forwards6From(new Map([["net.ipv6.conf.all.forwarding", "1"], ["net.ipv6.conf.cni0.forwarding", "0"]]), "cni0"); // true
 * ```
 */
export function forwards6From(s: Sysctls, ifname: string): boolean | undefined {
  const all = s.get("net.ipv6.conf.all.forwarding");
  if (all === undefined) return undefined;
  return all.trim() === "1" || s.get(`net.ipv6.conf.${ifname}.force_forwarding`)?.trim() === "1";
}
