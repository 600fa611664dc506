/**
 * Plans CNI ADD: the `hg netns add` plan for a namespace the runtime made. A veth pair whose
 * container end goes straight into CNI_NETNS, the host end marked with the attachment and put
 * on the bridge, and inside the container an address of each family the bridge serves (IPv6
 * without DAD), `lo` and the interface up and a default route per family via the bridge. The
 * addresses come from the one pool every hg container draws from. A container's first
 * attachment to hg carries its default routes; a second one (another CNI_IFNAME) gets its
 * addresses only, since the kernel keeps one default route per family and metric.
 *
 * @module
 */
import { pickAddress, takenAddresses } from "../containers/address.ts";
import { listContainers } from "../containers/list.ts";
import { attachmentVethName } from "../containers/name.ts";
import { EnvironmentError, InputError } from "../errors.ts";
import { findBridge } from "../host/bridge.ts";
import { attachmentAlias, MAX_ALIAS } from "../host/marks.ts";
import type { HostState } from "../host/state.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import { hgRules, masqueradeRule } from "../setup/masquerade.ts";
import { findAttachment } from "./attachment.ts";
import { CniError } from "./error.ts";
import type { CniContainer, HgNetConf } from "./request.ts";
import { type Attachment, type AttachmentAddress, macFor } from "./result.ts";
import type { InterfaceAddress } from "../ip/addr.ts";
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
 * import type { HostState } from "../host/state.ts";
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
      `no bridge ${conf.bridge} with an address on this host: run "hg setup" ` +
        `(or start "hg agent") first`,
    );
  }
  // The bridge's gateways say which families the container gets: the config asks nothing.
  const [primary, second] = bridge.gateways;
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
    const had = [existing, ...(existing.ipv6 ? [existing.ipv6] : [])]
      .map((a) => `${formatAddress(a.address)}/${a.prefixLength}`).join(", ");
    throw new CniError(
      CNI_ERROR.attachmentExists,
      `container ${container.id} already has ${container.ifname} on network ${conf.name} (${had}${
        existing.netns ? ` in ${existing.netns}` : ""
      }): DEL it first`,
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
  const requested = container.requestedIp;
  if (requested && !bridge.gateways.some((g) => g.address.family === requested.family)) {
    throw new InputError(
      `CNI_ARGS IP=${formatAddress(requested)} is IPv${requested.family}: bridge ${conf.bridge} ` +
        `serves ${bridge.gateways.map((g) => formatPrefix(g.prefix)).join(" and ")}`,
    );
  }
  const requestedSubnet = bridge.gateways.find((g) => g.address.family === requested?.family);
  if (
    requestedSubnet && container.requestedPrefixLength !== undefined &&
    container.requestedPrefixLength !== requestedSubnet.prefix.length
  ) {
    throw new InputError(
      `CNI_ARGS IP=${formatAddress(requested!)}/${container.requestedPrefixLength}: ` +
        `this host's subnet ${
          formatPrefix(requestedSubnet.prefix)
        } is a /${requestedSubnet.prefix.length}`,
    );
  }
  // Each family from its own subnet, never an address any marked veth holds (of either family).
  const pick = (g: InterfaceAddress): AttachmentAddress => ({
    address: pickAddress(
      g.prefix,
      takenAddresses(host, g.address),
      requested?.family === g.address.family ? requested : undefined,
    ),
    prefixLength: g.prefix.length,
    gateway: g.address,
  });
  const mine = pick(primary);
  const ipv6 = second && pick(second);
  const made: Attachment = {
    hostVeth: veth,
    ifname: container.ifname,
    mac: macFor(mine.address),
    mtu,
    netns: container.netns,
    ...mine,
    ...(ipv6 ? { ipv6 } : {}),
    defaultRoute: others.length === 0,
  };
  const mark = attachmentAlias({
    ...key,
    address: mine.address,
    prefixLength: mine.prefixLength,
    ...(ipv6 ? { ipv6: { address: ipv6.address, prefixLength: ipv6.prefixLength } } : {}),
    netns: container.netns,
    name: container.name,
    defaultRoute: made.defaultRoute,
  });
  if (mark.length > MAX_ALIAS) {
    // Only ids far longer than runtimes make (64 hex) with long network names get here.
    throw new CniError(
      CNI_ERROR.invalidEnvironment,
      `CNI_CONTAINERID (${container.id.length} characters) with network name ${conf.name} leaves ` +
        `no room for the addresses in the veth's ${MAX_ALIAS}-byte mark: use a shorter id or name`,
    );
  }
  const inside = container.netns;
  const addresses = [mine, ...(ipv6 ? [ipv6] : [])];
  const steps: Step[] = [
    ipStep([
      "link",
      "add",
      veth,
      "address",
      macFor(mine.address, "host"),
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
    ...addresses.map((a) => addressStep(inside, container.ifname, a.address, a.prefixLength)),
    ipStep(["link", "set", "lo", "up"], inside),
    ipStep(["link", "set", container.ifname, "up"], inside),
    ...(made.defaultRoute
      ? addresses.map((a) =>
        ipStep(
          ["route", "add", "default", "via", formatAddress(a.gateway), "dev", container.ifname],
          inside,
        )
      )
      : []),
  ];
  if (conf.ipMasq) {
    // Like the reference bridge plugin: everything that leaves the host's subnet. One rule for
    // the host, hg's own (teardown removes it); DEL leaves it for the other containers. IPv4
    // only, as hg setup --masquerade: IPv6 addresses are meant to be routed as they are.
    const v4 = addresses.find((a) => a.address.family === 4);
    if (!v4) {
      throw new InputError(
        `"ipMasq" covers IPv4 only: bridge ${conf.bridge} serves ${
          formatPrefix(primary.prefix)
        } alone, so there is nothing to masquerade`,
      );
    }
    const subnet = primary.prefix;
    const rule = masqueradeRule(subnet, subnet);
    if (!hgRules(natRules).some((r) => r.join(" ") === rule.join(" "))) {
      steps.push({ kind: "iptables", args: ["-t", "nat", "-A", "POSTROUTING", ...rule] });
    }
  }
  return { plan: steps, attachment: made };
}

/**
 * An address on the container's interface; an IPv6 one without DAD (hg picked it from the
 * host's pool: a tentative address would hold the first packets back for a second or two).
 */
function addressStep(
  netns: string,
  ifname: string,
  address: IpAddress,
  prefixLength: number,
): Step {
  const noDad = address.family === 6 ? ["nodad"] : [];
  return ipStep(
    ["addr", "add", `${formatAddress(address)}/${prefixLength}`, "dev", ifname, ...noDad],
    netns,
  );
}
