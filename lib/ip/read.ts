/**
 * Typed reads of one namespace's state: each runs one `ip -j` command and parses it.
 *
 * @module
 */
import type { Family, IpAddress } from "../net/address.ts";
import { formatAddress } from "../net/address.ts";
import { type AddressedLink, parseAddresses } from "./addr.ts";
import { ipRead, ipTry } from "./exec.ts";
import { IpSession } from "./session.ts";
import { type Link, parseLinks } from "./link.ts";
import { type Neighbour, parseNeighbours } from "./neigh.ts";
import { parseRoutes, type Route } from "./route.ts";

/** Routes of table main for one family (`ip -N -j -4|-6 route show table main`). */
export async function readRoutes(family: Family, netns?: string): Promise<Route[]> {
  return parseRoutes(
    await ipRead([`-${family}`, "-N", "-j", "route", "show", "table", "main"], netns),
    family,
  );
}

/** A namespace's links, addresses and IPv4 routes of table main. */
export interface NetState {
  readonly links: Link[];
  readonly addresses: AddressedLink[];
  readonly routes: Route[];
}

/**
 * Links, addresses and IPv4 routes read through an open {@link IpSession}: the state every
 * planner starts from, read by the process that will then apply the plan.
 *
 * @example
 * ```ts
 * const { links, addresses, routes } = await readNetState(IpSession.open("hglab-h1"));
 * ```
 */
export async function readNetState(session: IpSession): Promise<NetState> {
  const [links, addresses, routes] = await session.read(
    [["link", "show"], ["addr", "show"], ["route", "show", "table", "main"]],
  );
  return {
    links: parseLinks(links),
    addresses: parseAddresses(addresses),
    routes: parseRoutes(routes, 4),
  };
}

/** {@link readNetState} through a session of its own, for a read with nothing to apply. */
export async function readNetStateOnce(netns?: string): Promise<NetState> {
  const session = IpSession.open(netns);
  try {
    return await readNetState(session);
  } finally {
    await session.close();
  }
}

/** The neighbour table (`ip -j neigh`). */
export async function readNeighbours(netns?: string): Promise<Neighbour[]> {
  return parseNeighbours(await ipRead(["-j", "neigh", "show"], netns));
}

/** What `ip route get` answers for a destination: the chosen route, or the kernel's refusal. */
export type RouteLookup =
  | { readonly ok: true; readonly route: Route }
  | { readonly ok: false; readonly reason: string };

/** The route the kernel picks for `to` (`ip -N -j route get`). A refusal is an answer, not an error. */
export async function lookupRoute(to: IpAddress, netns?: string): Promise<RouteLookup> {
  const result = await ipTry(["-N", "-j", "route", "get", formatAddress(to)], netns);
  if (result.code !== 0) {
    return { ok: false, reason: result.stderr.trim().replace(/^RTNETLINK answers: /, "") };
  }
  const [route] = parseRoutes(result.stdout, to.family);
  return route ? { ok: true, route } : { ok: false, reason: "no route" };
}
