/**
 * A namespace's links, addresses, permanent neighbours and routes of table main through one
 * one-shot `ip -batch` process, for a command that reads and applies nothing (`hg status`).
 * `readNetStateOnce` gives the same state through three processes (the `ip -batch`
 * session and one route read per family), each of which costs hg ~1.5-2 ms of CPU to start,
 * wait for and read; its output goes through a file under Bun as every one-shot read's does.
 *
 * @module
 */
import { runProcess } from "../exec/run.ts";
import { parseAddresses } from "./addr.ts";
import { batchFailure } from "./exec.ts";
import { parseLinks } from "./link.ts";
import { parseNeighbours } from "./neigh.ts";
import { batchLine, ipInvocation } from "./op.ts";
import { IpOutputError } from "./output_error.ts";
import type { NetState } from "./read.ts";
import { parseRoutes, type Route } from "./route.ts";
import { inMain } from "./route_dump.ts";

/**
 * The batch's lines. A batch line takes no -4/-6: `show table main` lists IPv4 routes, and an
 * IPv6 root is taken only with `table all`, which lists every table's (main's are kept).
 */
const LINES: readonly (readonly string[])[] = [
  ["link", "show"],
  ["addr", "show"],
  ["neigh", "show", "nud", "permanent"],
  ["route", "show", "table", "main"],
  ["route", "show", "table", "all", "root", "::/0"],
];

/**
 * Reads what `readNetStateOnce` (./read.ts) reads, equal to it, through one `ip -N -d -j -batch -`.
 *
 * @example
 * ```ts
 * const { links, routes } = await readNetStateInOneProcess("hglab-h1");
 * ```
 */
export async function readNetStateInOneProcess(netns?: string): Promise<NetState> {
  const ip = ipInvocation(netns, ["-N", "-d", "-j", "-batch", "-"]);
  const input = LINES.map(batchLine).join("\n") + "\n";
  const result = await runProcess(ip.command, ip.args, { input });
  if (result.code !== 0) throw batchFailure(LINES, 0, result.code, result.stderr, netns);
  const lines = result.stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length !== LINES.length) {
    throw new IpOutputError(`ip -batch printed ${lines.length} lines for ${LINES.length} reads`);
  }
  const [links, addresses, neighbours, routes4, routes6] = lines;
  return {
    links: parseLinks(links),
    addresses: parseAddresses(addresses),
    routes: [...withoutTable(parseRoutes(routes4, 4)), ...withoutTable(mainRoutes6(routes6))],
    neighbours: parseNeighbours(neighbours),
  };
}

/** The IPv6 routes of table main among every table's (`-d` prints each one's table). */
function mainRoutes6(text: string): Route[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    entries = undefined;
  }
  // Not a list: the route parser refuses it, in its words.
  if (!Array.isArray(entries)) return parseRoutes(text, 6);
  return parseRoutes(entries.filter((e) => inMain((e as { table?: unknown } | null)?.table)), 6);
}

/** Routes as a read of table main has them: with no table of their own. */
function withoutTable(routes: Route[]): Route[] {
  return routes.map((route) => {
    if (route.table === undefined) return route;
    const { table: _table, ...main } = route;
    return main;
  });
}
