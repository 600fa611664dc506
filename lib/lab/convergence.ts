/**
 * Waiting for a lab's agents cheaply: an agent's report is read straight from its file (named by
 * the inode of the host's network namespace), and hg's routes in a host with one
 * `ip -n HOST -j route show proto 104`. Running `hg status` in every host instead costs a whole
 * hg process per host per look, which at 50 hosts is more work than the agents themselves do.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { type AgentReport, reportPathOfNetns } from "../agent/status_file.ts";
import { HgError } from "../errors.ts";
import { ipRead } from "../ip/exec.ts";
import { HG_ROUTE_PROTOCOL } from "../ip/protocol.ts";
import { parseRoutes } from "../ip/route.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { isRunning } from "../exec/daemon.ts";
import { inParallel, LIGHT_JOBS } from "./parallel.ts";
import { type LabBackend, type LabHost, reaches } from "./topology.ts";

/** What one host shows of its place in the network. */
export interface HostRouting {
  readonly netns: string;
  /** The host's underlay address: other hosts route its subnet through it. */
  readonly address: string;
  /** The subnet its agent leased (from its report); undefined while it has none. */
  readonly subnet?: string;
  /**
   * A dual-stack host's IPv6 address (other hosts route its IPv6 subnet through it); absent for
   * a host of one family.
   */
  readonly ipv6Address?: string;
  /** A dual-stack host's IPv6 subnet (from its report); undefined while it has none. */
  readonly ipv6Subnet?: string;
  /** hg's routes in the host of both families, as "DST via GATEWAY". */
  readonly routes: readonly string[];
  /** The underlay segment the host is on (hosts without one share a segment). */
  readonly segment?: number;
}

/**
 * The report of the agent running in the lab host `netns` now: undefined when there is none yet,
 * or when the process that wrote it is gone (a killed agent leaves its last report behind).
 *
 * @example
 * ```ts
 * (await runningAgentReport("hglab-h1"))?.subnet; // "1.1.76.0/24"
 * ```
 */
export async function runningAgentReport(netns: string): Promise<AgentReport | undefined> {
  const inode = await stat(`/run/netns/${netns}`).then((s) => s.ino, () => undefined);
  if (inode === undefined) return undefined; // the host is gone
  const text = await readFile(reportPathOfNetns(inode), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const report = JSON.parse(text) as AgentReport;
    return isRunning(report.pid) ? report : undefined;
  } catch {
    return undefined; // caught between the agent's write and rename: read it next time
  }
}

/**
 * hg's routes in a lab host (`ip -n HOST -j -4|-6 route show proto 104`), as "DST via GATEWAY";
 * its IPv6 ones only with `ipv6` (a host of an IPv4 lab is asked once).
 *
 * @example
 * ```ts
 * await hgRoutesOf("hglab-h1"); // ["1.1.2.0/24 via 10.0.12.12"]
 * await hgRoutesOf("hglab-h1", true); // [..., "fd00:1:0:2::/64 via fd00:12::12"]
 * ```
 */
export async function hgRoutesOf(netns: string, ipv6 = false): Promise<string[]> {
  const families = ipv6 ? [4, 6] as const : [4] as const;
  const lists = await Promise.all(families.map(async (family) => {
    const json = await ipRead(
      [`-${family}`, "-j", "route", "show", "proto", String(HG_ROUTE_PROTOCOL)],
      netns,
    );
    return parseRoutes(json, family).map((r) =>
      `${formatPrefix(r.dst)} via ${r.gateway ? formatAddress(r.gateway) : "-"}`
    );
  }));
  return lists.flat();
}

