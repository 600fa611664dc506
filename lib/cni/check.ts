/**
 * CNI CHECK and STATUS: whether an attachment is still what ADD made (each of its address
 * families on its own), and whether this host can take containers at all. Pure: over the host's
 * and the container's observed state.
 *
 * @module
 */
import { pickAddress, takenAddresses } from "../containers/address.ts";
import { findBridge } from "../host/bridge.ts";
import type { HostState } from "../host/state.ts";
import type { NetState } from "../ip/read.ts";
import { addressEquals, formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { findAttachment } from "./attachment.ts";
import { CniError } from "./error.ts";
import type { CniContainer, HgNetConf } from "./request.ts";
import { defaultDestination, resultList } from "./result.ts";
import { CNI_ERROR } from "./spec.ts";

/**
 * What is wrong with the attachment of `container`, in words (empty: all is as ADD made it).
 * `inside` is the container's namespace as observed; `conf.prevResult`, when given, must name
 * the addresses hg recorded for the interface, and its default routes decide which ones the
 * container must have.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { NetState } from "../ip/read.ts";
 * import type { HgNetConf } from "./request.ts";
 * declare const host: HostState;
 * declare const inside: NetState;
 * declare const conf: HgNetConf;
 * checkAttachment(host, conf, { id: "0123abcd", netns: "/run/netns/x", ifname: "eth0" }, inside); // []
 * ```
 */
export function checkAttachment(
  host: HostState,
  conf: HgNetConf,
  container: CniContainer,
  inside: NetState,
): string[] {
  const found = findAttachment(host, {
    network: conf.name,
    containerId: container.id,
    ifname: container.ifname,
  });
  if (!found) {
    throw new CniError(
      CNI_ERROR.containerUnknown,
      `container ${container.id} has no ${container.ifname} on network ${conf.name} on this host`,
    );
  }
  const problems: string[] = [];
  const bridge = findBridge(host, conf.bridge);
  if (!bridge?.gateway) problems.push(`bridge ${conf.bridge} is missing or has no address`);
  if (found.master !== conf.bridge) {
    problems.push(`host veth ${found.hostVeth} is not a port of bridge ${conf.bridge}`);
  }
  if (!found.vethUp) problems.push(`host veth ${found.hostVeth} is down`);
  const link = inside.links.find((l) => l.ifname === container.ifname);
  const addresses = inside.addresses.find((a) => a.ifname === container.ifname)?.addresses ?? [];
  if (!link) problems.push(`the container has no interface ${container.ifname}`);
  else if (!link.up) problems.push(`${container.ifname} in the container is down`);
  const prev = conf.prevResult;
  const list = (key: string) => resultList(prev, key);
  // Each family the attachment was given (the mark says which), checked on its own.
  for (const mine of [found, ...(found.ipv6 ? [found.ipv6] : [])]) {
    const family = mine.address.family;
    const cidr = `${formatAddress(mine.address)}/${mine.prefixLength}`;
    const gateway = bridge?.gateways.find((g) => g.address.family === family)?.address;
    if (bridge?.gateway && !gateway) {
      problems.push(`bridge ${conf.bridge} has no IPv${family} address, the gateway of ${cidr}`);
    }
    if (link && !addresses.some((a) => addressEquals(a.address, mine.address))) {
      problems.push(`${container.ifname} in the container lacks its address ${cidr}`);
    }
    // The result decides what the container should have: prevResult when given (the spec),
    // else what hg recorded when it made the attachment.
    const wantsDefault = prev
      ? list("routes").some((r) => r.dst === defaultDestination(family))
      : found.defaultRoute === true;
    const hasDefault = inside.routes.some((r) =>
      r.dst.length === 0 && r.gateway !== undefined && gateway !== undefined &&
      addressEquals(r.gateway, gateway)
    );
    if (gateway && wantsDefault && !hasDefault) {
      problems.push(
        `the container has no IPv${family} default route via ${formatAddress(gateway)}`,
      );
    }
    if (prev !== undefined && !list("ips").some((ip) => ip.address === cidr)) {
      problems.push(`prevResult does not list ${cidr}, the address hg gave the container`);
    }
  }
  if (prev !== undefined) {
    const listed = list("interfaces").find((i) =>
      i.name === container.ifname && (i.sandbox === undefined || i.sandbox === container.netns)
    );
    const mac = typeof listed?.mac === "string" ? listed.mac.toLowerCase() : undefined;
    if (link && mac && link.mac?.toLowerCase() !== mac) {
      problems.push(
        `${container.ifname} in the container has MAC ${
          link.mac ?? "none"
        }, prevResult lists ${mac}`,
      );
    }
  }
  return problems;
}

/**
 * STATUS: throws the spec's "not available" (50) unless the bridge is there, up and addressed,
 * and its subnet has an address left for another container.
 *
 * @example
 * ```ts
 * import type { HostState } from "../host/state.ts";
 * import type { HgNetConf } from "./request.ts";
 * declare const host: HostState;
 * declare const conf: HgNetConf;
 * checkReady(host, conf); // throws CniError 50 without a bridge
 * ```
 */
export function checkReady(host: HostState, conf: HgNetConf): void {
  const bridge = findBridge(host, conf.bridge);
  if (!bridge?.gateway || !bridge.link.up) {
    throw new CniError(
      CNI_ERROR.notAvailable,
      `bridge ${conf.bridge} is ${
        !bridge ? "missing" : !bridge.gateway ? "without an address" : "down"
      }: run "hg setup" (or start "hg agent") first`,
    );
  }
  // ADD takes an address of each family the bridge serves: each subnet needs one left.
  for (const gateway of bridge.gateways) {
    try {
      pickAddress(gateway.prefix, takenAddresses(host, gateway.address));
    } catch {
      throw new CniError(
        CNI_ERROR.notAvailable,
        `subnet ${formatPrefix(gateway.prefix)} has no address left for another container`,
      );
    }
  }
}
