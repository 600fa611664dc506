/**
 * How hg marks the links it creates, so it can find them again without a state file and never
 * mistake an admin's link for its own: the link alias (`ip link set X alias ...`).
 *
 * - the bridge: `hg:bridge`
 * - the VXLAN device: `hg:vxlan`
 * - the gateway address hg adds to a bridge it did not create: the address label `BRIDGE:hg`
 * - a container's host-side veth: `hg:NAME@ADDRESS/LEN` (the container's name and address)
 * - a runtime container's host-side veth (CNI): `hgc:ID/IFNAME@ADDRESS/LEN,net=NETWORK`
 *   (dual-stack: `@IPV4/LEN,IPV6/LEN,net=...`), then `,default=1` on the interface that carries
 *   the container's default routes and, when they fit the alias's 255 bytes, `,ns=NETNS-PATH`
 *   and `,name=NAME`
 *
 * @module
 */
import { type IpAddress, parseAddress, parseAddressOf } from "../net/address.ts";
import { formatAddress } from "../net/address.ts";

/** The alias of a bridge that hg created. */
export const BRIDGE_ALIAS = "hg:bridge";

/** The alias of the VXLAN device hg created (`flannel.<VNI>`). */
export const VXLAN_ALIAS = "hg:vxlan";

/**
 * The label of the gateway address hg adds to a bridge it did not create, so that teardown
 * removes that address and nothing else of the bridge; undefined when `bridge:hg` would not fit
 * the kernel's 15 characters (IFNAMSIZ), and the address then stays an admin's.
 *
 * @example
 * ```ts
 * addressLabel("br-lan"); // "br-lan:hg"
 * ```
 */
export function addressLabel(bridge: string): string | undefined {
  const label = `${bridge}:hg`;
  return label.length <= 15 ? label : undefined;
}

/** What a container's host-side veth alias records. */
export interface ContainerMark {
  readonly name: string;
  /** Its address on the primary subnet (IPv4, or IPv6 on an IPv6-only host). */
  readonly address: IpAddress;
  readonly prefixLength: number;
  /** A dual-stack container's IPv6 address. */
  readonly ipv6?: { readonly address: IpAddress; readonly prefixLength: number };
}

/**
 * The alias for a container's host-side veth.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * containerAlias({ name: "web1", address: parseAddress("1.1.1.2"), prefixLength: 24 }); // "hg:web1@1.1.1.2/24"
 * // dual-stack: "hg:web1@1.1.1.2/24,fd00:1:1::2/64"
 * ```
 */
export function containerAlias(mark: ContainerMark): string {
  const v6 = mark.ipv6 ? `,${formatAddress(mark.ipv6.address)}/${mark.ipv6.prefixLength}` : "";
  return `hg:${mark.name}@${formatAddress(mark.address)}/${mark.prefixLength}${v6}`;
}

/** Reads a container mark back from an alias, or undefined when the alias is not one. */
export function parseContainerAlias(alias: string | undefined): ContainerMark | undefined {
  const match = alias === undefined
    ? null
    : /^hg:([A-Za-z0-9_.-]+)@([0-9a-f.:]+)\/(\d+)(?:,([0-9a-f:]+)\/(\d+))?$/.exec(alias);
  if (!match) return undefined;
  try {
    const address = parseAddress(match[2]);
    const ipv6 = match[4] === undefined ? undefined : {
      address: parseAddressOf(6, match[4]),
      prefixLength: Number(match[5]),
    };
    if (ipv6 && address.family !== 4) return undefined;
    return {
      name: match[1],
      address,
      prefixLength: Number(match[3]),
      ...(ipv6 ? { ipv6 } : {}),
    };
  } catch {
    return undefined;
  }
}

/** What the host-side veth of a runtime container's attachment (CNI ADD) records. */
export interface AttachmentMark {
  /** CNI_CONTAINERID. */
  readonly containerId: string;
  /** CNI_IFNAME: the interface inside the container. */
  readonly ifname: string;
  /** The CNI network's name (the config's `name`). */
  readonly network: string;
  /** Its address on the primary subnet (IPv4, or IPv6 on an IPv6-only host). */
  readonly address: IpAddress;
  readonly prefixLength: number;
  /** A dual-stack attachment's IPv6 address. */
  readonly ipv6?: { readonly address: IpAddress; readonly prefixLength: number };
  /** CNI_NETNS, when it fits the alias and is safe there. */
  readonly netns?: string;
  /** The container's name as the runtime gave it (CNI_ARGS K8S_POD_NAME), when it fits. */
  readonly name?: string;
  /** This interface carries the container's default routes (its first attachment to hg). */
  readonly defaultRoute?: boolean;
}

