/**
 * What the probe watches for `hg doctor --to`: the source container, this host, and, when the
 * destination's host is a namespace on this machine (`--peer-netns`, the lab), that host and
 * the destination container; on each, the devices on the path and the route questions for the
 * request (first) and the reply (second). Pure: it reads the observations.
 *
 * @module
 */
import { containerNetns } from "../containers/where.ts";
import { formatAddress, type IpAddress } from "../net/address.ts";
import type { ProbePlan } from "../probe/probe.ts";
import type { Container, DoctorContext } from "./context.ts";
import { containerAt } from "./checks/plumbing.ts";
import { lookupRoute } from "./lookup.ts";
import { vxlanFacts } from "./vxlan_facts.ts";

/** The interface of a container that holds its address, and that interface's MTU. */
function containerLink(c: Container): { ifname: string; mtu: number } | undefined {
  const link = c.observed?.state?.addresses.find((l) =>
    l.addresses.some((a) => a.address.value === c.address.value)
  );
  const mtu = c.observed?.state?.links.find((l) => l.ifname === link?.ifname)?.mtu;
  return link ? { ifname: link.ifname, mtu: mtu ?? 1500 } : undefined;
}

/**
 * The probe's plan from `from` (a container of this host) to `to`.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * import type { Container, DoctorContext } from "./context.ts";
 * declare const here: DoctorContext, peer: DoctorContext, from: Container;
 * const plan = probePlan(here, from, parseAddress("1.1.2.2"), { netns: "hglab-h2", ctx: peer });
 * ```
 */
export function probePlan(
  here: DoctorContext,
  from: Container,
  to: IpAddress,
  peer?: { readonly netns: string; readonly ctx: DoctorContext },
): ProbePlan {
  const src = formatAddress(from.address);
  const dst = formatAddress(to);
  const bridge = here.obs.bridge;
  const fromLink = containerLink(from);
  const request = (iif?: string) => [dst, "from", src, ...(iif ? ["iif", iif] : [])];
  const reply = (iif?: string) => [src, "from", dst, ...(iif ? ["iif", iif] : [])];
  const namespaces: ProbePlan["namespaces"][number][] = [
    {
      netns: containerNetns(from) ?? from.name,
      role: "source",
      devices: fromLink ? [fromLink.ifname] : [],
      routeQueries: [request(), reply(fromLink?.ifname)],
    },
  ];
  const localTarget = containerAt(here, to);
  const found = lookupRoute(here.obs.host, to);
  const out = found.kind === "route" ? found.route.dev : here.uplink;
  namespaces.push({
    role: "this host",
    devices: [...new Set([from.hostVeth, ...(out && out !== bridge ? [out] : [])])],
    routeQueries: [request(bridge), reply(localTarget ? bridge : out)],
  });
  const target = localTarget
    ? { c: localTarget, ctx: here }
    : peer && containerAt(peer.ctx, to)
    ? { c: containerAt(peer.ctx, to)!, ctx: peer.ctx }
    : undefined;
  if (peer && !localTarget) {
    const up = peer.ctx.uplink;
    namespaces.push({
      netns: peer.netns,
      role: "peer host",
      devices: [...new Set([...(up ? [up] : []), ...(target ? [target.c.hostVeth] : [])])],
      routeQueries: [request(up), reply(peer.ctx.obs.bridge)],
    });
  }
  if (target) {
    const link = containerLink(target.c);
    namespaces.push({
      netns: containerNetns(target.c) ?? target.c.name,
      role: "destination",
      devices: link ? [link.ifname] : [],
      routeQueries: [request(link?.ifname), reply()],
    });
  }
  const gateway = found.kind === "route" ? found.route.gateway : undefined;
  // The large echo fills the larger of the two containers' MTUs: a destination whose MTU is
  // above its veth's loses its large replies. Don't Fragment only when the source's MTU holds it.
  // Headers: IPv4's 20 bytes and ICMP's 8, or IPv6's 40 and ICMPv6's 8.
  const headers = to.family === 6 ? 48 : 28;
  const targetMtu = target ? containerLink(target.c)?.mtu : undefined;
  const largest = Math.max(fromLink?.mtu ?? 0, targetMtu ?? 0);
  // Over VXLAN the echoes travel inside UDP between the hosts: trace those packets too.
  const tunnel = vxlanFacts(here);
  const vxlanPort = tunnel.device?.vxlan?.port ?? tunnel.backend?.port;
  return {
    source: containerNetns(from) ?? from.name,
    to: dst,
    namespaces,
    ...(vxlanPort === undefined ? {} : { vxlanPort }),
    ...(gateway && out ? { nextHop: { address: formatAddress(gateway), dev: out } } : {}),
    ...(target
      ? {
        lastHop: {
          ...(target.ctx === here ? {} : { netns: peer!.netns }),
          address: dst,
          dev: target.ctx.obs.bridge,
        },
      }
      : {}),
    ...(largest > 0
      ? { largeSize: largest - headers, largeDontFragment: largest <= (fromLink?.mtu ?? 0) }
      : {}),
  };
}
