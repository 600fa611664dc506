/**
 * Typed reads of one namespace's state: each runs one `ip -j` command and parses it.
 *
 * @module
 */
import type { Family } from "../net/address.ts";
import { type AddressedLink, parseAddresses } from "./addr.ts";
import { ipRead } from "./exec.ts";
import { type FdbEntry, parseFdb } from "./fdb.ts";
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

/** A namespace's links, addresses, routes of table main (both families) and permanent neighbours. */
export interface NetState {
  readonly links: Link[];
  readonly addresses: AddressedLink[];
  /** IPv4 routes, then IPv6 ones (each route's family is its `dst`'s). */
  readonly routes: Route[];
  /** Permanent neighbour entries: the ones someone configured (hg's VXLAN peers among them). */
  readonly neighbours: Neighbour[];
}

/**
 * Links, addresses, routes and permanent neighbours: the state every planner starts from. The
 * small reads go through an open {@link IpSession}, read by the process that will then apply the
 * plan; the routes of each family through one `ip` process of their own beside it, in parallel
 * (a batch line takes no `-6`, and without the session's `-d` a table of 10,000 routes prints a
 * quarter less JSON).
 *
 * @example
 * ```ts
 * import { IpSession } from "./session.ts";
 * const { links, addresses, routes } = await readNetState(IpSession.open("hglab-h1"));
 * ```
 */
export async function readNetState(session: IpSession): Promise<NetState> {
  const [[links, addresses, neighbours], routes4, routes6] = await Promise.all([
    session.read([["link", "show"], ["addr", "show"], ["neigh", "show", "nud", "permanent"]]),
    readRoutes(4, session.netns),
    readRoutes(6, session.netns),
  ]);
  return {
    links: parseLinks(links),
    addresses: parseAddresses(addresses),
    routes: [...routes4, ...routes6],
    neighbours: parseNeighbours(neighbours),
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

/**
 * The fdb entries of a VXLAN device (`bridge -j fdb show dev DEV`).
 *
 * @example
 * ```ts
 * const entries = await readFdb("flannel.1", "hglab-h1");
 * ```
 */
export async function readFdb(dev: string, netns?: string): Promise<FdbEntry[]> {
  return parseFdb(await ipRead(["-j", "fdb", "show", "dev", dev], netns, "bridge"), dev);
}

/** The neighbour table (`ip -j neigh`). */
export async function readNeighbours(netns?: string): Promise<Neighbour[]> {
  return parseNeighbours(await ipRead(["-j", "neigh", "show"], netns));
}
