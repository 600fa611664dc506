/**
 * The IPv6 settings doctor reads from a namespace: per interface (`all` and `default` among
 * them) `forwarding`, `force_forwarding`, `disable_ipv6` and `accept_dad`, as sysctl keys
 * (`net.ipv6.conf.cni0.forwarding`). A kernel without IPv6 has none of them.
 *
 * @module
 */
import { EnvironmentError } from "../errors.ts";
import { runWhere } from "../exec/netns.ts";

/** The per-interface IPv6 settings read (`force_forwarding` exists from Linux 6.17). */
const SETTINGS = ["forwarding", "force_forwarding", "disable_ipv6", "accept_dad"];

/**
 * Parses `grep -r . conf/*\/NAME` run in /proc/sys/net/ipv6 (`conf/eth0/forwarding:1`) into
 * sysctl keys (`net.ipv6.conf.eth0.forwarding` → `1`).
 *
 * @example
 * ```ts
 * parseIpv6Sysctls("conf/all/forwarding:1\n").get("net.ipv6.conf.all.forwarding"); // "1"
 * ```
 */
export function parseIpv6Sysctls(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^conf\/(.+)\/([a-z_0-9]+):(.*)$/.exec(line);
    if (m) values.set(`net.ipv6.conf.${m[1]}.${m[2]}`, m[3]);
  }
  return values;
}

/**
 * The IPv6 settings of a network namespace (this process's own when `netns` is undefined), read
 * by one process inside it; none when the kernel has no IPv6.
 *
 * @example
 * ```ts
 * (await readIpv6Sysctls("hglab-h1")).get("net.ipv6.conf.all.forwarding"); // "1"
 * ```
 */
export async function readIpv6Sysctls(netns?: string): Promise<Map<string, string>> {
  const files = SETTINGS.map((name) => `conf/*/${name}`).join(" ");
  // grep exits 2 when a file is missing (force_forwarding before 6.17): what it read counts.
  const r = await runWhere(netns, [
    "sh",
    "-c",
    `cd /proc/sys/net/ipv6 2>/dev/null || exit 0; grep -r . ${files} 2>/dev/null; exit 0`,
  ]);
  if (r.code !== 0) {
    throw new EnvironmentError(
      `cannot read the IPv6 settings${netns ? ` of ${netns}` : ""}: ${r.stderr.trim()}`,
    );
  }
  return parseIpv6Sysctls(r.stdout);
}
