/**
 * Plans CNI DEL and GC: an attachment goes with its host-side veth (the kernel removes the
 * container's end with it), which frees its address. Both are idempotent: what is gone already
 * plans nothing.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { findAttachment, networkAttachments } from "./attachment.ts";
import type { CniContainer, HgNetConf } from "./request.ts";

/**
 * Plans a DEL: the attachment's veth, when it is still there.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { HgNetConf } from "./request.ts";
 * declare const host: HostState;
 * declare const conf: HgNetConf;
 * planCniDel(host, conf, { id: "0123abcd", ifname: "eth0" }); // [] when already gone
 * ```
 */
export function planCniDel(host: HostState, conf: HgNetConf, container: CniContainer): Plan {
  const found = findAttachment(host, {
    network: conf.name,
    containerId: container.id,
    ifname: container.ifname,
  });
  return found ? [ipStep(["link", "del", found.hostVeth])] : [];
}

/**
 * Plans a GC: every attachment of this network that the runtime's valid-attachments list does
 * not name.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { HgNetConf } from "./request.ts";
 * declare const host: HostState;
 * declare const conf: HgNetConf;
 * planCniGc(host, { ...conf, validAttachments: [] }); // deletes every attachment of the network
 * ```
 */
export function planCniGc(host: HostState, conf: HgNetConf): Plan {
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerId}/${a.ifname}`));
  return networkAttachments(host, conf)
    .filter((c) => !valid.has(`${c.containerId}/${c.ifname}`))
    .map((c) => ipStep(["link", "del", c.hostVeth]));
}
