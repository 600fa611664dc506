/**
 * Plans CNI ADD: the `hg netns add` plan for a namespace the runtime made. A veth pair whose
 * container end goes straight into CNI_NETNS, the host end marked with the attachment and put
 * on the bridge, and inside the container the address, `lo` and the interface up and a default
 * route via the bridge. The address comes from the one pool every hg container draws from.
 * A container's first attachment to hg carries its default route; a second one (another
 * CNI_IFNAME) gets its address only, since the kernel keeps one default route per metric.
 *
 * @module
 */
import { pickAddress, takenAddresses } from "../containers/address.ts";
import { listContainers } from "../containers/list.ts";
import { attachmentVethName } from "../containers/name.ts";
import { EnvironmentError, InputError } from "../errors.ts";
import { findBridge } from "../host/bridge.ts";
import { attachmentAlias } from "../host/marks.ts";
import type { HostState } from "../host/state.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { hgRules, masqueradeRule } from "../setup/masquerade.ts";
import { findAttachment } from "./attachment.ts";
import { CniError } from "./error.ts";
import type { CniContainer, HgNetConf } from "./request.ts";
import { type Attachment, macFor } from "./result.ts";
import { CNI_ERROR } from "./spec.ts";

/** The plan and what the container gets. */
export interface CniAddPlan {
  readonly plan: Plan;
  readonly attachment: Attachment;
}

/**
 * Plans an ADD. An attachment that exists already (ADD repeated, or the same container id and
 * interface in another namespace) is an error, as the spec says, and changes nothing.
 * `natRules` (`iptables -t nat -S POSTROUTING`) matter only with `ipMasq`.
 *
 * @example
 * ```ts
 * declare const host: HostState;
 * const conf = { cniVersion: "1.0.0", name: "hg", bridge: "cni0", ipMasq: false, hairpinMode: false } as const;
 * planCniAdd(host, conf, { id: "0123abcd", netns: "/run/netns/x", ifname: "eth0" }).attachment.address;
 * ```
 */
export function planCniAdd(
  host: HostState,
  conf: HgNetConf,
  container: CniContainer & { readonly netns: string },
  natRules: readonly string[] = [],
): CniAddPlan {
  const bridge = findBridge(host, conf.bridge);
  if (!bridge?.gateway) {
    throw new EnvironmentError(
      `no bridge ${conf.bridge} with an IPv4 address on this host: run "hg setup" ` +
        `(or start "hg agent") first`,
    );
  }
  const gateway = bridge.gateway.address;
  const subnet = bridge.gateway.prefix;
  if (conf.mtu !== undefined && conf.mtu > bridge.link.mtu) {
    throw new InputError(
      `"mtu" ${conf.mtu} is above bridge ${conf.bridge}'s ${bridge.link.mtu}: ` +
        `packets that size would be dropped at the bridge`,
    );
  }
  const mtu = conf.mtu ?? bridge.link.mtu;
  const key = { network: conf.name, containerId: container.id, ifname: container.ifname };
  const veth = attachmentVethName(key.network, key.containerId, key.ifname);
  const existing = findAttachment(host, key);
  if (existing) {
    throw new CniError(
      CNI_ERROR.attachmentExists,
      `container ${container.id} already has ${container.ifname} on network ${conf.name} (${
        formatAddress(existing.address)
      }/${existing.prefixLength}${existing.netns ? ` in ${existing.netns}` : ""}): DEL it first`,
    );
  }
  const others = listContainers(host).filter((c) =>
    c.kind === "cni" && c.containerId === container.id && c.hostVeth !== veth
  );
  if (host.links.some((l) => l.ifname === veth)) {
    throw new CniError(
      CNI_ERROR.configureFailed,
      `interface ${veth} (derived from container ${container.id} and ${container.ifname}) ` +
        `already exists for something else: use another interface name`,
    );
  }
  if (
    container.requestedPrefixLength !== undefined &&
    container.requestedPrefixLength !== subnet.length
  ) {
    throw new InputError(
      `CNI_ARGS IP=${formatAddress(container.requestedIp!)}/${container.requestedPrefixLength}: ` +
        `this host's subnet ${formatPrefix(subnet)} is a /${subnet.length}`,
    );
  }
  const address = pickAddress(subnet, takenAddresses(host, gateway), container.requestedIp);
  const made: Attachment = {
    hostVeth: veth,
    ifname: container.ifname,
    mac: macFor(address),
    mtu,
    netns: container.netns,
    address,
    prefixLength: subnet.length,
    gateway,
    defaultRoute: others.length === 0,
  };
  const mark = attachmentAlias({
    ...key,
    address,
    prefixLength: subnet.length,
    netns: container.netns,
    name: container.name,
    defaultRoute: made.defaultRoute,
  });
  const inside = container.netns;
  const gw = formatAddress(gateway);
  const steps: Step[] = [
    ipStep([
      "link",
      "add",
      veth,
      "address",
      macFor(address, "host"),
      "mtu",
      String(mtu),
      "type",
      "veth",
      "peer",
      "name",
      container.ifname,
      "address",
      made.mac,
      "mtu",
      String(mtu),
      "netns",
      inside,
    ]),
    ipStep(["link", "set", veth, "alias", mark]),
    ipStep(["link", "set", veth, "master", conf.bridge, "up"]),
    ...(conf.hairpinMode
      ? [ipStep(["link", "set", veth, "type", "bridge_slave", "hairpin", "on"])]
      : []),
    ipStep(
      ["addr", "add", `${formatAddress(address)}/${subnet.length}`, "dev", container.ifname],
      inside,
    ),
    ipStep(["link", "set", "lo", "up"], inside),
    ipStep(["link", "set", container.ifname, "up"], inside),
    ...(made.defaultRoute
      ? [ipStep(["route", "add", "default", "via", gw, "dev", container.ifname], inside)]
      : []),
  ];
  if (conf.ipMasq) {
    // Like the reference bridge plugin: everything that leaves the host's subnet. One rule for
    // the host, hg's own (teardown removes it); DEL leaves it for the other containers.
    const rule = masqueradeRule(subnet, subnet);
    if (!hgRules(natRules).some((r) => r.join(" ") === rule.join(" "))) {
      steps.push({ kind: "iptables", args: ["-t", "nat", "-A", "POSTROUTING", ...rule] });
    }
  }
  return { plan: steps, attachment: made };
}