/**
 * The routes `host` lacks to reach every other of `hosts` it can reach with `backend`, one line
 * each; a host without a lease lacks its lease. A peer on the host's segment is routed through
 * its address (host-gw, or VXLAN's DirectRouting); one on another segment only with VXLAN,
 * through the peer's VTEP as flannel lays it out: via the subnet's network address (onlink on
 * `flannel.1`). host-gw refuses a peer on another segment: it lacks nothing there.
 *
 * @example
 * ```ts
 * const h1 = { netns: "h1", address: "10.0.12.11", subnet: "1.1.1.0/24", routes: [] };
 * const h2 = { netns: "h2", address: "10.0.12.12", subnet: "1.1.2.0/24", routes: ["1.1.1.0/24 via 10.0.12.11"] };
 * missingRoutes(h1, [h1, h2]); // ["h1 has no route 1.1.2.0/24 via 10.0.12.12 (to h2)"]
 * missingRoutes(h2, [h1, h2]); // []
 * const h3 = { netns: "h3", address: "10.0.20.13", subnet: "1.1.3.0/24", routes: [], segment: 1 };
 * missingRoutes({ ...h1, segment: 0 }, [h1, h3], "vxlan"); // ["h1 has no route 1.1.3.0/24 via 1.1.3.0 (to h3)"]
 * ```
 *
 * A dual-stack host lacks too the route to each dual-stack peer's IPv6 subnet through the peer's
 * IPv6 address (labs with IPv6 have one segment).
 */
export function missingRoutes(
  host: HostRouting,
  hosts: readonly HostRouting[],
  backend: LabBackend = "host-gw",
): string[] {
  if (host.subnet === undefined) return [`${host.netns} has no lease yet`];
  const dual = host.ipv6Address !== undefined;
  if (dual && host.ipv6Subnet === undefined) return [`${host.netns} has no IPv6 subnet yet`];
  const routes = new Set(host.routes);
  return hosts.flatMap((peer) => {
    if (peer.netns === host.netns || peer.subnet === undefined) return [];
    if (!reaches(backend, host.segment, peer.segment)) return [];
    const across = (peer.segment ?? 0) !== (host.segment ?? 0);
    const wanted = [`${peer.subnet} via ${across ? peer.subnet.split("/")[0] : peer.address}`];
    if (dual && peer.ipv6Subnet !== undefined && peer.ipv6Address !== undefined) {
      wanted.push(`${peer.ipv6Subnet} via ${peer.ipv6Address}`);
    }
    return wanted.filter((route) => !routes.has(route)).map((route) =>
      `${host.netns} has no route ${route} (to ${peer.netns})`
    );
  });
}

/**
 * How long the lab waits for its agents: 30 s, plus 1 s a host (50 agents starting at once on
 * a small machine take tens of seconds; a single host also rides out a registry pause).
 */
export function convergenceBudgetMs(hosts: number): number {
  return 30_000 + 1_000 * hosts;
}

/** How often the lab looks: more hosts cost more to look at (one `ip` each), so less often. */
export function pollIntervalMs(hosts: number): number {
  return Math.min(1_000, 50 + 10 * hosts);
}

/**
 * An agent the lab waits for: its host, its PID when it was just started, and the file it logs
 * to (whose last line says why it has not synced, when the wait gives up).
 */
export interface AwaitedAgent {
  readonly host: LabHost;
  readonly pid?: number;
  readonly log?: string;
}

/** The last line of the file at `path`, cut to 300 characters; undefined if it has none. */
async function lastLine(path: string): Promise<string | undefined> {
  const text = await readFile(path, "utf8").catch(() => "");
  const line = text.trimEnd().split("\n").pop();
  return line ? line.slice(0, 300) : undefined;
}

/**
 * Why the agent of `a` has not synced, as the wait saw it last: whether its process still runs
 * (an agent that exited left its reason in its log), and its log's last line.
 */
export async function notSynced(a: AwaitedAgent): Promise<string> {
  const facts = [
    ...(a.pid === undefined ? [] : [isRunning(a.pid) ? "its agent runs" : "its agent exited"]),
    ...[a.log && await lastLine(a.log)].filter(Boolean).map((line) => `its log ends: ${line}`),
  ];
  return `${a.host.netns} has not synced${facts.length ? ` (${facts.join("; ")})` : ""}`;
}

/** Throws, naming at most three of `missing`, once `deadline` (ms since the epoch) has passed. */
function giveUpAfter(deadline: number, what: string, missing: readonly string[], hint: string) {
  if (missing.length === 0 || Date.now() <= deadline) return;
  giveUp(what, missing, hint);
}

/** Throws, naming at most three of `missing`. */
function giveUp(what: string, missing: readonly string[], hint: string): never {
  const more = missing.length > 3 ? ` (and ${missing.length - 3} more)` : "";
  throw new HgError(`gave up waiting for ${what}: ${missing.slice(0, 3).join("; ")}${more}${hint}`);
}

