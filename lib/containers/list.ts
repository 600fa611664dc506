import { existsSync } from "node:fs";
import type { HostState } from "../host/state.ts";
import { parseAttachmentAlias, parseContainerAlias } from "../host/marks.ts";
import type { IpAddress } from "../net/address.ts";
import { CONTAINER_IFNAME } from "./name.ts";

/**
 * A container as the host sees it: its host-side veth and the mark hg left on it. `kind` says
 * who made it: `hg netns add` ("netns") or a container runtime through hg's CNI plugin ("cni").
 */
export interface ContainerEntry {
  readonly kind: "netns" | "cni";
  /** The namespace's name (netns), or the runtime's name for the container, else its id (cni). */
  readonly name: string;
  /** Its address on the primary subnet (IPv4, or IPv6 on an IPv6-only host). */
  readonly address: IpAddress;
  readonly prefixLength: number;
  /** A dual-stack container's IPv6 address. */
  readonly ipv6?: { readonly address: IpAddress; readonly prefixLength: number };
  readonly hostVeth: string;
  /** The bridge the veth is attached to, if any. */
  readonly master?: string;
  readonly vethUp: boolean;
  /** The container's network namespace as a path, when hg knows it. */
  readonly netns?: string;
  /** The interface inside the container. */
  readonly ifname: string;
  /** The runtime's container id (cni only). */
  readonly containerId?: string;
  /** The CNI network's name (cni only). */
  readonly network?: string;
  /** The interface carries the container's default route (cni only). */
  readonly defaultRoute?: boolean;
}

/**
 * The containers on this host that hg connected, found by the mark on their host-side veths:
 * the one address pool that `hg netns add` and the CNI plugin share. hg's own first (doctor's
 * default source), then the runtime's, each by name.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // hg's containers web1 and web2 on bridge cni0
 * listContainers(state).map((c) => c.name); // ["web1", "web2"]
 * ```
 */
export function listContainers(state: Pick<HostState, "links">): ContainerEntry[] {
  return containerEntries(state).sort((a, b) =>
    compareNames(b.kind, a.kind) || compareNames(a.name, b.name)
  );
}

/**
 * {@link listContainers} in the order of the host's links, for a look-up that needs no order
 * (the address pool, one container by name): sorting costs more than the look-up.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState;
 * containerEntries(state).some((c) => c.kind === "netns" && c.name === "web1"); // true
 * ```
 */
export function containerEntries(state: Pick<HostState, "links">): ContainerEntry[] {
  return state.links.flatMap((link): ContainerEntry[] => {
    const veth = { hostVeth: link.ifname, master: link.master, vethUp: link.up };
    const mark = parseContainerAlias(link.alias);
    if (mark) {
      return [{
        kind: "netns",
        ...mark,
        ...veth,
        netns: `/run/netns/${mark.name}`,
        ifname: CONTAINER_IFNAME,
      }];
    }
    const attachment = parseAttachmentAlias(link.alias);
    if (!attachment) return [];
    const { name, ...rest } = attachment;
    return [{ kind: "cni", name: name ?? attachment.containerId, ...rest, ...veth }];
  });
}

/** Plain lower-case names (hg's own and most runtimes'): ordered alike by both comparisons. */
const PLAIN_NAME = /^[a-z0-9.-]*$/;

/**
 * `a.localeCompare(b)`, without setting up a collator (about 0.5 ms, a good part of what
 * `hg status` spends on its own work) when both are plain lower-case names, which code-unit
 * order sorts the same way.
 *
 * @example
 * ```ts
 * compareNames("web10", "web2"); // < 0
 * ```
 */
export function compareNames(a: string, b: string): number {
  if (PLAIN_NAME.test(a) && PLAIN_NAME.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return a.localeCompare(b);
}

/** The containers hg made with `hg netns add` (named namespaces), in the order of the links. */
export function netnsContainers(state: Pick<HostState, "links">): ContainerEntry[] {
  return containerEntries(state).filter((c) => c.kind === "netns");
}

/**
 * The host-side veths of the containers whose network namespace exists. hg's own: its name under
 * `/run/netns` (a namespace whose name was removed may live on, held by a process). A runtime's:
 * always, since the kernel removes a veth pair with the namespace of either end, and its path
 * may be visible only in the runtime's mount namespace.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // hg's bridge cni0 1.1.1.1/24, its container web1 (host veth hgv1234abcd)
 * presentContainers(listContainers(state)).has("hgv1234abcd"); // true while /run/netns/web1 exists
 * ```
 */
export function presentContainers(entries: readonly ContainerEntry[]): Set<string> {
  const present = (c: ContainerEntry) =>
    c.kind === "cni" || (c.netns !== undefined && existsSync(c.netns));
  return new Set(entries.filter(present).map((c) => c.hostVeth));
}
