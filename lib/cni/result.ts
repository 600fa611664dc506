/**
 * The result of an ADD (and the prevResult CHECK compares with), written in the config's
 * version: 0.4.0 still tags each address with `"version": "4"` or `"6"`; 1.1.0 may give an
 * interface's MTU. A dual-stack attachment lists both addresses (IPv4 first) and, on the
 * container's first interface on hg, both default routes.
 *
 * @module
 */
import { type Family, formatAddress, type IpAddress } from "../net/address.ts";
import type { CniVersion } from "./spec.ts";

/** One address of an attachment and the bridge's address of its family, its gateway. */
export interface AttachmentAddress {
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly gateway: IpAddress;
}

/** What hg made for one container. */
export interface Attachment extends AttachmentAddress {
  readonly hostVeth: string;
  readonly ifname: string;
  readonly mac: string;
  readonly mtu: number;
  readonly netns: string;
  // The primary address (IPv4, or IPv6 on an IPv6-only host) is the one this type extends.
  /** A dual-stack attachment's IPv6 address. */
  readonly ipv6?: AttachmentAddress;
  /** Whether this interface carries the container's default routes (its first attachment). */
  readonly defaultRoute: boolean;
}

/**
 * An attachment's addresses, the primary one first.
 *
 * @example
 * ```ts
 * declare const attachment: Attachment;
 * attachmentAddresses(attachment).map((a) => a.address.family); // [4, 6] on a dual-stack host
 * ```
 */
export function attachmentAddresses(
  attachment: AttachmentAddress & { readonly ipv6?: AttachmentAddress },
): AttachmentAddress[] {
  const { address, prefixLength, gateway } = attachment;
  return [{ address, prefixLength, gateway }, ...(attachment.ipv6 ? [attachment.ipv6] : [])];
}

/**
 * The destination of the default route of `family`, as results write it.
 *
 * @example
 * ```ts
 * defaultDestination(6); // "::/0"
 * ```
 */
export function defaultDestination(family: Family): string {
  return family === 4 ? "0.0.0.0/0" : "::/0";
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
 * right (of an IPv6 address, its last four bytes: an IPv6-only host's pool counts up from ::2).
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
  const addresses = attachmentAddresses(attachment);
  return {
    cniVersion: version,
    interfaces: [
      ...interfaces,
      { name: attachment.hostVeth, mac: macFor(attachment.address, "host"), ...withMtu },
      { name: attachment.ifname, mac: attachment.mac, ...withMtu, sandbox: attachment.netns },
    ],
    ips: [
      ...list("ips"),
      ...addresses.map((a) => ({
        ...(version === "0.4.0" ? { version: String(a.address.family) } : {}),
        address: `${formatAddress(a.address)}/${a.prefixLength}`,
        gateway: formatAddress(a.gateway),
        interface: interfaces.length + 1,
      })),
    ],
    routes: [
      ...list("routes"),
      ...(attachment.defaultRoute
        ? addresses.map((a) => ({
          dst: defaultDestination(a.address.family),
          gw: formatAddress(a.gateway),
        }))
        : []),
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