/**
 * Waits until the agent of each of `agents` reports that it set its host up (a sync, by the
 * awaited PID when one is given): one file read per host and look, no process at all. Throws
 * after `budgetMs`, or as soon as an awaited PID has exited, naming the hosts still waited for
 * (those whose agent exited first); `hint` ends that message.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * await waitForSync(labTopology("hglab", 3).hosts.map((host) => ({ host })), 30_000);
 * ```
 */
export async function waitForSync(
  agents: readonly AwaitedAgent[],
  budgetMs: number,
  hint = "",
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  const synced = new Set<string>();
  for (;;) {
    await Promise.all(
      agents.filter((a) => !synced.has(a.host.netns)).map(async (a) => {
        const report = await runningAgentReport(a.host.netns);
        if (report?.lastSync != null && (a.pid === undefined || report.pid === a.pid)) {
          synced.add(a.host.netns);
        }
      }),
    );
    const missing = agents.filter((a) => !synced.has(a.host.netns));
    if (missing.length === 0) return;
    // An agent the lab started that is gone will not sync: no use waiting out the budget.
    const exited = missing.filter((a) => a.pid !== undefined && !isRunning(a.pid));
    if (exited.length > 0 || Date.now() > deadline) {
      const first = [...exited, ...missing.filter((a) => !exited.includes(a))];
      const named = await Promise.all(first.slice(0, 3).map(notSynced));
      giveUp("the agents to set their hosts up", [
        ...named,
        ...first.slice(3).map((a) => a.host.netns),
      ], hint);
    }
    await new Promise((r) => setTimeout(r, pollIntervalMs(agents.length)));
  }
}

/**
 * Waits until the hosts of `required` (whose agents must run) and those of `others` whose agents
 * run all route to each other (the pairs `backend` can route, see {@link missingRoutes}). A
 * host seen routing to everyone is not looked at again until a last look at all of them
 * together confirms it. Throws after `budgetMs`, naming missing routes.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * await waitForRoutes(labTopology("hglab", 3).hosts, [], "host-gw", 30_000);
 * ```
 */
export async function waitForRoutes(
  required: readonly LabHost[],
  others: readonly LabHost[],
  backend: LabBackend,
  budgetMs: number,
  hint = "",
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  const mustRun = new Set(required.map((h) => h.netns));
  const everyone = [...required, ...others.filter((h) => !mustRun.has(h.netns))];
  const withIpv6 = new Set(everyone.filter((h) => h.ipv6Address).map((h) => h.netns));
  const complete = new Set<string>();
  for (;;) {
    const reports = await Promise.all(everyone.map((h) => runningAgentReport(h.netns)));
    const stopped = everyone.filter((h, i) => !reports[i] && mustRun.has(h.netns));
    const views: HostRouting[] = everyone.flatMap((host, i) => {
      const report = reports[i];
      if (!report) return [];
      return [{
        netns: host.netns,
        address: formatAddress(host.publicIp),
        subnet: report.subnet,
        ...(host.ipv6Subnet === undefined || host.ipv6Address === undefined ? {} : {
          ipv6Address: formatAddress(host.ipv6Address),
          ipv6Subnet: report.ipv6Subnet ?? undefined,
        }),
        routes: [],
        segment: host.segment,
      }];
    });
    const looked = await inParallel(
      views.filter((v) => !complete.has(v.netns)),
      LIGHT_JOBS,
      async (view) => ({
        ...view,
        routes: await hgRoutesOf(view.netns, withIpv6.has(view.netns)),
      }),
    );
    const missing = [
      ...stopped.map((h) => `the agent of ${h.netns} is not running`),
      ...looked.flatMap((view) => {
        const lines = missingRoutes(view, views, backend);
        if (lines.length === 0) complete.add(view.netns);
        return lines;
      }),
    ];
    if (missing.length === 0) {
      if (looked.length === views.length) return;
      complete.clear();
      continue;
    }
    giveUpAfter(deadline, "every host to route to every other", missing, hint);
    await new Promise((r) => setTimeout(r, pollIntervalMs(everyone.length)));
  }
}
