/**
 * flannel's `subnet.env`, so that tooling written for flannel (CNI's flannel plugin, scripts)
 * finds this host's subnet where it looks for it.
 *
 * @module
 */
import { randomHex } from "../random_hex.ts";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatAddress } from "../net/address.ts";
import { firstHost, formatPrefix, parseInterfaceAddress, type Prefix } from "../net/prefix.ts";

/** flannel's path for it. */
export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

/** What subnet.env says. */
export interface SubnetEnv {
  /** The cluster network and this host's subnet in it (IPv4, or IPv6 on an IPv6-only host). */
  readonly network: Prefix;
  readonly subnet: Prefix;
  /** A dual-stack host's IPv6 network and subnet. */
  readonly ipv6?: { readonly network: Prefix; readonly subnet: Prefix };
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/**
 * The file's text, as flanneld writes it (FLANNEL_SUBNET is the gateway address with the
 * subnet's length; an IPv6 network and subnet are FLANNEL_IPV6_NETWORK and FLANNEL_IPV6_SUBNET).
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * formatSubnetEnv({ network: parsePrefix("1.1.0.0/16"), subnet: parsePrefix("1.1.1.0/24"), mtu: 1500, ipMasq: false });
 * // "FLANNEL_NETWORK=1.1.0.0/16\nFLANNEL_SUBNET=1.1.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n"
 * ```
 */
export function formatSubnetEnv(env: SubnetEnv): string {
  const families = [{ network: env.network, subnet: env.subnet }, ...(env.ipv6 ? [env.ipv6] : [])];
  return [
    ...families.flatMap(({ network, subnet }) => {
      const name = subnet.address.family === 4 ? "FLANNEL" : "FLANNEL_IPV6";
      return [
        `${name}_NETWORK=${formatPrefix(network)}`,
        `${name}_SUBNET=${formatAddress(firstHost(subnet))}/${subnet.length}`,
      ];
    }),
    `FLANNEL_MTU=${env.mtu}`,
    `FLANNEL_IPMASQ=${env.ipMasq}`,
    "",
  ].join("\n");
}

/** Writes `text` to `path` atomically, unless it already says exactly that. Returns whether it wrote. */
export async function writeSubnetEnv(path: string, text: string): Promise<boolean> {
  if ((await readFile(path, "utf8").catch(() => undefined)) === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.subnet.env.${randomHex(4)}`);
  await writeFile(temp, text, { mode: 0o644 });
  await rename(temp, path);
  return true;
}

/**
 * The subnet a subnet.env names (FLANNEL_SUBNET, else FLANNEL_IPV6_SUBNET: an IPv6-only host's),
 * or undefined when the text has none or an invalid one: the file is a hint of what this host
 * used before, never trusted further.
 *
 * @example
 * ```ts
 * subnetOfEnv("FLANNEL_SUBNET=1.1.3.1/24\n"); // 1.1.3.0/24
 * ```
 */
export function subnetOfEnv(text: string): Prefix | undefined {
  const value = (/^FLANNEL_SUBNET=(\S+)\s*$/m.exec(text) ??
    /^FLANNEL_IPV6_SUBNET=(\S+)\s*$/m.exec(text))?.[1];
  if (value === undefined) return undefined;
  try {
    return parseInterfaceAddress(value).prefix;
  } catch {
    return undefined;
  }
}