/** The kernel keeps at most 255 bytes of an alias (IFALIASZ - 1). */
export const MAX_ALIAS = 255;
// Optional values go in only when they cannot break the list (no ",") or a batch line.
const OPTIONAL_VALUE = /^[A-Za-z0-9_.:\/@=+%-]+$/;

/**
 * The alias for a runtime container's host-side veth. The netns path and the name are left out
 * (first the name, then the path) when the alias would pass 255 bytes or when they hold
 * characters an alias of hg's cannot carry. The part before them (id, interface, addresses,
 * network) always stays: callers check it fits {@link MAX_ALIAS}.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * attachmentAlias({ containerId: "abc", ifname: "eth0", network: "hg", address: parseAddress("1.1.1.5"), prefixLength: 24 });
 * // "hgc:abc/eth0@1.1.1.5/24,net=hg"
 * attachmentAlias({
 *   containerId: "abc",
 *   ifname: "eth0",
 *   network: "hg",
 *   address: parseAddress("1.1.1.5"),
 *   prefixLength: 24,
 *   ipv6: { address: parseAddress("fd00:1:1::5"), prefixLength: 64 },
 * });
 * // "hgc:abc/eth0@1.1.1.5/24,fd00:1:1::5/64,net=hg"
 * ```
 */
export function attachmentAlias(mark: AttachmentMark): string {
  const v6 = mark.ipv6 ? `,${formatAddress(mark.ipv6.address)}/${mark.ipv6.prefixLength}` : "";
  const base = `hgc:${mark.containerId}/${mark.ifname}@${
    formatAddress(mark.address)
  }/${mark.prefixLength}${v6},net=${mark.network}${mark.defaultRoute ? ",default=1" : ""}`;
  const parts = [base];
  for (const [key, value] of [["ns", mark.netns], ["name", mark.name]] as const) {
    if (value === undefined || !OPTIONAL_VALUE.test(value)) continue;
    const next = `${parts.join(",")},${key}=${value}`;
    if (next.length <= MAX_ALIAS) parts.push(`${key}=${value}`);
  }
  return parts.join(",");
}

// id / ifname @ primary address [, IPv6 address] , net=NETWORK [, key=value ...]. Aliases written
// before dual-stack (one IPv4 address) read the same way.
const ATTACHMENT_ALIAS =
  /^hgc:([A-Za-z0-9][A-Za-z0-9_.-]*)\/([A-Za-z0-9_.-]+)@([0-9a-f.:]+)\/(\d+)(?:,([0-9a-f:]+)\/(\d+))?,net=([A-Za-z0-9][A-Za-z0-9_.-]*)((?:,[a-z]+=[^,]*)*)$/;

/**
 * Reads an attachment mark back from an alias, or undefined when the alias is not one.
 *
 * @example
 * ```ts
 * parseAttachmentAlias("hgc:abc/eth0@1.1.1.5/24,fd00:1:1::5/64,net=hg,default=1")?.ipv6?.prefixLength; // 64
 * parseAttachmentAlias("hgc:abc/eth0@1.1.1.5/24,net=hg")?.ipv6; // undefined
 * ```
 */
export function parseAttachmentAlias(alias: string | undefined): AttachmentMark | undefined {
  const match = alias === undefined ? null : ATTACHMENT_ALIAS.exec(alias);
  if (!match) return undefined;
  const extra = new Map(
    match[8].split(",").slice(1).map((
      kv,
    ) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  try {
    const address = parseAddress(match[3]);
    const ipv6 = match[5] === undefined
      ? undefined
      : { address: parseAddressOf(6, match[5]), prefixLength: Number(match[6]) };
    // A second address is the IPv6 partner of an IPv4 one, never a second of one family.
    if (ipv6 && address.family !== 4) return undefined;
    const bits = address.family === 4 ? 32 : 128;
    if (Number(match[4]) > bits || (ipv6 && ipv6.prefixLength > 128)) return undefined;
    return {
      containerId: match[1],
      ifname: match[2],
      address,
      prefixLength: Number(match[4]),
      ...(ipv6 ? { ipv6 } : {}),
      network: match[7],
      ...(extra.has("ns") ? { netns: extra.get("ns") } : {}),
      ...(extra.has("name") ? { name: extra.get("name") } : {}),
      ...(extra.get("default") === "1" ? { defaultRoute: true } : {}),
    };
  } catch {
    return undefined;
  }
}
