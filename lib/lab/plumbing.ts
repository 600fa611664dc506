/**
 * Plans the lab's "physical" network: the underlay namespace with its bridge, and each host's
 * namespace with an uplink veth on that bridge and its underlay address. Everything else on a
 * lab host is made by hg's own commands run inside it.
 *
 * @module
 */
import { formatAddress } from "../net/address.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import type { LabTopology } from "./topology.ts";

/** The underlay bridge's own MAC address (locally administered; each lab is its own segment). */
export const UNDERLAY_BRIDGE_MAC = "02:68:67:00:0c:02";

/**
 * The steps that create whatever part of the lab's underlay and host namespaces is missing.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * planPlumbing(labTopology("hglab", 2), new Set()); // netns add hglab-ul, ..., addr add 10.0.12.11/22 dev eth0, ...
 * ```
 */
export function planPlumbing(topology: LabTopology, existing: ReadonlySet<string>): Plan {
  const { underlayNetns: ul, underlayBridge: br } = topology;
  const steps: Step[] = [];
  if (!existing.has(ul)) {
    steps.push(
      ipStep(["netns", "add", ul]),
      // A bridge takes the lowest address of its ports unless given one: a host joining or
      // leaving would change the registry's MAC under every other host's ARP cache, and cut
      // them off from etcd for seconds.
      ipStep(["link", "add", br, "address", UNDERLAY_BRIDGE_MAC, "type", "bridge"], ul),
      // The underlay namespace is also the lab's registry host (etcd listens there).
      ipStep([
        "addr",
        "add",
        `${formatAddress(topology.registryAddress)}/${topology.underlay.length}`,
        "dev",
        br,
      ], ul),
      ipStep(["link", "set", br, "up"], ul),
      ipStep(["link", "set", "lo", "up"], ul),
    );
  }
  for (const host of topology.hosts) {
    if (existing.has(host.netns)) continue;
    steps.push(
      ipStep(["netns", "add", host.netns]),
      ipStep([
        "link",
        "add",
        host.underlayPort,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        host.netns,
      ], ul),
      ipStep(["link", "set", host.underlayPort, "master", br, "up"], ul),
      ipStep([
        "addr",
        "add",
        `${formatAddress(host.address)}/${topology.underlay.length}`,
        "dev",
        "eth0",
      ], host.netns),
      ipStep(["link", "set", "lo", "up"], host.netns),
      ipStep(["link", "set", "eth0", "up"], host.netns),
    );
  }
  return steps;
}
