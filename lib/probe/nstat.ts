/**
 * The kernel's per-namespace protocol counters as `nstat -asz` prints them (`#kernel`, then
 * `Name value rate` lines: /proc/net/snmp and /proc/net/netstat of the namespace it runs in),
 * and what changed across a probe.
 *
 * @module
 */

/** Counter values by nstat name (`IpInAddrErrors`, `TcpExtIPReversePathFilter`, ...). */
export type Counters = ReadonlyMap<string, number>;

/**
 * Parses `nstat -asz` output.
 *
 * @example
 * ```ts
 * parseNstat("#kernel\nIpInAddrErrors 3 0.0\n").get("IpInAddrErrors"); // 3
 * ```
 */
export function parseNstat(text: string): Counters {
  const counters = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z][A-Za-z0-9]*)\s+(\d+)\b/.exec(line);
    if (m) counters.set(m[1], Number(m[2]));
  }
  return counters;
}

/**
 * The counters that grew from `before` to `after`, with how much, in name order.
 *
 * @example
 * ```ts
 * counterDeltas(parseNstat("IpInAddrErrors 3"), parseNstat("IpInAddrErrors 5")); // Map { "IpInAddrErrors" => 2 }
 * ```
 */
export function counterDeltas(before: Counters, after: Counters): Map<string, number> {
  const deltas = new Map<string, number>();
  for (const name of [...after.keys()].sort()) {
    const delta = after.get(name)! - (before.get(name) ?? 0);
    if (delta > 0) deltas.set(name, delta);
  }
  return deltas;
}
