/**
 * Checks of the VXLAN path (flannel's layout, see lib/vxlan): hg's VXLAN device (there, up, and
 * made as the registry's backend and this host's lease say), the permanent neighbour and fdb
 * entry of each peer reached through it, the UDP that carries the encapsulated packets (this
 * host's OUTPUT on the way out, its INPUT on the way in), the MTU that fits through the tunnel,
 * and routes whose way (host-gw or VXLAN) no longer fits where the peer is. A host-gw network,
 * or a host with no peer over VXLAN, gets none of these.
 *
 * @module
 */
import { containerIpCommand } from "../../containers/where.ts";
import type { Link } from "../../ip/link.ts";
import { formatIpCommand } from "../../ip/op.ts";
import { formatRoute, type Route } from "../../ip/route.ts";
import { addressEquals, formatAddress, type IpAddress } from "../../net/address.ts";
import { formatPrefix, parsePrefix, prefixContains } from "../../net/prefix.ts";
import { onLinkInterface } from "../../peers/onlink.ts";
import type { SyncedPeer } from "../../peers/sync.ts";
import { fdbArgs, neighbourArgs } from "../../vxlan/peer.ts";
import { vxlanMtu } from "../../vxlan/vtep.ts";
import { type DoctorContext, selfAddress } from "../context.ts";
import type { Finding, FindingId } from "../finding.ts";
import { lookupRoute } from "../lookup.ts";
import { verdictDoubts } from "../packet.ts";
import { resyncCommand, type VxlanFacts, vxlanFacts, vxlanLease } from "../vxlan_facts.ts";
import { capped, MAX_EVIDENCE } from "./evidence.ts";
import { pathVerdict } from "./filters.ts";
import { neighboursAt } from "../neighbour_index.ts";
import { prefixKey } from "../route_index.ts";

/** Whether `only` (the destination doctor follows, if any) is in `subnet`. */
const concerns = (subnet: string, only?: IpAddress) =>
  only === undefined || prefixContains(parsePrefix(subnet), only);

/** The registry's peers that hg routes over VXLAN now (with `only`, the one that holds it). */
function plannedTunnels(facts: VxlanFacts, only?: IpAddress): SyncedPeer[] {
  return [...facts.planned.values()].filter((p) => p.mode === "vxlan" && concerns(p.subnet, only));
}

/** A peer's name for people: its node and address, or its subnet. */
function ownerOf(ctx: DoctorContext, subnet: string): string {
  return vxlanLease(ctx, subnet)?.owner ?? `the host with ${subnet}`;
}

const describeDevice = (d: Link) =>
  `${d.ifname}: vxlan id ${d.vxlan?.vni} dstport ${d.vxlan?.port} local ${
    d.vxlan?.local ? formatAddress(d.vxlan.local) : "none"
  } dev ${d.vxlan?.dev ?? "none"} address ${d.mac ?? "none"} mtu ${d.mtu}${d.up ? "" : " (down)"}`;

/**
 * hg's VXLAN device is missing, down, or made otherwise than the registry's backend and this
 * host's lease say (VNI, port, local address, uplink, MAC). With `only`, when the destination
 * goes (or should go) over VXLAN.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkVxlanDevice(ctx)[0]?.id; // "vxlan-device-down"
 * ```
 */
