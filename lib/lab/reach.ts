/**
 * The lab's reachability check: real ICMP pings between its containers, every ordered pair in a
 * small lab, a fixed sample in a big one (50 hosts are 2,450 pairs), in each address family the
 * containers have.
 *
 * @module
 */
import { formatAddress, type IpAddress } from "../net/address.ts";
import { runInNetns } from "../exec/netns.ts";
import { inParallel, LIGHT_JOBS } from "./parallel.ts";
import { type LabBackend, reaches } from "./topology.ts";

/** Up to this many containers every ordered pair is checked (132 pairs); beyond, a sample. */
export const ALL_PAIRS_MAX = 12;

/** In the sample, how many others each container is checked against. */
export const SAMPLE_PEERS = 4;

/** A container taking part in the check. */
export interface Endpoint {
  readonly container: string;
  readonly address: IpAddress;
  /** The underlay segment of the container's host (containers without one share a segment). */
  readonly segment?: number;
}

/** One ping's outcome. */
export interface PingResult {
  readonly from: string;
  readonly to: string;
  readonly address: string;
  readonly ok: boolean;
  /** Round-trip time in milliseconds, when it worked. */
  readonly rttMs?: number;
  /**
   * Set when the two hosts are on different segments of a host-gw lab: no route is expected (the
   * other host is off-link), so a failed ping is the lab working as built, not a fault.
   */
  readonly offLink?: true;
}

/**
 * Whether `backend` leaves no route from `a`'s host to `b`'s: host-gw across segments.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const a = { container: "a", address: parseAddress("1.1.1.2"), segment: 0 };
 * offLink({ ...a, segment: 1 }, a, "host-gw"); // true
 * offLink({ ...a, segment: 1 }, a, "vxlan"); // false
 * ```
 */
export function offLink(a: Endpoint, b: Endpoint, backend: LabBackend): boolean {
  return !reaches(backend, a.segment, b.segment);
}

/**
 * How long one check may take: it echoes every 0.2 s until the first reply. A working path
 * answers the first echo (the check ends in a millisecond); an echo lost while a neighbour is
 * resolved is sent again at once rather than failing the pair, and an ICMP error (no route)
 * ends it at once. Only a path that drops everything costs the deadline.
 */
export const PING_DEADLINE_S = 3;

/**
 * The deadline of a pair expected to fail (host-gw across segments): the host answers "net
 * unreachable", but the kernel rate-limits those errors, so a few of many such pings get no
 * answer at all and would wait the whole deadline.
 */
export const OFF_LINK_DEADLINE_S = 1;

/**
 * Pings from the container `from` to `to` (`ping -4` or `-6`, by the address's family) until
 * the first reply, for `deadlineS` seconds at most (see {@link PING_DEADLINE_S}).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * (await ping("hglab-h1-c1", parseAddress("1.1.2.2"))).ok; // true on a healthy lab
 * ```
 */
export async function ping(
  from: string,
  to: IpAddress,
  deadlineS = PING_DEADLINE_S,
): Promise<{ ok: boolean; rttMs?: number }> {
  const result = await runInNetns(from, [
    "ping",
    `-${to.family}`,
    "-n",
    "-c",
    "1",
    "-i",
    "0.2",
    "-w",
    String(deadlineS),
    formatAddress(to),
  ]);
  const rtt = /time=([\d.]+) ms/.exec(result.stdout);
  return result.code === 0 ? { ok: true, rttMs: rtt ? Number(rtt[1]) : undefined } : { ok: false };
}

/**
 * The ordered pairs (indexes into a list of `n` containers) a check covers: every pair up to
 * {@link ALL_PAIRS_MAX} containers; beyond, each container to {@link SAMPLE_PEERS} others spread
 * around the list (see {@link sampleOffsets}), so that every container sends and receives the
 * same number of pings and every host's routes to near and far hosts are tried.
 *
 * @example
 * ```ts
 * checkedPairs(3).length; // 6: all of them
 * checkedPairs(50).length; // 200 of 2,450; container 0 pings 10, 20, 30 and 39
 * ```
 */
export function checkedPairs(n: number): [number, number][] {
  if (n <= ALL_PAIRS_MAX) {
    return Array.from({ length: n }, (_, a) => a).flatMap((a) =>
      Array.from({ length: n }, (_, b) => b).filter((b) => b !== a).map((
        b,
      ): [number, number] => [a, b])
    );
  }
  const offsets = sampleOffsets(n);
  return Array.from({ length: n }, (_, a) => a).flatMap((a) =>
    offsets.map((o): [number, number] => [a, (a + o) % n])
  );
}

/** The segment counts whose hosts the sample must pair both within and across segments. */
const SEGMENT_COUNTS = [2, 3, 4] as const;

