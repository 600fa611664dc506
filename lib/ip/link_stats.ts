/**
 * Per-device packet counters from `ip -s -j link`: what a probe compares before and after, so
 * that a packet lost in a driver or to an oversized frame (no netfilter verdict, no route
 * error) still has a named cause.
 *
 * @module
 */
import { JsonFields } from "./json_fields.ts";

/** One device's state and counters. */
export interface LinkStats {
  readonly ifname: string;
  readonly up: boolean;
  /** The link has a carrier (LOWER_UP). */
  readonly carrier: boolean;
  readonly mtu: number;
  readonly rxPackets: number;
  readonly rxDropped: number;
  readonly rxErrors: number;
  readonly txPackets: number;
  readonly txDropped: number;
  readonly txErrors: number;
}

/**
 * Parses `ip -s -j link show`.
 *
 * @example
 * ```ts
 * parseLinkStats('[{"ifname":"eth0","flags":["UP","LOWER_UP"],"mtu":1500,"stats64":{"rx":{"packets":1,"dropped":0,"errors":0},"tx":{"packets":2,"dropped":0,"errors":0}}}]')[0].rxPackets; // 1
 * ```
 */
export function parseLinkStats(text: string | readonly unknown[]): LinkStats[] {
  return JsonFields.list(text, "link statistics").map((f) => {
    const stats = f.object("stats64") ?? f.object("stats");
    const rx = stats?.object("rx");
    const tx = stats?.object("tx");
    const n = (side: JsonFields | undefined, key: string) => side?.optionalNumber(key) ?? 0;
    const flags = f.strings("flags");
    return {
      ifname: f.string("ifname"),
      up: flags.includes("UP"),
      carrier: flags.includes("LOWER_UP"),
      mtu: f.number("mtu"),
      rxPackets: n(rx, "packets"),
      rxDropped: n(rx, "dropped"),
      rxErrors: n(rx, "errors"),
      txPackets: n(tx, "packets"),
      txDropped: n(tx, "dropped"),
      txErrors: n(tx, "errors"),
    };
  });
}