export function checkVxlanDevice(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const facts = vxlanFacts(ctx);
  const { device, expected, backend } = facts;
  const tunnelled = plannedTunnels(facts, only);
  const routed = facts.routes.filter((r) => concerns(formatPrefix(r.dst), only));
  if (only !== undefined && tunnelled.length === 0 && routed.length === 0) return [];
  const sync = resyncCommand(ctx);
  // Without the registry doctor cannot tell whether a peer needs the device: hg's own device
  // down is an error all the same (hg makes it up).
  const needed = !ctx.registry || facts.tunnels;
  const peers = capped(
    tunnelled.map((p) => `registry: ${p.subnet} -> ${ownerOf(ctx, p.subnet)}: ${p.reason}`),
  );
  const backendLine = backend
    ? `registry: backend vxlan (VNI ${backend.vni}, port ${backend.port}${
      backend.directRouting ? ", DirectRouting" : ""
    })`
    : undefined;
  if (!device) {
    if (!expected) return [];
    const name = expected.device;
    const other = ctx.obs.host.links.find((l) => l.ifname === name);
    return [{
      id: "vxlan-device-missing",
      severity: needed ? "error" : "warning",
      stage: "route",
      summary: `hg's VXLAN device ${name} is missing: ${
        tunnelled.length > 0
          ? `${
            tunnelled.length === 1
              ? `${ownerOf(ctx, tunnelled[0].subnet)} is`
              : `${tunnelled.length} peers are`
          } off this host's segment and cannot be reached, nor reach this host's containers`
          : "no peer needs it now, but a peer off this host's segment will"
      }`,
      explanation:
        "On a VXLAN network the hosts on other segments are reached through flannel.VNI: it wraps the " +
        "containers' packets in UDP to the peer host's address, and unwraps theirs.",
      evidence: [
        ...(backendLine ? [backendLine] : []),
        `no VXLAN device with hg's mark (alias hg:vxlan)${
          other ? `; ${name} exists and hg did not make it (${other.kind ?? "a plain device"})` : ""
        }`,
        ...peers,
      ],
      fix: [
        ...(other
          ? [
            `# ${name} is not hg's: if nothing else uses it, remove it (ip link del ${name}), then:`,
          ]
          : []),
        sync!,
      ],
    }];
  }
  const name = device.ifname;
  if (!device.up) {
    return [{
      id: "vxlan-device-down",
      severity: needed ? "error" : "warning",
      stage: "route",
      summary: `hg's VXLAN device ${name} is down: ${
        needed
          ? "the peers off this host's segment are not reached, and the kernel removed the routes and neighbour entries on it"
          : "no peer needs it now"
      }`,
      explanation:
        "Taking a link down removes the routes through it and its neighbour entries; they do not come back " +
        "with the link.",
      evidence: [`${name}: state ${device.operstate}, flags without UP`, ...peers],
      fix: [
        `ip link set ${name} up`,
        sync ??
          "# then route the VXLAN peers again: hg peer add SUBNET --via ADDRESS --vtep-mac MAC, for each",
      ],
    }];
  }
  if (!expected) return [];
  const v = device.vxlan!;
  const differences: string[] = [];
  if (v.vni !== expected.vni) {
    differences.push(`VNI ${v.vni}, not ${expected.vni} (the registry's)`);
  }
  if (v.port !== expected.port) {
    differences.push(`UDP port ${v.port}, not ${expected.port} (the registry's)`);
  }
  if (!v.local || !addressEquals(v.local, expected.local)) {
    differences.push(
      `local address ${v.local ? formatAddress(v.local) : "none"}, not ${
        formatAddress(expected.local)
      } (this host's lease's)`,
    );
  }
  if (v.dev !== expected.uplink) {
    differences.push(
      `on ${v.dev ?? "no device"}, not on ${expected.uplink} (which holds ${
        formatAddress(expected.local)
      })`,
    );
  }
  // The other hosts address this host's frames to its lease's VTEP MAC (hg writes its own
  // MAC there; a lease with none is answered by hg's).
  const mac = device.mac?.toLowerCase();
  const leaseMac = ctx.ownLease?.attrs.vtep?.mac.toLowerCase();
  const wantMac = leaseMac ?? expected.mac;
  if (mac !== wantMac) {
    differences.push(
      `MAC ${mac ?? "none"}, not ${wantMac} (${
        leaseMac === undefined
          ? "hg's"
          : leaseMac === expected.mac
          ? "hg's, and this host's lease's VtepMAC"
          : "this host's lease's VtepMAC"
      })`,
    );
  }
  if (differences.length === 0) return [];
  // The lease alone names a MAC hg does not give its device: leasing again writes hg's into it
  // (and the others follow it).
  const leaseOnly = differences.length === 1 && mac !== wantMac && mac === expected.mac;
  return [{
    id: "vxlan-device-mismatch",
    severity: needed ? "error" : "warning",
    stage: "route",
    summary: `hg's VXLAN device ${name} is not what ${
      leaseOnly ? "this host's lease" : "the registry and this host's lease"
    } say: ${differences[0]}${
      differences.length > 1 ? ` (and ${differences.length - 1} more)` : ""
    }`,
    explanation:
      "The other hosts send to this host's lease's address and VTEP MAC, on the network's VNI and UDP port; " +
      "a device made otherwise neither takes their packets in nor sends them what they take.",
    evidence: [describeDevice(device), ...(backendLine ? [backendLine] : []), ...differences],
    fix: leaseOnly
      ? [
        `hg setup --store ${ctx.registry!.url}${ctx.obs.node ? ` --node ${ctx.obs.node}` : ""}`,
        `# then on the other hosts: hg peer sync --store ${
          ctx.registry!.url
        } (their agents do it themselves)`,
      ]
      : [sync!],
  }];
}

