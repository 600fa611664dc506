/**
 * The kernel settings doctor reads from a network namespace, both families at once: IPv4's
 * `ip_forward` and `icmp_echo_ignore_all`, and per interface (`all` and `default` among them)
 * IPv4's `forwarding`, `rp_filter`, `arp_ignore`, `arp_filter`, `proxy_arp` and IPv6's
 * `forwarding`, `force_forwarding`, `disable_ipv6`, `accept_dad`, as sysctl keys
 * (`net.ipv4.conf.eth0.rp_filter`). This process's own namespace is read in-process (no
 * process to start); another one by one process inside it, since /proc/sys/net shows the
 * namespace of the process that reads it. A kernel without IPv6 has no IPv6 keys.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { EnvironmentError } from "../errors.ts";
import { runWhere } from "../exec/netns.ts";

const IPV4_GLOBAL = ["ip_forward", "icmp_echo_ignore_all"];
const IPV4_PER_INTERFACE = ["forwarding", "rp_filter", "arp_ignore", "arp_filter", "proxy_arp"];
/** `force_forwarding` exists from Linux 6.17. */
const IPV6_PER_INTERFACE = ["forwarding", "force_forwarding", "disable_ipv6", "accept_dad"];

/** The files read, relative to /proc/sys/net, with `*` for every interface. */
const FILES = [
  ...IPV4_GLOBAL.map((name) => `ipv4/${name}`),
  ...IPV4_PER_INTERFACE.map((name) => `ipv4/conf/*/${name}`),
  ...IPV6_PER_INTERFACE.map((name) => `ipv6/conf/*/${name}`),
];

/**
 * Parses `grep -s . FILES` run in /proc/sys/net (`ipv4/conf/eth0/rp_filter:1`) into sysctl keys
 * (`net.ipv4.conf.eth0.rp_filter` → `1`); an interface's name may hold dots.
 *
 * @example
 * ```ts
 * parseSysctlLines("ipv4/ip_forward:1\nipv6/conf/all/forwarding:0\n").get("net.ipv4.ip_forward"); // "1"
 * ```
 */
export function parseSysctlLines(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    values.set(`net.${line.slice(0, colon).replaceAll("/", ".")}`, line.slice(colon + 1));
  }
  return values;
}

/** This process's namespace: the same files, read directly. */
function readHere(): Map<string, string> {
  const values = new Map<string, string>();
  const read = (path: string) => {
    try {
      // One line each; the value as grep prints it (without the newline).
      const text = readFileSync(`/proc/sys/net/${path}`, "utf8").split("\n")[0];
      if (text !== "") values.set(`net.${path.replaceAll("/", ".")}`, text);
    } catch {
      // Missing (force_forwarding before 6.17) or unreadable: not read, as grep -s skips it.
    }
  };
  const interfaces = (family: string) => {
    try {
      return readdirSync(`/proc/sys/net/${family}/conf`).sort();
    } catch {
      return [];
    }
  };
  for (const name of IPV4_GLOBAL) read(`ipv4/${name}`);
  if (!values.has("net.ipv4.ip_forward")) {
    throw new EnvironmentError("cannot read the IPv4 settings: /proc/sys/net/ipv4 is not there");
  }
  for (const dev of interfaces("ipv4")) {
    for (const name of IPV4_PER_INTERFACE) read(`ipv4/conf/${dev}/${name}`);
  }
  for (const dev of interfaces("ipv6")) {
    for (const name of IPV6_PER_INTERFACE) read(`ipv6/conf/${dev}/${name}`);
  }
  return values;
}

/**
 * The settings of a network namespace (this process's own when `netns` is undefined).
 *
 * @example
 * ```ts
 * (await readDoctorSysctls("hglab-h1")).get("net.ipv6.conf.all.forwarding"); // "1"
 * ```
 */
export async function readDoctorSysctls(netns?: string): Promise<Map<string, string>> {
  if (netns === undefined) return readHere();
  // One process (sh execs grep); grep -s is quiet about files this kernel lacks, and exits 2
  // for them: what it read counts, and no IPv4 value at all is the failure.
  const r = await runWhere(netns, [
    "sh",
    "-c",
    `cd /proc/sys/net && exec grep -s . ${FILES.join(" ")}`,
  ]);
  const values = parseSysctlLines(r.stdout);
  if (!values.has("net.ipv4.ip_forward")) {
    throw new EnvironmentError(
      `cannot read the IPv4 settings of ${netns}: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  }
  return values;
}
