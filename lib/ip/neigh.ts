/**
 * Typed neighbour (ARP/NDP) entries parsed from `ip -j neigh`.
 *
 * @module
 */
import { type IpAddress, parseAddress } from "../net/address.ts";
import { JsonFields } from "./json_fields.ts";

/** One neighbour entry. */
export interface Neighbour {
  readonly dst: IpAddress;
  readonly dev: string;
  readonly lladdr?: string;
  /** NUD states such as REACHABLE, STALE, FAILED, INCOMPLETE, PERMANENT. */
  readonly state: readonly string[];
  /** Resolution probes sent since the entry was last confirmed (`ip -s neigh` only). */
  readonly probes?: number;
}

/**
 * Parses the output of `ip -j neigh`.
 *
 * @example
 * ```ts
 * parseNeighbours('[{"dst":"10.0.12.9","dev":"eth0","state":["FAILED"]}]')[0].state; // ["FAILED"]
 * ```
 */
export function parseNeighbours(text: string | readonly unknown[]): Neighbour[] {
  return JsonFields.list(text, "neighbour").map((f) => ({
    dst: parseAddress(f.string("dst")),
    dev: f.string("dev"),
    lladdr: f.optionalString("lladdr"),
    state: f.strings("state"),
    ...(f.has("probes") ? { probes: f.number("probes") } : {}),
  }));
}