/** What one tunnelled route's entries are, against what they should be. */
interface EntryState {
  readonly route: Route;
  readonly subnet: string;
  /** The route's next hop: the peer subnet's network address. */
  readonly gateway: IpAddress;
  /** The registry's VTEP MAC and address of the peer, when known. */
  readonly want?: {
    readonly mac: string;
    readonly address: IpAddress;
    /** `h3 at 10.0.20.13` */
    readonly owner: string;
    /** `h3`, or `the peer` for a lease without a node name */
    readonly name: string;
  };
  /** The permanent neighbour entry's MAC, if any. */
  readonly neighbourMac?: string;
  /** A neighbour entry that is not permanent (the kernel's own try), for the evidence. */
  readonly other?: string;
  /** The fdb entries for the MAC the packets are sent to. */
  readonly fdb: readonly { readonly mac: string; readonly dst?: IpAddress }[];
}

/** This host's own MAC addresses and its own IPv4 addresses. */
function ownOf(ctx: DoctorContext) {
  const host = ctx.obs.host;
  return {
    macs: new Set(host.links.flatMap((l) => l.mac ? [l.mac.toLowerCase()] : [])),
    addresses: host.addresses.flatMap((l) => l.addresses.map((a) => a.address)),
  };
}

function entryStates(ctx: DoctorContext, facts: VxlanFacts, only?: IpAddress): EntryState[] {
  const dev = facts.device!.ifname;
  const states: EntryState[] = [];
  for (const route of facts.routes) {
    const subnet = formatPrefix(route.dst);
    if (!concerns(subnet, only)) continue;
    // A peer hg would route host-gw now is peer-mode-stale's (it says whether the tunnel works).
    if (facts.planned.get(subnet)?.mode === "host-gw") continue;
    const gateway = route.gateway ?? route.dst.address;
    const lease = vxlanLease(ctx, subnet);
    const want = lease
      ? {
        mac: lease.mac,
        address: lease.lease.attrs.publicIp,
        owner: lease.owner,
        name: lease.lease.attrs.node ?? "the peer",
      }
      : undefined;
    const neighbour = neighboursAt(ctx.obs.host.neighbours, gateway).find((n) =>
      n.dev === dev && addressEquals(n.dst, gateway) && n.lladdr !== undefined
    );
    const other = neighboursAt(ctx.obs.neighbours, gateway).find((n) =>
      n.dev === dev && addressEquals(n.dst, gateway) && !n.state.includes("PERMANENT")
    );
    const mac = want?.mac ?? neighbour?.lladdr?.toLowerCase();
    states.push({
      route,
      subnet,
      gateway,
      ...(want ? { want } : {}),
      ...(neighbour ? { neighbourMac: neighbour.lladdr!.toLowerCase() } : {}),
      ...(other
        ? { other: `${other.state.join(",")}${other.lladdr ? ` ${other.lladdr}` : ""}` }
        : {}),
      fdb: mac === undefined
        ? []
        : ctx.obs.host.fdb.filter((f) => f.dev === dev && f.mac.toLowerCase() === mac),
    });
  }
  return states;
}

