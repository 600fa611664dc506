/**
 * CNI CHECK and STATUS: whether an attachment is still what ADD made, and whether this host can
 * take containers at all. Pure: over the host's and the container's observed state.
 *
 * @module
 */
import { findBridge } from "../host/bridge.ts";
import type { HostState } from "../host/state.ts";
import type { NetState } from "../ip/read.ts";
import { addressEquals, formatAddress } from "../net/address.ts";
import { findAttachment } from "./attachment.ts";
import { CniError } from "./error.ts";
import type { CniContainer, HgNetConf } from "./request.ts";
import { CNI_ERROR } from "./spec.ts";

/**
 * What is wrong with the attachment of `container`, in words (empty: all is as ADD made it).
 * `inside` is the container's namespace as observed; `conf.prevResult`, when given, must name
 * the address hg recorded for the interface.
 *
 * @example
 * ```ts
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
  const address = `${formatAddress(found.address)}/${found.prefixLength}`;
  const bridge = findBridge(host, conf.bridge);
  if (!bridge?.gateway) problems.push(`bridge ${conf.bridge} is missing or has no IPv4 address`);
  if (found.master !== conf.bridge) {
    problems.push(`host veth ${found.hostVeth} is not a port of bridge ${conf.bridge}`);
  }
  if (!found.vethUp) problems.push(`host veth ${found.hostVeth} is down`);
  const link = inside.links.find((l) => l.ifname === container.ifname);
  const addresses = inside.addresses.find((a) => a.ifname === container.ifname)?.addresses ?? [];
  if (!link) {
    problems.push(`the container has no interface ${container.ifname}`);
  } else {
    if (!link.up) problems.push(`${container.ifname} in the container is down`);
    if (!addresses.some((a) => addressEquals(a.address, found.address))) {
      problems.push(`${container.ifname} in the container lacks its address ${address}`);
    }
  }
  const gateway = bridge?.gateway?.address;
  const hasDefault = inside.routes.some((r) =>
    r.dst.length === 0 && r.gateway !== undefined && gateway !== undefined &&
    addressEquals(r.gateway, gateway)
  );
  if (gateway && !hasDefault) {
    problems.push(`the container has no default route via ${formatAddress(gateway)}`);
  }
  const prevIps = conf.prevResult?.ips;
  if (conf.prevResult !== undefined) {
    const listed = Array.isArray(prevIps)
      ? prevIps.map((ip) => (ip as { address?: unknown }).address)
      : [];
    if (!listed.includes(address)) {
      problems.push(`prevResult does not list ${address}, the address hg gave the container`);
    }
  }
  return problems;
}

/**
 * STATUS: throws the spec's "not available" (50) unless the bridge is there, up and addressed.
 *
 * @example
 * ```ts
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
        !bridge ? "missing" : !bridge.gateway ? "without an IPv4 address" : "down"
      }: run "hg setup" (or start "hg agent") first`,
    );
  }
}
