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
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { EnvironmentError } from "../errors.ts";
import { runWhere } from "../exec/netns.ts";

const IPV4_GLOBAL = ["ip_forward", "icmp_echo_ignore_all"];
const IPV4_PER_INTERFACE = ["forwarding", "rp_filter", "arp_ignore", "arp_filter", "proxy_arp"];
/** `force_forwarding` exists from Linux 6.17. */
const IPV6_PER_INTERFACE = ["forwarding", "force_forwarding", "disable_ipv6", "accept_dad"];

/**
 * `grep` reading the same files in another namespace, with no shell to expand `*`: recursive
 * over the per-interface directories, only the files of these names (by base name).
 */
const GREP = [
  "grep",
  "-rs",
  ...[...new Set([...IPV4_GLOBAL, ...IPV4_PER_INTERFACE, ...IPV6_PER_INTERFACE])].map((name) =>
    `--include=${name}`
  ),
  ".",
  ...IPV4_GLOBAL.map((name) => `/proc/sys/net/ipv4/${name}`),
  "/proc/sys/net/ipv4/conf",
  "/proc/sys/net/ipv6/conf",
];

const ROOT = "/proc/sys/net/";

/**
 * Parses grep's lines of files under /proc/sys/net, by full path or relative to it
 * (`/proc/sys/net/ipv4/conf/eth0/rp_filter:1`, `ipv4/conf/eth0/rp_filter:1`), into sysctl keys
 * (`net.ipv4.conf.eth0.rp_filter` → `1`); an interface's name may hold dots, never a colon.
 *
 * @example
 * ```ts
 * parseSysctlLines("/proc/sys/net/ipv4/ip_forward:1\nipv6/conf/all/forwarding:0\n").get("net.ipv4.ip_forward"); // "1"
 * ```
 */
export function parseSysctlLines(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const path = line.startsWith(ROOT) ? line.slice(ROOT.length, colon) : line.slice(0, colon);
    values.set(`net.${path.replaceAll("/", ".")}`, line.slice(colon + 1));
  }
  return values;
}

/** This process's namespace: the same files, read directly. */
function readHere(): Map<string, string> {
  const values = new Map<string, string>();
  // Each file is one short line: read into one buffer (readFileSync of a /proc file, whose size
  // says 0, cost Bun twice the time for these ~50 files).
  const buffer = new Uint8Array(256);
  const decoder = new TextDecoder();
  const read = (path: string) => {
    let fd: number | undefined;
    try {
      fd = openSync(`${ROOT}${path}`, "r");
      const n = readSync(fd, buffer, 0, buffer.length, null);
      // One line each; the value as grep prints it (without the newline).
      const text = decoder.decode(buffer.subarray(0, n)).split("\n")[0];
      if (text !== "") values.set(`net.${path.replaceAll("/", ".")}`, text);
    } catch {
      // Missing (force_forwarding before 6.17) or unreadable: not read, as grep -s skips it.
    } finally {
      if (fd !== undefined) closeSync(fd);
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
  // One process (nsenter execs grep); grep -s is quiet about files this kernel lacks, and exits
  // 2 for them: what it read counts, and no IPv4 value at all is the failure.
  const r = await runWhere(netns, GREP);
  const values = parseSysctlLines(r.stdout);
  if (!values.has("net.ipv4.ip_forward")) {
    throw new EnvironmentError(
      `cannot read the IPv4 settings of ${netns}: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  }
  return values;
}
