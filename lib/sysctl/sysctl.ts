/**
 * Reads and writes kernel settings under /proc/sys. Network settings are per network namespace:
 * `readSysctl`/`writeSysctl` act on the namespace this process runs in; `readNetSysctls` reads
 * any namespace's, through a process inside it.
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { EnvironmentError } from "../errors.ts";
import { runWhere } from "../exec/netns.ts";

/** A per-interface key, `net.ipv4.conf.IFNAME.SETTING`: the name between may hold dots. */
const PER_INTERFACE = /^net\.(ipv4|ipv6)\.(conf|neigh)\.(.+)\.([^.]+)$/;

/** The /proc/sys path of a key; an interface's name is taken whole (`eth0.100` is one name). */
function pathOf(key: string): string {
  const m = PER_INTERFACE.exec(key);
  if (m) return `/proc/sys/net/${m[1]}/${m[2]}/${m[3]}/${m[4]}`;
  return "/proc/sys/" + key.replaceAll(".", "/");
}

/**
 * A key as sysctl(8) takes it: with dots, or with slashes when an interface's name holds a dot
 * (sysctl would read `net.ipv4.conf.eth0.100.rp_filter` as the interface `eth0/100`).
 *
 * @example
 * ```ts
 * sysctlName("net.ipv4.conf.eth0.100.rp_filter"); // "net/ipv4/conf/eth0.100/rp_filter"
 * sysctlName("net.ipv4.conf.eth0.rp_filter"); // "net.ipv4.conf.eth0.rp_filter"
 * ```
 */
export function sysctlName(key: string): string {
  const m = PER_INTERFACE.exec(key);
  return m && m[3].includes(".") ? `net/${m[1]}/${m[2]}/${m[3]}/${m[4]}` : key;
}

/**
 * The command that sets a key, for fix lines and dry runs.
 *
 * @example
 * ```ts
 * sysctlCommand("net.ipv4.conf.eth0.100.rp_filter", "2"); // "sysctl -w net/ipv4/conf/eth0.100/rp_filter=2"
 * ```
 */
export function sysctlCommand(key: string, value: string): string {
  return `sysctl -w ${sysctlName(key)}=${value}`;
}

/**
 * The value of a sysctl such as `net.ipv4.ip_forward`, or undefined when the key does not exist.
 *
 * @example
 * ```ts
 * await readSysctl("net.ipv4.ip_forward"); // "1"
 * ```
 */
export async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(pathOf(key), "utf8")).trim();
  } catch {
    return undefined;
  }
}

/** Sets a sysctl (`sysctl -w key=value`). */
export async function writeSysctl(key: string, value: string): Promise<void> {
  try {
    await writeFile(pathOf(key), value + "\n");
  } catch (e) {
    throw new EnvironmentError(`cannot set ${key}=${value}: ${(e as Error).message}`);
  }
}

/** The IPv4 settings doctor reads: global ones and, per interface, `conf/IF/NAME`. */
const NET_SETTINGS = ["ip_forward", "icmp_echo_ignore_all"];
const INTERFACE_SETTINGS = ["forwarding", "rp_filter", "arp_ignore", "arp_filter", "proxy_arp"];

/**
 * Parses `grep -r . FILES` run in /proc/sys/net/ipv4 (`conf/eth0/rp_filter:1`) into sysctl keys
 * (`net.ipv4.conf.eth0.rp_filter` → `1`).
 *
 * @example
 * ```ts
 * parseNetSysctls("ip_forward:1\nconf/eth0/rp_filter:2\n").get("net.ipv4.conf.eth0.rp_filter"); // "2"
 * ```
 */
export function parseNetSysctls(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    values.set(`net.ipv4.${line.slice(0, colon).replaceAll("/", ".")}`, line.slice(colon + 1));
  }
  return values;
}

/**
 * The IPv4 forwarding, rp_filter, ARP and echo settings of a network namespace (this process's
 * own when `netns` is undefined), read by one process inside it: /proc/sys/net shows the
 * namespace of the process that reads it.
 *
 * @example
 * ```ts
 * (await readNetSysctls("hglab-h1")).get("net.ipv4.ip_forward"); // "1"
 * ```
 */
export async function readNetSysctls(netns?: string): Promise<Map<string, string>> {
  const files = [
    ...NET_SETTINGS,
    ...INTERFACE_SETTINGS.map((name) => `conf/*/${name}`),
  ].join(" ");
  const r = await runWhere(netns, ["sh", "-c", `cd /proc/sys/net/ipv4 && grep -r . ${files}`]);
  if (r.code !== 0) {
    throw new EnvironmentError(
      `cannot read the IPv4 settings${netns ? ` of ${netns}` : ""}: ${r.stderr.trim()}`,
    );
  }
  return parseNetSysctls(r.stdout);
}
