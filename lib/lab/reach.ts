/**
 * The lab's reachability check: a real ICMP ping from every container to every other one.
 *
 * @module
 */
import { formatAddress, type IpAddress } from "../net/address.ts";
import { runInNetns } from "./nsenter.ts";

/** A container taking part in the check. */
export interface Endpoint {
  readonly container: string;
  readonly address: IpAddress;
}

/** One ping's outcome. */
export interface PingResult {
  readonly from: string;
  readonly to: string;
  readonly address: string;
  readonly ok: boolean;
  /** Round-trip time in milliseconds, when it worked. */
  readonly rttMs?: number;
}

/**
 * Sends one ping (1 s timeout) from the container `from` to `to`.
 *
 * @example
 * ```ts
 * (await ping("hglab-h1-c1", parseAddress("1.1.2.2"))).ok; // true on a healthy lab
 * ```
 */
export async function ping(from: string, to: IpAddress): Promise<{ ok: boolean; rttMs?: number }> {
  const result = await runInNetns(from, ["ping", "-n", "-c", "1", "-W", "1", formatAddress(to)]);
  const rtt = /time=([\d.]+) ms/.exec(result.stdout);
  return result.code === 0 ? { ok: true, rttMs: rtt ? Number(rtt[1]) : undefined } : { ok: false };
}

/** Pings every ordered pair of distinct endpoints (in parallel) and returns the results in order. */
export function pingMatrix(endpoints: readonly Endpoint[]): Promise<PingResult[]> {
  const pairs = endpoints.flatMap((a) =>
    endpoints.filter((b) => b !== a).map((b) => [a, b] as const)
  );
  return Promise.all(pairs.map(async ([a, b]) => ({
    from: a.container,
    to: b.container,
    address: formatAddress(b.address),
    ...(await ping(a.container, b.address)),
  })));
}