/** Whether a MAC address can be no peer's VTEP: this host's own, all zeros, or multicast. */
function impossibleMac(ctx: DoctorContext, mac: string): boolean {
  return ownOf(ctx).macs.has(mac) || mac === "00:00:00:00:00:00" ||
    (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

// The fixes are the commands hg's own sync would run (lib/vxlan/peer.ts).
const neighbourCommand = (gateway: IpAddress, mac: string, dev: string) =>
  formatIpCommand({ args: neighbourArgs(formatAddress(gateway), mac, dev) });
const fdbCommand = (mac: string, dev: string, address: IpAddress | string) =>
  formatIpCommand({
    args: fdbArgs(mac, dev, typeof address === "string" ? address : formatAddress(address)),
  }, "bridge");

/** One finding for the peers with the same fault, with one fix line each (or a sync). */
function grouped(
  ctx: DoctorContext,
  id: FindingId,
  items: readonly { readonly summary: string; readonly evidence: string[]; readonly fix: string }[],
  many: (n: number) => string,
  explanation: string,
): Finding[] {
  if (items.length === 0) return [];
  const sync = resyncCommand(ctx);
  const fixes = items.map((i) => i.fix);
  return [{
    id,
    severity: "error",
    stage: "gateway",
    summary: items.length === 1 ? items[0].summary : many(items.length),
    explanation,
    evidence: capped(items.flatMap((i) => i.evidence)),
    fix: items.length > MAX_EVIDENCE && sync ? [sync] : [...new Set(fixes)],
  }];
}

/**
 * The permanent neighbour entry (the peer subnet's network address → the peer's VTEP MAC) and
 * the fdb entry (that MAC → the peer host's address) of every peer hg's routes reach through
 * its VXLAN device: missing, or (with the registry) naming another MAC or address than the
 * peer's lease. Without the registry only what cannot be right is wrong (this host's own MAC
 * or address, a multicast MAC).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkVxlanEntries(ctx).map((f) => f.id); // ["vxlan-fdb-missing"]
 * ```
 */
export function checkVxlanEntries(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const facts = vxlanFacts(ctx);
  const device = facts.device;
  if (!device?.up) return [];
  const dev = device.ifname;
  const own = ownOf(ctx);
  const missingNeighbour = [];
  const wrongNeighbour = [];
  const missingFdb = [];
  const wrongFdb = [];
  for (const s of entryStates(ctx, facts, only)) {
    const gw = formatAddress(s.gateway);
    const peer = s.want ? `${s.want.owner}` : `the host with ${s.subnet}`;
    const registry = s.want
      ? [`registry: ${s.subnet} -> ${s.want.owner}, VtepMAC ${s.want.mac}`]
      : [];
    const routeLine = formatRoute(s.route);
    const holder = s.want ? formatAddress(s.want.address) : "PEER-ADDRESS";
    if (s.neighbourMac === undefined) {
      missingNeighbour.push({
        summary: `no neighbour entry for ${gw} on ${dev}: packets to ${s.subnet} (${peer}) ` +
          "cannot be encapsulated",
        evidence: [
          routeLine,
          `no PERMANENT entry for ${gw} dev ${dev}${
            s.other ? ` (the kernel's own: ${s.other})` : ""
          }`,
          ...registry,
        ],
        fix: s.want
          ? neighbourCommand(s.gateway, s.want.mac, dev)
          : `# give it the peer's VTEP MAC: ${neighbourCommand(s.gateway, "PEER-VTEP-MAC", dev)}`,
      });
    } else if (
      s.want ? s.neighbourMac !== s.want.mac : impossibleMac(ctx, s.neighbourMac)
    ) {
      wrongNeighbour.push({
        summary: `the neighbour entry for ${gw} on ${dev} names ${s.neighbourMac}, ${
          s.want
            ? `but the VTEP MAC of ${s.want.owner} is ${s.want.mac}: its VXLAN device drops ` +
              "frames for another MAC"
            : "which no peer's VTEP can have"
        }`,
        evidence: [
          routeLine,
          `ip neigh: ${gw} dev ${dev} lladdr ${s.neighbourMac} PERMANENT`,
          ...registry,
        ],
        fix: s.want
          ? neighbourCommand(s.gateway, s.want.mac, dev)
          : `# give it the peer's VTEP MAC: ${neighbourCommand(s.gateway, "PEER-VTEP-MAC", dev)}`,
      });
    }
    const mac = s.want?.mac ?? s.neighbourMac;
    if (mac === undefined) continue;
    const fdbLines = s.fdb.map((f) =>
      `bridge fdb: ${f.mac} dev ${dev}${f.dst ? ` dst ${formatAddress(f.dst)}` : ""}`
    );
    if (s.fdb.length === 0) {
      missingFdb.push({
        summary: `no fdb entry for ${mac} on ${dev}: packets to ${s.subnet} (${peer}) have no ` +
          "host to go to",
        evidence: [routeLine, `no fdb entry for ${mac} dev ${dev}`, ...registry],
        fix: s.want
          ? fdbCommand(mac, dev, s.want.address)
          : `# send it to the peer host's address: ${fdbCommand(mac, dev, holder)}`,
      });
      continue;
    }
    const right = s.want
      ? s.fdb.some((f) => f.dst !== undefined && addressEquals(f.dst, s.want!.address))
      : s.fdb.some((f) =>
        f.dst !== undefined && !own.addresses.some((a) => addressEquals(a, f.dst!))
      );
    if (!right) {
      const dsts = s.fdb.map((f) => f.dst ? formatAddress(f.dst) : "nowhere").join(", ");
      wrongFdb.push({
        summary: `the fdb entry for ${mac} on ${dev} sends to ${dsts}, ${
          s.want ? `but ${s.want.name} is at ${formatAddress(s.want.address)}` : "this host itself"
        }: packets to ${s.subnet} go to the wrong host`,
        evidence: [routeLine, ...fdbLines, ...registry],
        fix: s.want
          ? fdbCommand(mac, dev, s.want.address)
          : `# send it to the peer host's address: ${fdbCommand(mac, dev, holder)}`,
      });
    }
  }
  const entries = (what: string) =>
    `hg's VXLAN routes go via the peer subnet's network address, ${what}; ${dev} learns nothing by itself ` +
    "(nolearning), so without the right entry the packets are lost.";
  return [
    ...grouped(
      ctx,
      "vxlan-neighbour-missing",
      missingNeighbour,
      (n) =>
        `no neighbour entries on ${dev} for ${n} peers' subnets: their packets cannot be encapsulated`,
      entries("and a permanent neighbour entry gives that address the peer's VTEP MAC"),
    ),
    ...grouped(
      ctx,
      "vxlan-neighbour-wrong",
      wrongNeighbour,
      (n) =>
        `the neighbour entries on ${dev} of ${n} peers name MAC addresses their VTEPs do not have`,
      entries("and a permanent neighbour entry gives that address the peer's VTEP MAC"),
    ),
    ...grouped(
      ctx,
      "vxlan-fdb-missing",
      missingFdb,
      (n) =>
        `no fdb entries on ${dev} for ${n} peers' VTEP MACs: their packets have no host to go to`,
      entries("whose VTEP MAC an fdb entry sends to the peer host's address"),
    ),
    ...grouped(
      ctx,
      "vxlan-fdb-wrong",
      wrongFdb,
      (n) => `the fdb entries on ${dev} of ${n} peers send to other addresses than their hosts'`,
      entries("whose VTEP MAC an fdb entry sends to the peer host's address"),
    ),
  ];
}

/** The peers VXLAN's UDP goes to and comes from, with the ends on this host. */
function tunnelEnds(ctx: DoctorContext, facts: VxlanFacts, only?: IpAddress) {
  const v = facts.device?.vxlan;
  const port = v?.port ?? facts.backend?.port;
  const local = v?.local ?? facts.expected?.local ?? selfAddress(ctx);
  const uplink = v?.dev ?? facts.expected?.uplink ?? ctx.uplink;
  if (port === undefined || !local || !uplink) return undefined;
  const peers = new Map<string, { address: IpAddress; owner: string; dev: string }>();
  const add = (address: IpAddress | undefined, owner: string) => {
    if (!address || peers.has(formatAddress(address))) return;
    // The interface the encapsulated packets take to the peer (and come back by): the route's.
    const found = lookupRoute(ctx.obs.host, address);
    const dev = found.kind === "route" && found.route.dev ? found.route.dev : uplink;
    peers.set(formatAddress(address), { address, owner, dev });
  };
  for (const p of plannedTunnels(facts, only)) {
    const lease = vxlanLease(ctx, p.subnet);
    add(lease?.lease.attrs.publicIp, lease?.owner ?? p.via);
  }
  if (facts.device) {
    for (const s of entryStates(ctx, facts, only)) {
      for (const f of s.fdb) add(f.dst, s.want?.owner ?? `the host with ${s.subnet}`);
    }
  }
  return { port, local, uplink, peers: [...peers.values()] };
}

/**
 * The firewall drops the UDP that carries VXLAN: on its way out to a peer (OUTPUT, and the
 * output and postrouting hooks) or on its way in from one (prerouting and INPUT). The sender
 * sees its own OUTPUT, the receiver its INPUT: doctor on each host names its own side.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkVxlanFirewall(ctx)[0]?.id; // "vxlan-udp-dropped"
 * ```
 */
export function checkVxlanFirewall(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const facts = vxlanFacts(ctx);
  const ends = tunnelEnds(ctx, facts, only);
  if (!ends || ends.peers.length === 0) return [];
  const { port, local } = ends;
  const findings: Finding[] = [];
  for (const path of ["output", "input"] as const) {
    const verdicts = ends.peers.map((peer) => {
      const packet = path === "output"
        ? { src: local, dst: peer.address, oif: peer.dev, protocol: "udp" as const, dport: port }
        : { src: peer.address, dst: local, iif: peer.dev, protocol: "udp" as const, dport: port };
      return { peer, packet, v: pathVerdict(ctx, packet, path) };
    });
    const dropped = verdicts.filter(({ v }) => !v.accepted && verdictDoubts(v).length === 0);
    const doubtful = verdicts.find(({ v }) => verdictDoubts(v).length > 0);
    const out = path === "output";
    const describe = (p: { src: IpAddress; dst: IpAddress; iif?: string; oif?: string }) =>
      `VXLAN: ${formatAddress(p.src)} -> ${formatAddress(p.dst)} udp dport ${port} (${
        out ? `out ${p.oif}` : `in ${p.iif}`
      })`;
    if (dropped.length > 0) {
      const first = dropped[0];
      const who = dropped.length <= 3
        ? dropped.map((d) => d.peer.owner).join(dropped.length === 2 ? " and " : ", ")
        : `${dropped.length} VXLAN peers`;
      findings.push({
        id: "vxlan-udp-dropped",
        severity: "error",
        stage: "firewall",
        summary: out
          ? `the firewall drops VXLAN's UDP to port ${port} on its way out to ${who}: this host's ` +
            "containers cannot reach the containers there"
          : `the firewall drops VXLAN's UDP to port ${port} on its way in from ${who}: the ` +
            "containers there cannot reach this host's containers, nor answer them",
        explanation:
          `VXLAN carries the containers' packets between hosts as UDP to port ${port}, from any source port ` +
          "(a hash of the inner packet): the sending host's OUTPUT and the receiving host's INPUT must let it " +
          "through.",
        evidence: capped([
          `${first.v.layer}: ${first.v.decidedBy}`,
          ...dropped.map((d) => describe(d.packet)),
          ...first.v.skipped.map((r) => `not evaluated: ${r.text}`),
        ]),
        fix: udpAcceptFix(first.v, out, first.peer.dev, port),
      });
    } else if (doubtful) {
      const doubts = verdictDoubts(doubtful.v);
      findings.push({
        id: "firewall-undecided",
        severity: "undecided",
        stage: "firewall",
        summary: `the firewall ${doubtful.v.accepted ? "lets" : "drops"} VXLAN's UDP ${
          out ? "to" : "from"
        } ${doubtful.peer.owner} ${
          doubtful.v.accepted ? "through unless" : "unless"
        } one of ${doubts.length} rules doctor cannot evaluate ${
          doubtful.v.accepted ? "drops" : "accepts"
        } it first`,
        explanation:
          "These rules match on things doctor does not model (sets, marks, source ports, rates, ...): only the " +
          "kernel can tell whether they match (hg doctor's probe traces the encapsulated packets).",
        evidence: [
          describe(doubtful.packet),
          ...(doubtful.v.decidedBy
            ? [`${doubtful.v.layer ?? "firewall"}: ${doubtful.v.decidedBy}`]
            : []),
          ...doubts.slice(0, 5).map((r) => `not evaluated: ${r}`),
        ],
        fix: [
          `# see what the kernel does with it: nft monitor trace, with "meta nftrace set 1" on udp dport ${port}`,
        ],
      });
    }
  }
  return findings;
}

/** The accept that lets VXLAN's UDP through where the firewall dropped it. */
function udpAcceptFix(
  v: { readonly layer?: string; readonly decidedBy?: string },
  out: boolean,
  uplink: string,
  port: number,
): string[] {
  if (v.layer === "iptables") {
    return [
      out
        ? `iptables -I OUTPUT 1 -o ${uplink} -p udp --dport ${port} -j ACCEPT`
        : `iptables -I INPUT 1 -i ${uplink} -p udp --dport ${port} -j ACCEPT`,
    ];
  }
  const [family, table, chain] = (v.decidedBy ?? "").split(/[ :]+/);
  return [
    `nft insert rule ${family} ${table} ${chain} ${
      out ? "oifname" : "iifname"
    } ${uplink} udp dport ${port} accept`,
  ];
}

/**
 * MTUs that do not fit through the tunnel, once a peer goes over VXLAN: the device's above its
 * uplink's less the 50 bytes of encapsulation, the bridge's or a container's (or its veth's)
 * above the device's. Packets over the limit get through only by path-MTU discovery (the host
 * answers "fragmentation needed"), so these are warnings; the probe's full-size echo with
 * Don't Fragment shows them failing.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkVxlanMtu(ctx)[0]?.fix; // ["ip link set cni0 mtu 1450", ...]
 * ```
 */
export function checkVxlanMtu(ctx: DoctorContext): Finding[] {
  const facts = vxlanFacts(ctx);
  const device = facts.device;
  if (!device || !facts.tunnels) return [];
  const host = ctx.obs.host;
  const lower = host.links.find((l) => l.ifname === (device.vxlan?.dev ?? ctx.uplink));
  const fits = lower ? vxlanMtu(lower.mtu) : device.mtu;
  const tunnelled = [
    ...facts.routes.map((r) => `${formatPrefix(r.dst)} goes over VXLAN (${device.ifname})`),
    // Two lines are shown: the registry's only when the routes give fewer.
    ...(facts.routes.length >= 2
      ? []
      : plannedTunnels(facts).filter((p) =>
        !facts.routes.some((r) => prefixKey(r.dst) === p.subnet)
      ))
      .map((p) => `registry: ${p.subnet} goes over VXLAN (${p.reason})`),
  ].slice(0, 2);
  const findings: Finding[] = [];
  if (lower && device.mtu > fits) {
    findings.push({
      id: "vxlan-mtu",
      severity: "warning",
      stage: "mtu",
      summary: `hg's VXLAN device ${device.ifname} has MTU ${device.mtu}, but its uplink ` +
        `${lower.ifname} (MTU ${lower.mtu}) carries only ${fits} after the 50 bytes of VXLAN: ` +
        `packets over ${fits} bytes to peers over VXLAN get through only by path-MTU discovery`,
      explanation:
        "An encapsulated packet is 50 bytes larger than the container's: the kernel refuses larger ones with " +
        '"fragmentation needed", and where that ICMP message is filtered they are lost.',
      evidence: [
        `${device.ifname} mtu ${device.mtu}`,
        `${lower.ifname} mtu ${lower.mtu}`,
        ...tunnelled,
      ],
      fix: [`ip link set ${device.ifname} mtu ${fits}`],
    });
  }
  const limit = Math.min(device.mtu, fits);
  const over: { text: string; fix: string }[] = [];
  const bridge = ctx.bridge?.link;
  if (bridge && bridge.mtu > limit) {
    over.push({
      text: `${bridge.ifname} mtu ${bridge.mtu}`,
      fix: `ip link set ${bridge.ifname} mtu ${limit}`,
    });
  }
  for (const c of ctx.containers) {
    const veth = host.links.find((l) => l.ifname === c.hostVeth);
    if (veth && veth.mtu > limit) {
      over.push({
        text: `${veth.ifname} mtu ${veth.mtu}`,
        fix: `ip link set ${veth.ifname} mtu ${limit}`,
      });
    }
    const state = c.observed?.state;
    const holder = state?.addresses.find((l) =>
      l.addresses.some((a) => addressEquals(a.address, c.address))
    );
    const eth = holder && state?.links.find((l) => l.ifname === holder.ifname);
    if (eth && eth.mtu > limit) {
      over.push({
        text: `${c.name}: ${eth.ifname} mtu ${eth.mtu}`,
        fix: containerIpCommand(c, `link set ${eth.ifname} mtu ${limit}`),
      });
    }
  }
  if (over.length > 0) {
    const what = bridge && bridge.mtu > limit
      ? `the bridge ${bridge.ifname} has MTU ${bridge.mtu}`
      : `${over[0].text.replace(/ mtu (\d+)$/, " has MTU $1")}`;
    findings.push({
      id: "vxlan-mtu",
      severity: "warning",
      stage: "mtu",
      summary:
        `${what}${
          over.length > 1 ? ` (and ${over.length - 1} more)` : ""
        }, more than the ${limit} ` +
        `that fit through the VXLAN device ${device.ifname}: packets over ${limit} bytes to peers over ` +
        "VXLAN get through only by path-MTU discovery",
      explanation:
        "hg lowers the bridge and every container to the VXLAN device's MTU once a peer goes over VXLAN; " +
        'larger packets are refused with "fragmentation needed", and where that ICMP message is filtered ' +
        "they are lost.",
      evidence: capped([
        `${device.ifname} mtu ${device.mtu}${
          fits < device.mtu ? ` (${fits} fit through ${lower!.ifname})` : ""
        }`,
        ...over.map((o) => o.text),
        ...tunnelled,
      ]),
      fix: over.map((o) => o.fix),
    });
  }
  return findings;
}

/** Whether a tunnelled route to `subnet` works: its neighbour and fdb entries are the lease's. */
function tunnelWorks(ctx: DoctorContext, route: Route): boolean {
  const facts = vxlanFacts(ctx);
  const lease = vxlanLease(ctx, formatPrefix(route.dst));
  const dev = facts.device?.ifname;
  if (!lease || dev === undefined || route.dev !== dev || !facts.device?.up) return false;
  const gateway = route.gateway ?? route.dst.address;
  const neighbour = neighboursAt(ctx.obs.host.neighbours, gateway).some((n) =>
    n.dev === dev && addressEquals(n.dst, gateway) && n.lladdr?.toLowerCase() === lease.mac
  );
  return neighbour &&
    ctx.obs.host.fdb.some((f) =>
      f.dev === dev && f.mac.toLowerCase() === lease.mac && f.dst !== undefined &&
      addressEquals(f.dst, lease.lease.attrs.publicIp)
    );
}

/**
 * A route whose way no longer fits where the peer is, by the registry: host-gw (a plain route
 * via the peer's address) to a peer hg now reaches over VXLAN (it left this host's segment, or
 * its address changed), or VXLAN to a peer hg now routes host-gw (it came onto this host's
 * segment, with DirectRouting). An error when the route cannot carry the packets any more.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * import type { Route } from "../../ip/route.ts";
 * import type { SyncedPeer } from "../../peers/sync.ts";
 * declare const ctx: DoctorContext, peer: SyncedPeer, route: Route;
 * modeStaleFinding(ctx, peer, route)?.id; // "peer-mode-stale"
 * ```
 */
export function modeStaleFinding(
  ctx: DoctorContext,
  peer: SyncedPeer,
  route: Route,
): Finding | undefined {
  const facts = vxlanFacts(ctx);
  const tunnel = facts.device?.ifname ?? facts.expected?.device;
  const onTunnel = route.dev !== undefined && route.dev === tunnel;
  // Most peers go the way their route goes: nothing is written for them.
  if (peer.mode === "vxlan" ? onTunnel : !(peer.mode === "host-gw" && onTunnel)) return undefined;
  const owner = `${peer.node ? `${peer.node} at ` : ""}${peer.via}`;
  const sync = resyncCommand(ctx)!;
  const explanation =
    "hg chooses a peer's way when it makes the route: host-gw when the peer's address is on a local " +
    "network (and DirectRouting), else VXLAN. The peer (or this host) has moved since; hg peer sync, or the " +
    "agent, makes the route again.";
  if (peer.mode === "vxlan" && !onTunnel) {
    const gw = route.gateway;
    const works = gw !== undefined && onLinkInterface(ctx.obs.host, gw) !== undefined &&
      formatAddress(gw) === peer.via;
    return {
      id: "peer-mode-stale",
      severity: works ? "warning" : "error",
      stage: "route",
      summary: `the route to ${peer.subnet} goes host-gw via ${gw ? formatAddress(gw) : "-"}${
        route.dev ? ` dev ${route.dev}` : ""
      }, but ${owner} is to be reached over VXLAN now: ${peer.reason}`,
      explanation,
      evidence: [
        formatRoute(route),
        `registry: ${peer.subnet} -> ${owner}`,
        ...(gw && !onLinkInterface(ctx.obs.host, gw)
          ? [`${formatAddress(gw)} is on no local network of this host`]
          : []),
      ],
      fix: [sync],
    };
  }
  if (peer.mode === "host-gw" && onTunnel) {
    const works = tunnelWorks(ctx, route);
    const dev = route.dev!;
    const gateway = route.gateway ?? route.dst.address;
    const mac = neighboursAt(ctx.obs.host.neighbours, gateway)
      .find((n) => n.dev === dev && addressEquals(n.dst, gateway))
      ?.lladdr?.toLowerCase();
    const entries = [
      mac
        ? `ip neigh: ${formatAddress(gateway)} dev ${dev} lladdr ${mac} PERMANENT`
        : `no neighbour entry for ${formatAddress(gateway)} dev ${dev}`,
      ...ctx.obs.host.fdb.filter((f) => f.dev === dev && f.mac.toLowerCase() === mac).map((f) =>
        `bridge fdb: ${f.mac} dev ${dev}${f.dst ? ` dst ${formatAddress(f.dst)}` : ""}`
      ),
    ];
    return {
      id: "peer-mode-stale",
      severity: works ? "warning" : "error",
      stage: "route",
      summary: `the route to ${peer.subnet} goes over VXLAN (${route.dev}), but ${owner} is on ` +
        `this host's segment now: ${peer.reason}${
          works ? " (the tunnel still carries it)" : "; the tunnel's entries do not reach it"
        }`,
      explanation,
      evidence: [formatRoute(route), ...entries, `registry: ${peer.subnet} -> ${owner}`],
      fix: [sync],
    };
  }
  return undefined;
}

/**
 * Every VXLAN check of the whole host (or, with `only`, of the path to that address).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkVxlan(ctx).map((f) => f.id);
 * ```
 */
export function checkVxlan(ctx: DoctorContext, only?: IpAddress): Finding[] {
  return [
    ...checkVxlanDevice(ctx, only),
    ...checkVxlanEntries(ctx, only),
    ...checkVxlanFirewall(ctx, only),
    ...(only === undefined ? checkVxlanMtu(ctx) : []),
  ];
}

/** Whether the destination goes through hg's VXLAN device (by the route the kernel picked). */
export function tunnelled(ctx: DoctorContext, route: Route | undefined): boolean {
  const dev = vxlanFacts(ctx).device?.ifname;
  return route?.dev !== undefined && route.dev === dev;
}
