/**
 * Checks of the registry itself: whether it could be read, two leases with one public address,
 * leases that overlap, and leases that ran out while their hosts still route. Only the probe
 * can tell which of two conflicting leases the traffic follows, so none of these is an error
 * and none of their fixes removes anything.
 *
 * @module
 */
import { HG_ROUTE_PROTOCOL } from "../../ip/protocol.ts";
import { formatAddress, type IpAddress } from "../../net/address.ts";
import { overlappingPairs } from "../../net/interval.ts";
import { formatPrefix, prefixContains, prefixEquals } from "../../net/prefix.ts";
import { subnetKey } from "../../store/lease.ts";
import type { Lease } from "../../store/store.ts";
import type { DoctorContext } from "../context.ts";
import type { Finding } from "../finding.ts";
import { cappedMap } from "./evidence.ts";
import { prefixKey, routesByPrefix } from "../route_index.ts";

const holder = (l: Lease) =>
  `${formatPrefix(l.subnet)} -> ${l.attrs.node ? `${l.attrs.node} at ` : ""}${
    formatAddress(l.attrs.publicIp)
  }`;

/** Whether `only` (the destination doctor follows, if any) is in one of the leases. */
const concerns = (leases: readonly Lease[], only?: IpAddress) =>
  only === undefined || leases.some((l) => prefixContains(l.subnet, only));

const overlapping = new WeakMap<DoctorContext, [Lease, Lease][]>();

/**
 * The pairs of leases whose subnets overlap (different subnets; one holds the other), searched
 * once per context (the registry routes' check and the registry's own both ask).
 */
function overlappingLeases(ctx: DoctorContext): [Lease, Lease][] {
  let pairs = overlapping.get(ctx);
  if (!pairs) {
    pairs = overlappingPairs(ctx.leases, (l) => l.subnet)
      .filter(([a, b]) => !prefixEquals(a.subnet, b.subnet));
    overlapping.set(ctx, pairs);
  }
  return pairs;
}

/**
 * The keys of leases that overlap another lease (hg's sync refuses them; doctor reports the
 * overlap once, as lease-conflict).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * overlappingLeaseKeys(ctx).has("1.1.2.0-24"); // true when 1.1.2.0/23 is leased too
 * ```
 */
export function overlappingLeaseKeys(ctx: DoctorContext): Set<string> {
  return new Set(overlappingLeases(ctx).flat().map((l) => subnetKey(l.subnet)));
}

function unreadable(ctx: DoctorContext): Finding[] {
  const r = ctx.obs.registry;
  if (!r || !("error" in r)) return [];
  return [{
    id: "registry-unreadable",
    severity: "warning",
    stage: "registry",
    summary:
      `the registry ${r.url} could not be read, so routes were not compared with it: ${r.error}`,
    evidence: [r.error],
    fix: [],
  }];
}

function conflicts(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const findings: Finding[] = [];
  // Keyed by a number for IPv4 (cheaper than a bigint per lease), the bigint for IPv6.
  const byAddress = new Map<number | bigint, Lease[]>();
  for (const l of ctx.leases) {
    const ip = l.attrs.publicIp;
    const key = ip.family === 4 ? Number(ip.value) : ip.value;
    const list = byAddress.get(key);
    if (list) list.push(l);
    else byAddress.set(key, [l]);
  }
  for (const leases of byAddress.values()) {
    if (leases.length < 2 || !concerns(leases, only)) continue;
    const addr = formatAddress(leases[0].attrs.publicIp);
    const nodes = new Set(leases.map((l) => l.attrs.node ?? "?"));
    const twoHosts = nodes.size > 1 && !nodes.has("?");
    findings.push({
      id: "lease-conflict",
      severity: "warning",
      stage: "registry",
      summary: twoHosts
        ? `${leases.length} hosts (${[...nodes].join(", ")}) claim one public address ${addr}: ` +
          "every host routes all their subnets to the one machine at that address"
        : `${leases.length} leases (${
          leases.map((l) => formatPrefix(l.subnet)).join(", ")
        }) name one public address ${addr}: all their subnets are routed to it`,
      explanation: twoHosts
        ? "host-gw sends a subnet's packets to its lease's address; the containers of the host that does not " +
          "have that address are unreachable."
        : "One host holding two leases (an old one never released) is harmless while both are routed to it; " +
          "a host that took a second address by mistake is not.",
      evidence: cappedMap(leases, (l) => `registry: ${holder(l)}`),
      fix: twoHosts
        ? [
          `# on the host that does not have ${addr}, lease again with its own address: ` +
          `hg setup --store ${ctx.registry!.url} --public-ip ITS-ADDRESS`,
        ]
        : [`# "hg subnet ls --store ${ctx.registry!.url}" lists the leases and their holders`],
    });
  }
  for (const [a, b] of overlappingLeases(ctx)) {
    if (!concerns([a, b], only)) continue;
    findings.push({
      id: "lease-conflict",
      severity: "warning",
      stage: "registry",
      summary: `the leases ${formatPrefix(a.subnet)} and ${
        formatPrefix(b.subnet)
      } overlap: hg routes neither of them`,
      explanation:
        "No two hosts may hold overlapping subnets: a packet could belong to either. hg's sync refuses both " +
        "and removes the routes it had made for them.",
      evidence: [`registry: ${holder(a)}`, `registry: ${holder(b)}`],
      fix: [
        `# one of the hosts must lease another subnet (hg subnet ls --store ${ctx.registry!.url})`,
      ],
    });
  }
  return findings;
}

