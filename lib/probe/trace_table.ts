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
 * The `nft -f` script that creates the probe's table: the probe's ICMP echoes (requests and
 * replies with one of `icmpIds`) and all ARP are traced from the first hook that sees them.
 *
 * @example
 * ```ts
 * const script = traceTableScript("hgprobe_4711_99", [4242], ["eth0", "cni0"]);
 * ```
 */
export function traceTableScript(
  name: string,
  icmpIds: readonly number[],
  devices: readonly string[],
): string {
  const ids = icmpIds.length === 1 ? String(icmpIds[0]) : `{ ${icmpIds.join(", ")} }`;
  const trace = `icmp id ${ids} meta nftrace set 1`;
  const chain = (chainName: string, hook: string, rule: string) => [
    `  chain ${chainName} {`,
    `    type filter hook ${hook} priority -1000`,
    `    ${rule}`,
    "  }",
  ];
  const hooks = (names: readonly string[], rule: string) =>
    names.flatMap((hook) => chain(`trace_${hook}`, hook, rule));
  const ipHooks = ["prerouting", "input", "forward", "output", "postrouting"];
  return [
    `table inet ${name} {`,
    ...hooks(ipHooks, trace),
    "}",
    `table bridge ${name} {`,
    ...hooks(ipHooks, trace),
    "}",
    `table netdev ${name} {`,
    ...devices.flatMap((d, i) => chain(`trace_in${i}`, `ingress device ${quoted(d)}`, trace)),
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
