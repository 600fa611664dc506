/**
 * The probe's own nftables table in a namespace: a chain at the earliest priority of every hook
 * (netdev ingress of the devices on the path; bridge and inet prerouting, input, forward,
 * output, postrouting; ARP input and output) that sets `meta nftrace set 1` on the probe's
 * packets, so that `nft monitor` prints every rule of every table and family they meet, and the
 * probe's own passes show each hook they reached. Its name holds the probe's PID and start time, so that a later run can tell a
 * table left by a killed probe (owner gone) from one of a probe running now.
 *
 * @module
 */

/** The families the probe's table exists in (one table of the same name in each). */
export const TRACE_FAMILIES = ["inet", "bridge", "netdev", "arp"] as const;

/** The owner a probe table's name holds. */
export interface ProbeOwner {
  readonly pid: number;
  readonly startTime: string;
}

const NAME = /^hgprobe_(\d+)_(\d+)$/;

/**
 * The table name for a probe run by `owner`.
 *
 * @example
 * ```ts
 * probeTableName({ pid: 4711, startTime: "99" }); // "hgprobe_4711_99"
 * ```
 */
export function probeTableName(owner: ProbeOwner): string {
  return `hgprobe_${owner.pid}_${owner.startTime}`;
}

/**
 * The owner of a probe table, or undefined when the name is not a probe table's.
 *
 * @example
 * ```ts
 * probeTableOwner("hgprobe_4711_99"); // { pid: 4711, startTime: "99" }
 * ```
 */
export function probeTableOwner(name: string): ProbeOwner | undefined {
  const m = NAME.exec(name);
  return m ? { pid: Number(m[1]), startTime: m[2] } : undefined;
}

/** An interface name as nft takes it in a quoted string. */
function quoted(ifname: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(ifname)) {
    throw new RangeError(`not an interface name: ${JSON.stringify(ifname)}`);
  }
  return `"${ifname}"`;
}

/**
 * Where a VXLAN packet holds the inner ICMP echo's type and id, in bits from the start of its UDP
 * header: UDP 8 bytes, VXLAN 8, the inner Ethernet header 14, the inner IPv4 header 20 (the
 * probe's echoes carry no IP options), then the echo's type (1 byte) and, 4 bytes on, its id.
 */
const INNER_TYPE_BITS = (8 + 8 + 14 + 20) * 8;
const INNER_ID_BITS = INNER_TYPE_BITS + 4 * 8;
/** The ICMP types of an echo request and reply. */
const ECHO_TYPES = { "echo-request": 8, "echo-reply": 0 } as const;

/**
 * The rules that trace the probe's echoes inside VXLAN (UDP to `port`), one per echo type and
 * id: the rule that set the trace tells which echo a traced UDP packet carries (see
 * {@link encapsulatedEcho}).
 *
 * @example
 * ```ts
 * vxlanTraceRules(8472, [4242])[0];
 * // "udp dport 8472 @th,400,8 8 @th,432,16 4242 meta nftrace set 1"
 * ```
 */
export function vxlanTraceRules(port: number, icmpIds: readonly number[]): string[] {
  return Object.values(ECHO_TYPES).flatMap((type) =>
    icmpIds.map((id) =>
      `udp dport ${port} @th,${INNER_TYPE_BITS},8 ${type} @th,${INNER_ID_BITS},16 ${id} ` +
      "meta nftrace set 1"
    )
  );
}

/**
 * The echo a VXLAN packet carries, read back from the probe's rule that traced it as the trace
 * prints it (`udp dport 8472 @th,400,8 0x8 @th,432,16 0x1092 meta nftrace set 1`); undefined
 * for any other rule.
 *
 * @example
 * ```ts
 * encapsulatedEcho("udp dport 8472 @th,400,8 0x8 @th,432,16 0x1092 meta nftrace set 1");
 * // { icmpType: "echo-request", icmpId: 4242 }
 * ```
 */
export function encapsulatedEcho(
  rule: string,
): { icmpType: string; icmpId: number } | undefined {
  const m = new RegExp(
    `@th,${INNER_TYPE_BITS},8 (0x[0-9a-f]+|\\d+) @th,${INNER_ID_BITS},16 (0x[0-9a-f]+|\\d+) ` +
      "meta nftrace set 1",
  ).exec(rule);
  if (!m) return undefined;
  const type = Number(m[1]);
  const icmpType = Object.entries(ECHO_TYPES).find(([, t]) => t === type)?.[0];
  return icmpType ? { icmpType, icmpId: Number(m[2]) } : undefined;
}

/**
 * The `nft -f` script that creates the probe's table: the probe's ICMP and ICMPv6 echoes
 * (requests and replies with one of `icmpIds`), all ARP and IPv6's neighbour solicitations and
 * advertisements (IPv6's ARP) are traced from the first hook that sees them;
 * with `vxlanPort`, also the VXLAN packets (UDP to that port) that carry them between hosts.
 *
 * @example
 * ```ts
 * const script = traceTableScript("hgprobe_4711_99", [4242], ["eth0", "cni0"], 8472);
 * ```
 */
export function traceTableScript(
  name: string,
  icmpIds: readonly number[],
  devices: readonly string[],
  vxlanPort?: number,
): string {
  const ids = icmpIds.length === 1 ? String(icmpIds[0]) : `{ ${icmpIds.join(", ")} }`;
  const trace = `icmp id ${ids} meta nftrace set 1`;
  const trace6 = `icmpv6 id ${ids} meta nftrace set 1`;
  const ndp = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } meta nftrace set 1";
  const chain = (chainName: string, hook: string, ...rules: string[]) => [
    `  chain ${chainName} {`,
    `    type filter hook ${hook} priority -1000`,
    ...rules.map((rule) => `    ${rule}`),
    "  }",
  ];
  const hooks = (names: readonly string[], ...rules: string[]) =>
    names.flatMap((hook) => chain(`trace_${hook}`, hook, ...rules));
  const ipHooks = ["prerouting", "input", "forward", "output", "postrouting"];
  // A host's own VXLAN packets pass output and postrouting; a peer's, prerouting and input.
  const tunnel = vxlanPort === undefined ? [] : vxlanTraceRules(vxlanPort, icmpIds);
  return [
    `table inet ${name} {`,
    ...hooks(ipHooks, trace, trace6, ndp, ...tunnel),
    "}",
    `table bridge ${name} {`,
    ...hooks(ipHooks, trace, trace6),
    "}",
    `table netdev ${name} {`,
    ...devices.flatMap((d, i) =>
      chain(`trace_in${i}`, `ingress device ${quoted(d)}`, trace, trace6)
    ),
    "}",
    `table arp ${name} {`,
    ...hooks(["input", "output"], "meta nftrace set 1"),
    "}",
    "",
  ].join("\n");
}

/**
 * The script that removes the probe tables `names` (in every family).
 *
 * @example
 * ```ts
 * removeTablesScript([{ family: "inet", name: "hgprobe_4711_99" }]); // "delete table inet hgprobe_4711_99\n"
 * ```
 */
export function removeTablesScript(
  tables: readonly { readonly family: string; readonly name: string }[],
): string {
  return tables.map((t) => `delete table ${t.family} ${t.name}\n`).join("");
}
