/**
 * Route protocol numbers. hg tags every route it installs with {@link HG_ROUTE_PROTOCOL} so it can
 * list, replace and remove exactly its own routes and never an admin's.
 *
 * @module
 */

/**
 * The route protocol number hg installs its routes with (`ip route ... proto 104`). 104 is the
 * ASCII code of "h"; Debian's `/etc/iproute2/rt_protos` names 0-18, 42, 99 and 186-192, and
 * kube-router (17), Calico (80) and BIRD (12) use others, so 104 collides with none of them.
 */
export const HG_ROUTE_PROTOCOL = 104;

/** The protocol names iproute2 prints without `-N`, for parsing output of either form. */
const NAMED: Readonly<Record<string, number>> = {
  unspec: 0,
  redirect: 1,
  kernel: 2,
  boot: 3,
  static: 4,
  gated: 8,
  ra: 9,
  mrt: 10,
  zebra: 11,
  bird: 12,
  dnrouted: 13,
  xorp: 14,
  ntk: 15,
  dhcp: 16,
  keepalived: 18,
  babel: 42,
  openr: 99,
  bgp: 186,
  isis: 187,
  ospf: 188,
  rip: 189,
  eigrp: 192,
};

/**
 * The protocol number of a route as `ip -j route` printed it (a number, a numeric string, or a
 * name from rt_protos), or undefined for a name this table does not know.
 *
 * @example
 * ```ts
 * protocolNumber("kernel"); // 2
 * protocolNumber("104"); // 104
 * ```
 */
export function protocolNumber(value: string | number): number | undefined {
  if (typeof value === "number") return value;
  if (/^\d+$/.test(value)) return Number(value);
  return NAMED[value];
}

/** A readable name for a protocol number: "hg" for ours, the rt_protos name, or the number. */
export function protocolName(value: number): string {
  if (value === HG_ROUTE_PROTOCOL) return "hg";
  const name = Object.entries(NAMED).find(([, n]) => n === value)?.[0];
  return name ?? String(value);
}
