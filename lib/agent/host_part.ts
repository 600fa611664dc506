/**
 * Reads the part of this host that a plan of a few peer subnets reads: the routes of table main
 * that overlap them (`route show root` and `match` of each, through one `ip -batch` process),
 * the links and addresses whole (a handful), and the forwarding switches. What one lease's
 * change costs to observe then does not grow with the routing table. Permanent neighbours and
 * fdb entries are not read: VXLAN networks are observed whole.
 *
 * @module
 */
import type { HostState } from "../host/state.ts";
import { parseAddresses } from "../ip/addr.ts";
import { parseLinks } from "../ip/link.ts";
import { parseRoutes, type Route } from "../ip/route.ts";
import type { IpSession } from "../ip/session.ts";
import { TABLE_MAIN } from "../ip/table.ts";
import { formatPrefix, type Prefix } from "../net/prefix.ts";
import { readSysctl } from "../sysctl/sysctl.ts";

/**
 * Links, addresses and forwarding switches of the host, and its routes of table main that
 * overlap `subnets` (each once), read through `session` (which stays open for a plan).
 *
 * @example
 * ```ts
 * import { IpSession } from "../ip/session.ts";
 * import { parsePrefix } from "../net/prefix.ts";
 * const part = await observeSubnets(IpSession.open(), [parsePrefix("1.1.2.0/24")]);
 * part.routes; // hg's route to 1.1.2.0/24 if any, and routes covering it or inside it
 * ```
 */
export async function observeSubnets(
  session: IpSession,
  subnets: readonly Prefix[],
): Promise<HostState> {
  // A batch line takes no -4/-6: `table all` is what makes ip take an IPv6 filter there.
  const filters = subnets.flatMap((s) => {
    const text = formatPrefix(s);
    return [
      ["route", "show", "table", "all", "root", text],
      ["route", "show", "table", "all", "match", text],
    ];
  });
  const [[links, addresses, ...routeLists], forwarding, forwarding6] = await Promise.all([
    session.read([["link", "show"], ["addr", "show"], ...filters]),
    readSysctl("net.ipv4.ip_forward"),
    readSysctl("net.ipv6.conf.all.forwarding").catch(() => "0"),
  ]);
  const seen = new Set<string>();
  const routes: Route[] = [];
  routeLists.forEach((text, i) => {
    for (const route of parseRoutes(text, subnets[i >> 1].address.family)) {
      if (route.table !== undefined && route.table !== TABLE_MAIN) continue;
      const key = `${formatPrefix(route.dst)} ${route.type} ${route.metric} ${route.tos ?? 0}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // As a whole observation has it: table main's routes carry no table.
      const { table: _table, ...main } = route;
      routes.push(main);
    }
  });
  return {
    links: parseLinks(links),
    addresses: parseAddresses(addresses),
    routes,
    neighbours: [],
    fdb: [],
    forwarding: forwarding === "1",
    forwarding6: forwarding6 === "1",
  };
}