/** When `at` was, for people. */
const when = (at: number) => new Date(at).toISOString();

function expired(ctx: DoctorContext, only?: IpAddress): Finding[] {
  const registry = ctx.registry;
  if (!registry) return [];
  const now = Date.parse(ctx.obs.takenAt);
  const findings: Finding[] = [];
  const setup = `hg setup --store ${registry.url}${ctx.obs.node ? ` --node ${ctx.obs.node}` : ""}`;
  // This host's own lease: gone from the registry (it ran out, or was released) or past its
  // end, while this host still has its subnet and routes.
  const own = ctx.ownLease;
  const stillServing = ctx.subnet !== undefined &&
    (ctx.hgRoutes.length > 0 || ctx.containers.length > 0);
  if (stillServing && (!own || (own.expiresAt !== undefined && own.expiresAt <= now))) {
    const subnet = formatPrefix(own?.subnet ?? ctx.subnet!);
    findings.push({
      id: "lease-expired",
      severity: "warning",
      stage: "registry",
      summary: own
        ? `this host's lease on ${subnet} ran out at ${
          when(own.expiresAt!)
        }, but it still uses the subnet`
        : `this host's lease on ${subnet} is not in the registry (it ran out, or was released), ` +
          "but it still uses the subnet",
      explanation:
        "The other hosts' agents stop routing a subnet whose lease is gone, and another host may be given it.",
      evidence: own
        ? [
          `registry: ${holder(own)}, until ${when(own.expiresAt!)}`,
          `snapshot taken ${ctx.obs.takenAt}`,
        ]
        : [`registry ${registry.url}: no lease for ${subnet}`, `${ctx.obs.bridge}: ${subnet}`],
      fix: [setup, "# (a running hg agent renews it by itself)"],
    });
  }
  for (const lease of ctx.leases) {
    if (lease === own || lease.expiresAt === undefined || lease.expiresAt > now) continue;
    if (only !== undefined && !prefixContains(lease.subnet, only)) continue;
    // hg's route to exactly the lease's subnet, looked up by prefix (not a scan per lease).
    const route = routesByPrefix(ctx.obs.host.routes).get(prefixKey(lease.subnet))?.find((r) =>
      r.protocol === HG_ROUTE_PROTOCOL && prefixEquals(r.dst, lease.subnet)
    );
    if (!route) continue;
    findings.push({
      id: "lease-expired",
      severity: "warning",
      stage: "registry",
      summary: `the lease ${holder(lease)} ran out at ${
        when(lease.expiresAt)
      }, but this host still routes ${formatPrefix(lease.subnet)} there`,
      explanation:
        "The host may be gone, or it may still serve its containers without renewing: only a real packet tells.",
      evidence: [
        `registry: ${holder(lease)}, until ${when(lease.expiresAt)}`,
        `snapshot taken ${ctx.obs.takenAt}`,
      ],
      fix: [
        `# on ${lease.attrs.node ?? formatAddress(lease.attrs.publicIp)}, if it still serves: ` +
        `hg setup --store ${registry.url}`,
      ],
    });
  }
  return findings;
}

/**
 * The registry's own problems: unreadable, conflicting leases, leases that ran out.
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "../context.ts";
 * declare const ctx: DoctorContext;
 * checkRegistry(ctx).map((f) => f.id); // ["lease-conflict"]
 * ```
 */
export function checkRegistry(ctx: DoctorContext, only?: IpAddress): Finding[] {
  return [...unreadable(ctx), ...conflicts(ctx, only), ...expired(ctx, only)];
}
