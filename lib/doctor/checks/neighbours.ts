/**
 * The link-layer side of the containers and the peer gateways: two hg containers with one
 * address, the bridge's neighbour entry for a container that points at a device other than
 * the container's eth0 (another device answers for its address), and static (PERMANENT)
 * entries that name a MAC address the address does not have.
 *
 * @module
 */
import type { Neighbour } from "../../ip/neigh.ts";
import { addressEquals, formatAddress, type IpAddress } from "../../net/address.ts";
import { prefixContains } from "../../net/prefix.ts";
import { parseContainerAlias } from "../../host/marks.ts";
import type { Container, DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { vxlanFacts } from "../vxlan_facts.ts";
import { neighboursAt } from "../neighbour_index.ts";

const neighLine = (n: Neighbour) =>
  `ip neigh: ${formatAddress(n.dst)} dev ${n.dev}${n.lladdr ? ` lladdr ${n.lladdr}` : ""} ${
    n.state.join(",")
  }`;

const sameMac = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** The MAC address of the interface that holds the container's address, in its namespace. */
export function containerMac(c: Container): string | undefined {
  const state = c.observed?.state;
  if (!state) return undefined;
  const link = state.addresses.find((l) =>
    l.addresses.some((a) => addressEquals(a.address, c.address))
  );
  return link && state.links.find((l) => l.ifname === link.ifname)?.mac;
}

/** Ports of the bridge that are not hg containers' veths. */
function foreignPorts(ctx: DoctorContext): string[] {
  return ctx.obs.host.links.filter((l) =>
    l.master === ctx.obs.bridge && parseContainerAlias(l.alias) === undefined
  ).map((l) => l.ifname);
}

/** Two of hg's containers with one address (with `only`, one of those addresses). */
function duplicateContainers(ctx: DoctorContext, only?: readonly IpAddress[]): Finding[] {
  const findings: Finding[] = [];
  const seen = new Map<bigint, Container>();
  for (const c of ctx.containers) {
    const first = seen.get(c.address.value);
    if (!first) {
      seen.set(c.address.value, c);
      continue;
    }
    if (only !== undefined && !only.some((a) => addressEquals(a, c.address))) continue;
    const addr = formatAddress(c.address);
    findings.push({
      id: "address-duplicate",
      severity: "error",
      stage: "container",
      summary: `containers ${first.name} and ${c.name} both have ${addr}: packets for it reach ` +
        "whichever answered ARP last",
      evidence: [
        `${first.hostVeth}: hg mark ${first.name} ${addr}/${first.prefixLength}`,
        `${c.hostVeth}: hg mark ${c.name} ${addr}/${c.prefixLength}`,
      ],
      fix: [`hg netns del ${c.name}`, `hg netns add ${c.name}`],
    });
  }
  return findings;
}

/** The bridge's entry for a container's address names a MAC address that is not its eth0's. */
function wrongContainerEntries(ctx: DoctorContext, containers: readonly Container[]): Finding[] {
  const findings: Finding[] = [];
  const bridge = ctx.obs.bridge;
  for (const c of containers) {
    const mac = containerMac(c);
    if (!mac) continue;
    const entry = neighboursAt(ctx.obs.neighbours, c.address).find((n) =>
      addressEquals(n.dst, c.address) && n.dev === bridge && n.lladdr !== undefined
    );
    if (!entry || sameMac(entry.lladdr, mac)) continue;
    const addr = formatAddress(c.address);
    const evidence = [neighLine(entry), `${c.name}: the interface with ${addr} has ${mac}`];
    if (entry.state.includes("PERMANENT") || entry.state.includes("NOARP")) {
      findings.push({
        id: "neighbour-wrong",
        severity: "error",
        stage: "bridge",
        summary: `a static neighbour entry sends this host's packets for ${c.name} (${addr}) to ` +
          `${entry.lladdr}, which is not its MAC address ${mac}`,
        explanation: "A PERMANENT entry is never checked by ARP: the packets go to a MAC address " +
          "nobody on the bridge has, until the entry is removed.",
        evidence,
        fix: [`ip neigh del ${addr} dev ${bridge}`],
      });
      continue;
    }
    const others = foreignPorts(ctx);
    const owner = ctx.containers.find((x) => x !== c && sameMac(containerMac(x), entry.lladdr));
    // Another device has that MAC address: another container, or something on a port of the
    // bridge that is not hg's. Otherwise no device has it: an entry left from a container made
    // again with the same address, which the kernel corrects when its probes fail.
    const another = owner !== undefined || others.length > 0;
    findings.push({
      id: "address-duplicate",
      severity: another ? "error" : "warning",
      stage: "bridge",
      summary: another
        ? `${
          owner ? `container ${owner.name}` : `another device on ${bridge}`
        } answers ARP for ${c.name}'s address ${addr} (${entry.lladdr}, not its ${mac}): ` +
          `this host sends ${c.name}'s packets there`
        : `this host's entry for ${c.name}'s address ${addr} names ${entry.lladdr}, which no ` +
          `container has (its own is ${mac})`,
      explanation: another
        ? "Two devices with one address on a segment: packets for it go to whichever answered last."
        : "An entry left from a container made again with the same address; the kernel asks again once " +
          "its probes of the old address fail, and packets are lost until then.",
      evidence: [
        ...evidence,
        ...(owner ? [`${owner.name}: the interface with its address has ${entry.lladdr}`] : []),
        ...(others.length > 0
          ? [`ports of ${bridge} that are not hg containers: ${others.join(", ")}`]
          : []),
      ],
      fix: another
        ? [
          `# find the device with ${entry.lladdr}: bridge fdb show br ${bridge} | grep -i ${entry.lladdr}`,
          `# and give it another address (or take it off ${bridge})`,
        ]
        : [`# if it lasts, ask again: ip neigh show ${addr} dev ${bridge}`],
      // One port that is not hg's: when the probe shows the packets going there, take it off.
      ...(!owner && others.length === 1
        ? {
          proven: [`ip link set ${others[0]} nomaster`, `ip neigh flush to ${addr} dev ${bridge}`],
        }
        : {}),
    });
  }
  return findings;
}

/** A static entry for a peer gateway that names one of this host's own MAC addresses. */
function wrongGatewayEntries(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const own = new Set(
    ctx.obs.host.links.flatMap((l) =>
      l.mac && l.mac !== "00:00:00:00:00:00" ? [l.mac.toLowerCase()] : []
    ),
  );
  // The entries of hg's VXLAN device are checked with it (checks/vxlan.ts).
  const tunnel = vxlanFacts(ctx).device?.ifname;
  // Only a static entry (PERMANENT or NOARP, with an address) can be wrong this way: most hosts
  // have none, and then no route is looked at.
  const statics = new Set<bigint>();
  for (const n of ctx.obs.neighbours) {
    if ((n.state.includes("PERMANENT") || n.state.includes("NOARP")) && n.lladdr !== undefined) {
      statics.add(n.dst.value);
    }
  }
  const findings: Finding[] = [];
  if (statics.size === 0) return findings;
  const done = new Set<string>();
  for (const r of ctx.hgRoutes) {
    if (!r.gateway || !statics.has(r.gateway.value) || r.dev === tunnel) continue;
    if (only !== undefined && !prefixContains(r.dst, only)) continue;
    const entry = neighboursAt(ctx.obs.neighbours, r.gateway!).find((n) =>
      addressEquals(n.dst, r.gateway!) && n.dev === r.dev &&
      (n.state.includes("PERMANENT") || n.state.includes("NOARP")) && n.lladdr !== undefined
    );
    if (!entry || done.has(neighLine(entry))) continue;
    const mac = entry.lladdr!.toLowerCase();
    const bad = own.has(mac) || mac === "00:00:00:00:00:00" || mac === "ff:ff:ff:ff:ff:ff";
    if (!bad) continue;
    done.add(neighLine(entry));
    const gw = formatAddress(r.gateway!);
    findings.push({
      id: "neighbour-wrong",
      severity: "error",
      stage: "gateway",
      summary: `a static neighbour entry sends packets for the gateway ${gw} to ${entry.lladdr}, ` +
        `${own.has(mac) ? "a MAC address of this host itself" : "which no host has"}`,
      explanation:
        "A PERMANENT entry is never checked by ARP: the packets never reach the host at " +
        `${gw} until the entry is removed.`,
      evidence: [neighLine(entry)],
      fix: [`ip neigh del ${gw} dev ${entry.dev}`],
    });
  }
  return findings;
}

/**
 * Duplicate addresses and wrong neighbour entries, for every container (or, with a destination,
 * the sending container, whose replies come back through the bridge's entry for it) and the
 * gateways of hg's routes.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkNeighbours(ctx).map((f) => f.id); // ["address-duplicate"]
 * ```
 */
export function checkNeighbours(
  ctx: DoctorContext,
  only?: IpAddress,
  from?: Container,
): Finding[] {
  const containers = only === undefined
    ? ctx.containers
    : ctx.containers.filter((c) => c === from || addressEquals(c.address, only));
  return [
    ...duplicateContainers(
      ctx,
      only === undefined ? undefined : [only, ...(from ? [from.address] : [])],
    ),
    ...wrongContainerEntries(ctx, containers),
    ...wrongGatewayEntries(ctx, only),
  ];
}
