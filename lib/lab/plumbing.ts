/**
 * Plans the lab's "physical" network: the underlay namespace with one bridge per segment (and,
 * with more than one, routing between them), and each host's namespace with an uplink veth on
 * its segment's bridge, its underlay address (and in a lab with IPv6 an IPv6 address beside it),
 * and a route to every other segment through the underlay namespace. Everything else on a lab
 * host is made by hg's own commands run inside it.
 *
 * @module
 */
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { ipStep, type Plan, type Step } from "../plan/step.ts";
import type { LabHost, LabSegment, LabTopology } from "./topology.ts";

/** The underlay bridge's own MAC address (locally administered; each lab is its own segment). */
export const UNDERLAY_BRIDGE_MAC = "02:68:67:00:0c:02";

/**
 * The MAC address of segment `k`'s bridge: fixed, like segment 0's ({@link UNDERLAY_BRIDGE_MAC}),
 * its fifth byte the third byte of the segment's prefix.
 *
 * @example
 * ```ts
 * segmentBridgeMac(0); // "02:68:67:00:0c:02"
 * segmentBridgeMac(1); // "02:68:67:00:14:02"
 * ```
 */
export function segmentBridgeMac(k: number): string {
  return `02:68:67:00:${(12 + 8 * k).toString(16).padStart(2, "0")}:02`;
}

/** An interface address with the segment's prefix length (of the address's family). */
const onSegment = (segment: LabSegment, address: LabHost["address"]) =>
  `${formatAddress(address)}/${
    (address.family === 4 ? segment.prefix : segment.ipv6Prefix).length
  }`;

/**
 * The sysctls that turn IPv6 duplicate address detection off in a namespace, for the links made
 * in it afterwards (`default`) and those there (`all`): while a link-local address is tentative,
 * forwarded packets wait 1-2 s for neighbour discovery (measured; `nodad` on the global
 * addresses is not enough). Run in a lab host before its links are made.
 */
export const NO_DAD_SYSCTLS: readonly string[] = [
  "net.ipv6.conf.all.accept_dad=0",
  "net.ipv6.conf.default.accept_dad=0",
];

/**
 * `plan` cut where the namespaces it creates exist and nothing is in them yet: first the
 * `ip netns add` steps, then the rest (so that a lab with IPv6 can turn DAD off in the new
 * namespaces in between).
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * splitNamespaceAdds(planPlumbing(labTopology("x", 1), new Set())).namespaces; // [netns add x-ul, netns add x-h1]
 * ```
 */
export function splitNamespaceAdds(plan: Plan): { namespaces: Plan; rest: Plan } {
  const isAdd = (step: Step) =>
    step.kind === "ip" && step.netns === undefined && step.args[0] === "netns" &&
    step.args[1] === "add";
  return { namespaces: plan.filter(isAdd), rest: plan.filter((step) => !isAdd(step)) };
}

/**
 * The routes (as `ip route ARGS`) a host on `segment` has to every other segment of the lab:
 * through the underlay namespace's address on its own. Plain routes (hg's own carry its
 * protocol number and are hg's to manage; these are the lab's "network").
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * segmentRoutes(labTopology("hglab", 2, { segments: 2 }), 0); // [["10.0.20.0/22", "via", "10.0.12.2", "dev", "eth0"]]
 * ```
 */
export function segmentRoutes(topology: LabTopology, segment: number): string[][] {
  const router = formatAddress(topology.segments[segment].router);
  return topology.segments.filter((s) => s.index !== segment).map((s) => [
    formatPrefix(s.prefix),
    "via",
    router,
    "dev",
    "eth0",
  ]);
}

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
  const { underlayNetns: ul } = topology;
  const steps: Step[] = [];
  if (!existing.has(ul)) {
    steps.push(ipStep(["netns", "add", ul]));
    for (const segment of topology.segments) {
      const br = segment.bridge;
      steps.push(
        // A bridge takes the lowest address of its ports unless given one: a host joining or
        // leaving would change the registry's MAC under every other host's ARP cache, and cut
        // them off from etcd for seconds.
        ipStep(
          ["link", "add", br, "address", segmentBridgeMac(segment.index), "type", "bridge"],
          ul,
        ),
        // The underlay namespace is also the lab's registry host (etcd listens on segment 0)
        // and the router between segments.
        ipStep(["addr", "add", onSegment(segment, segment.router), "dev", br], ul),
        ...(topology.family === "ipv4"
          ? []
          : [ipStep(["addr", "add", onSegment(segment, segment.ipv6Router), "dev", br], ul)]),
        ipStep(["link", "set", br, "up"], ul),
      );
    }
    steps.push(ipStep(["link", "set", "lo", "up"], ul));
  }
  for (const host of topology.hosts) {
    if (existing.has(host.netns)) continue;
    const segment = topology.segments[host.segment];
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
      ipStep(["link", "set", host.underlayPort, "master", segment.bridge, "up"], ul),
      ipStep(["addr", "add", onSegment(segment, host.address), "dev", "eth0"], host.netns),
      ...(host.ipv6Address === undefined ? [] : [
        ipStep(["addr", "add", onSegment(segment, host.ipv6Address), "dev", "eth0"], host.netns),
      ]),
      ipStep(["link", "set", "lo", "up"], host.netns),
      ipStep(["link", "set", "eth0", "up"], host.netns),
      ...segmentRoutes(topology, host.segment).map((route) =>
        ipStep(["route", "add", ...route], host.netns)
      ),
    );
  }
  return steps;
}

/**
 * The steps that move `from` (a host as it is) to `to` (the same host on another segment): its
 * underlay port onto the other segment's bridge, its address swapped for the one it has there,
 * and its routes to the other segments through that segment's router. Removing the old address
 * takes every route through the old segment with it (the kernel's doing: the lab's routes to the
 * other segments and hg's routes to peers there), so only the new ones are added.
 *
 * @example
 * ```ts
 * import { labTopology, withHosts } from "./topology.ts";
 * const lab = labTopology("hglab", 2, { segments: 2 });
 * planUplinkMove(lab, lab.hosts[0], withHosts(lab, [1], new Map([[1, 1]])).hosts[0]);
 * // link set ul-h1 master ul1, addr del 10.0.12.11/22, addr add 10.0.20.11/22, route replace 10.0.12.0/22 via 10.0.20.2
 * ```
 */
export function planUplinkMove(topology: LabTopology, from: LabHost, to: LabHost): Plan {
  const old = topology.segments[from.segment];
  const next = topology.segments[to.segment];
  return [
    ipStep(["link", "set", to.underlayPort, "master", next.bridge], topology.underlayNetns),
    ipStep(["addr", "del", onSegment(old, from.address), "dev", "eth0"], to.netns),
    ipStep(["addr", "add", onSegment(next, to.address), "dev", "eth0"], to.netns),
    ...segmentRoutes(topology, to.segment).map((route) =>
      ipStep(["route", "replace", ...route], to.netns)
    ),
  ];
}
