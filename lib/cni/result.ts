/**
 * The result of an ADD (and the prevResult CHECK compares with), written in the config's
 * version: 0.4.0 still tags each address with `"version": "4"`; 1.1.0 may give an interface's MTU.
 *
 * @module
 */
import { formatAddress, type IpAddress } from "../net/address.ts";
import type { CniVersion } from "./spec.ts";

/** What hg made for one container. */
export interface Attachment {
  readonly hostVeth: string;
  readonly ifname: string;
  readonly mac: string;
  readonly mtu: number;
  readonly netns: string;
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly gateway: IpAddress;
  /** Whether this interface carries the container's default route (its first attachment). */
  readonly defaultRoute: boolean;
}

/** A CNI result document. */
export interface CniResult {
  readonly cniVersion: CniVersion;
  readonly interfaces: readonly Record<string, unknown>[];
  readonly ips: readonly Record<string, unknown>[];
  readonly routes: readonly Record<string, unknown>[];
  readonly dns: Record<string, unknown>;
}

/**
 * The MAC address of a container's interface: `0a:58:` and the IPv4 address's bytes, the
 * convention of the reference plugins, so a reused address keeps its MAC and neighbours stay
 * right.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * macFor(parseAddress("1.1.1.5")); // "0a:58:01:01:01:05"
 * macFor(parseAddress("1.1.1.5"), "host"); // "0e:58:01:01:01:05"
 * ```
 */
export function macFor(address: IpAddress, side: "container" | "host" = "container"): string {
  const bytes = [24, 16, 8, 0].map((s) => Number((address.value >> BigInt(s)) & 0xffn));
  // The host end differs in one locally administered bit (0e), so the pair never shares a MAC.
  const first = side === "container" ? "0a" : "0e";
  return [first, "58", ...bytes.map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/**
 * The result for `attachment`, appended to a previous plugin's result when there is one
 * (its interfaces first, so the address's `interface` index points past them).
 *
 * @example
 * ```ts
 * declare const attachment: Attachment;
 * buildResult(attachment, "1.0.0").ips[0]; // { address: "1.1.1.5/24", gateway: "1.1.1.1", interface: 1 }
 * ```
 */
export function buildResult(
  attachment: Attachment,
  version: CniVersion,
  prev?: Record<string, unknown>,
): CniResult {
  const list = (key: string) => resultList(prev, key);
  const interfaces = list("interfaces");
  const withMtu = version === "1.1.0" ? { mtu: attachment.mtu } : {};
  const gateway = formatAddress(attachment.gateway);
  return {
    cniVersion: version,
    interfaces: [
      ...interfaces,
      { name: attachment.hostVeth, mac: macFor(attachment.address, "host"), ...withMtu },
      { name: attachment.ifname, mac: attachment.mac, ...withMtu, sandbox: attachment.netns },
    ],
    ips: [
      ...list("ips"),
      {
        ...(version === "0.4.0" ? { version: "4" } : {}),
        address: `${formatAddress(attachment.address)}/${attachment.prefixLength}`,
        gateway,
        interface: interfaces.length + 1,
      },
    ],
    routes: [
      ...list("routes"),
      ...(attachment.defaultRoute ? [{ dst: "0.0.0.0/0", gw: gateway }] : []),
    ],
    dns: typeof prev?.dns === "object" && prev.dns !== null
      ? prev.dns as Record<string, unknown>
      : {},
  };
}

/**
 * A list of a result from another plugin or run (`interfaces`, `ips`, `routes`), as objects;
 * empty when it has none.
 *
 * @example
 * ```ts
 * resultList({ ips: [{ address: "1.1.1.5/24" }] }, "ips"); // [{ address: "1.1.1.5/24" }]
 * ```
 */
export function resultList(
  result: Record<string, unknown> | undefined,
  key: string,
): Record<string, unknown>[] {
  const value = result?.[key];
  return Array.isArray(value) ? value as Record<string, unknown>[] : [];
}