/**
 * How far around the list each container's {@link SAMPLE_PEERS} peers are: near n/5, 2n/5, ...
 * (each moved by at most 2, as little as can be) so that, the lab dealing its hosts onto its
 * segments in turn (host N on segment (N-1) mod S), a lab of 2, 3 or 4 segments has pairs on
 * one segment (an offset that is a multiple of S) and across segments (one that is not): evenly
 * spread offsets alone are all even at 20 or 50 hosts, and would never try VXLAN between two
 * segments.
 *
 * @example
 * ```ts
 * sampleOffsets(50); // [10, 20, 30, 39]
 * sampleOffsets(25); // [5, 10, 15, 20]
 * ```
 */
export function sampleOffsets(n: number): number[] {
  const targets = Array.from(
    { length: SAMPLE_PEERS },
    (_, j) => Math.round(((j + 1) * n) / (SAMPLE_PEERS + 1)),
  );
  const fits = (offsets: number[]) =>
    new Set(offsets).size === offsets.length && offsets.every((o) => o >= 1 && o < n) &&
    SEGMENT_COUNTS.every((s) =>
      offsets.some((o) => o % s === 0) && offsets.some((o) => o % s !== 0)
    );
  let best: { cost: number; offsets: number[] } | undefined;
  // Each offset moved by -2..2: 5^4 = 625 tries, the least moved that fits.
  for (let code = 0; code < 5 ** SAMPLE_PEERS; code++) {
    const moves = targets.map((_, j) => (Math.floor(code / 5 ** j) % 5) - 2);
    const offsets = targets.map((t, j) => t + moves[j]);
    const cost = moves.reduce((sum, m) => sum + Math.abs(m), 0);
    if ((best === undefined || cost < best.cost) && fits(offsets)) best = { cost, offsets };
  }
  return best?.offsets ?? targets;
}

/**
 * Pings the pairs {@link checkedPairs} picks among `endpoints`, a bounded number at a time, and
 * returns the results in order; a pair `backend` cannot route (see {@link offLink}) is pinged
 * too (with a shorter deadline, {@link OFF_LINK_DEADLINE_S}), and marked.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const endpoints = [
 *   { container: "hglab-h1-c1", address: parseAddress("1.1.1.2") },
 *   { container: "hglab-h2-c1", address: parseAddress("1.1.2.2") },
 * ];
 * (await pingMatrix(endpoints)).every((r) => r.ok);
 * ```
 */
export function pingMatrix(
  endpoints: readonly Endpoint[],
  backend: LabBackend = "host-gw",
): Promise<PingResult[]> {
  return inParallel(checkedPairs(endpoints.length), LIGHT_JOBS, async ([a, b]) => {
    const unrouted = offLink(endpoints[a], endpoints[b], backend);
    return {
      from: endpoints[a].container,
      to: endpoints[b].container,
      address: formatAddress(endpoints[b].address),
      ...(await ping(
        endpoints[a].container,
        endpoints[b].address,
        unrouted ? OFF_LINK_DEADLINE_S : PING_DEADLINE_S,
      )),
      ...(unrouted ? { offLink: true as const } : {}),
    };
  });
}

/**
 * The pings of {@link pingMatrix} in each address family the endpoints have, IPv4 first: a
 * dual-stack container is two endpoints (one address each), and is pinged only from the others'
 * addresses of the same family.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const endpoints = [
 *   { container: "hglab-h1-c1", address: parseAddress("1.1.1.2") },
 *   { container: "hglab-h1-c1", address: parseAddress("fd00:1:0:1::2") },
 *   { container: "hglab-h2-c1", address: parseAddress("1.1.2.2") },
 *   { container: "hglab-h2-c1", address: parseAddress("fd00:1:0:2::2") },
 * ];
 * (await pingFamilies(endpoints)).length; // 4: h1 to h2 and h2 to h1, by ping -4 and by ping -6
 * ```
 */
export async function pingFamilies(
  endpoints: readonly Endpoint[],
  backend: LabBackend = "host-gw",
): Promise<PingResult[]> {
  const results: PingResult[] = [];
  for (const group of byFamily(endpoints)) results.push(...await pingMatrix(group, backend));
  return results;
}

/**
 * The endpoints split by address family, IPv4 first; a family none has is left out.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * byFamily([{ container: "c", address: parseAddress("fd00:1:0:1::2") }]).length; // 1
 * ```
 */
export function byFamily(endpoints: readonly Endpoint[]): Endpoint[][] {
  return ([4, 6] as const).map((family) => endpoints.filter((e) => e.address.family === family))
    .filter((group) => group.length > 0);
}
