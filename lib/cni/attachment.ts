/**
 * Finding a runtime container's attachment on the host again: its host-side veth has a name
 * derived from (network, container id, interface) and carries hg's mark, so no state file can
 * drift from the host.
 *
 * @module
 */
import { type ContainerEntry, listContainers } from "../containers/list.ts";
import { attachmentVethName } from "../containers/name.ts";
import type { HostState } from "../host/state.ts";
import type { HgNetConf } from "./request.ts";

/** Who an attachment belongs to. */
export interface AttachmentKey {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/**
 * The attachment of `key` on the host: the veth of its derived name whose mark names the same
 * network, container and interface (a veth of that name marked for another is not it).
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * declare const state: HostState; // eth0 10.0.12.11/22 + fd00:12::11/64, bridge cni0 1.1.1.1/24
 * findAttachment(state, { network: "hg", containerId: "0123abcd", ifname: "eth0" })?.address;
 * ```
 */
export function findAttachment(host: HostState, key: AttachmentKey): ContainerEntry | undefined {
  const veth = attachmentVethName(key.network, key.containerId, key.ifname);
  return listContainers(host).find((c) =>
    c.kind === "cni" && c.hostVeth === veth && c.network === key.network &&
    c.containerId === key.containerId && c.ifname === key.ifname
  );
}

/** The attachments of the network `conf` names. */
export function networkAttachments(host: HostState, conf: HgNetConf): ContainerEntry[] {
  return listContainers(host).filter((c) => c.kind === "cni" && c.network === conf.name);
}
