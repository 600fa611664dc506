/**
 * Building and removing a lab: the underlay and host namespaces, then hg's own commands inside
 * each host (setup, netns add, peer add or peer sync), as an operator would run them on real
 * hosts.
 *
 * @module
 */
import { HgError, InputError } from "../errors.ts";
import type { ProcessResult } from "../exec/run.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { applyPlan } from "../plan/apply.ts";
import { ipStep } from "../plan/step.ts";
import { listNetns } from "./netns_dir.ts";
import { planPlumbing } from "./plumbing.ts";
import { startLabAgent, stopLabAgent } from "./agents.ts";
import {
  hostRegistryArgs,
  labDir,
  type LabRegistryOptions,
  readLabRegistry,
  startLabRegistry,
  stopLabRegistry,
} from "./registry.ts";
import {
  belongsToLab,
  containerAddress,
  type LabHost,
  type LabTopology,
  labTopology,
} from "./topology.ts";
import type { Status } from "../status/status.ts";

/** Runs `hg ARGS...` inside a lab host's network namespace. */
export type HgInHost = (hostNetns: string, args: readonly string[]) => Promise<ProcessResult>;

async function hgOrFail(hg: HgInHost, netns: string, args: readonly string[]): Promise<string> {
  const result = await hg(netns, args);
  if (result.code !== 0) {
    throw new HgError(
      `"hg ${args.join(" ")}" in ${netns} failed: ${result.stderr.trim().split("\n")[0]}`,
    );
  }
  return result.stdout;
}

/** Runs each host's commands in order, the hosts in parallel, logging one line per command. */
async function runOnHosts(
  topology: LabTopology,
  hg: HgInHost,
  log: (line: string) => void,
  commandsOf: (host: LabHost) => string[][],
): Promise<void> {
  await Promise.all(topology.hosts.map(async (host) => {
    for (const args of commandsOf(host)) {
      const summary = (await hgOrFail(hg, host.netns, args)).trim().split("\n").pop() ?? "";
      log(`${host.netns}: hg ${args.join(" ")}${summary ? `  # ${summary}` : ""}`);
    }
  }));
}

/**
 * Builds the lab (only what is missing, so a second run changes nothing): underlay, hosts, then
 * in each host the hg commands an operator would run. Without a registry: `hg setup --subnet`
 * with the host's fixed subnet, `hg netns add`, and `hg peer add` for every other host. With
 * one (`registry`): the network config is written once, each host leases its subnet with
 * `hg setup --store`, adds its container, and then routes to the others with `hg peer sync`.
 *
 * @example
 * ```ts
 * await labUp(labTopology("hglab", 2), hgInHost, console.log, { kind: "etcd" });
 * ```
 */
export async function labUp(
  topology: LabTopology,
  hg: HgInHost,
  log: (line: string) => void,
  registry?: LabRegistryOptions & { readonly agentArgv?: readonly string[] },
): Promise<void> {
  await applyPlan(planPlumbing(topology, new Set(await listNetns())));
  if (!registry) {
    await runOnHosts(topology, hg, log, (host) => [
      ["setup", "--subnet", formatPrefix(host.subnet)],
      ["netns", "add", host.container, "--ip", formatAddress(containerAddress(host))],
      ...topology.hosts.filter((p) => p !== host).map((p) => [
        "peer",
        "add",
        formatPrefix(p.subnet),
        "--via",
        formatAddress(p.address),
      ]),
    ]);
    return;
  }
  const { agentArgv } = registry;
  const { url } = await startLabRegistry(topology, {
    ...registry,
    agents: agentArgv !== undefined,
  });
  const first = topology.hosts[0];
  const config = [
    "subnet",
    "config",
    "--store",
    url,
    "--network",
    formatPrefix(topology.network),
    "--subnet-len",
    "24",
  ];
  log(
    `${first.netns}: hg ${config.join(" ")}  # ${(await hgOrFail(hg, first.netns, config)).trim()}`,
  );
  await addRegistryHosts(topology, topology.hosts, hg, log, url, agentArgv);
}

/**
 * Brings `hosts` of a registry lab up: with agents (`agentArgv`, the argv of hg), each host's
 * agent leases its subnet and routes, and hg waits until every host routes to every other;
 * without, `hg setup --store` and `hg netns add` in each, then `hg peer sync` on every host.
 */
async function addRegistryHosts(
  topology: LabTopology,
  hosts: readonly LabHost[],
  hg: HgInHost,
  log: (line: string) => void,
  url: string,
  agentArgv?: readonly string[],
): Promise<void> {
  const dir = labDir(topology.name);
  if (agentArgv) {
    await Promise.all(hosts.map(async (host) => {
      await startLabAgent(topology.name, host, agentArgv, url);
      log(
        `${host.netns}: hg agent --store ${url} --node ${host.netns} (log: ${dir}/${host.netns}.agent.log)`,
      );
      await waitFor(
        hg,
        [host.netns],
        (s) => s.agent?.lastSync != null,
        `the agent of ${host.netns} to set the host up`,
      );
      log(
        `${host.netns}: hg netns add ${host.container}  # ${
          (await hgOrFail(hg, host.netns, ["netns", "add", host.container])).trim()
        }`,
      );
    }));
    const all = topology.hosts.map((h) => h.netns);
    await waitFor(
      hg,
      all,
      (s) => s.peers.length === all.length - 1,
      "every host to route to every other",
    );
    return;
  }
  await runOnHosts({ ...topology, hosts }, hg, log, (host) => [
    ["setup", ...hostRegistryArgs(topology.name, host, url)],
    ["netns", "add", host.container],
  ]);
  // Every host has its lease now: one sync each routes to all the others.
  await runOnHosts(
    topology,
    hg,
    log,
    (host) => [["peer", "sync", "--store", url, "--node", host.netns]],
  );
}

/** Polls `hg status --json` on `hosts` until `ready` holds for each (30 s at most: a host may be waiting for its registry). */
async function waitFor(
  hg: HgInHost,
  hosts: readonly string[],
  ready: (status: Status & { agent?: { lastSync: string | null } | null }) => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const statuses = await Promise.all(
      hosts.map(async (host) => JSON.parse(await hgOrFail(hg, host, ["status", "--json"]))),
    );
    if (statuses.every(ready)) return;
    if (Date.now() > deadline) throw new HgError(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The registry of a running lab, for a command that needs one. */
async function requireLabRegistry(name: string, command: string) {
  const registry = await readLabRegistry(name);
  if (!registry) {
    throw new HgError(
      `lab ${name} has no registry: ${command} needs a lab made with --store or --agent`,
    );
  }
  return registry;
}

/** The lab's hosts now, by index. */
async function labHostIndexes(name: string): Promise<number[]> {
  return (await labNamespaces(name)).flatMap((ns) => {
    const m = new RegExp(`^${name}-h(\\d+)$`).exec(ns);
    return m ? [Number(m[1])] : [];
  }).sort((a, b) => a - b);
}

/**
 * Adds a host to a running registry lab (the next free index), the same way `lab up` made the
 * others. Returns the new host's namespace.
 */
export async function labAddNode(
  name: string,
  hg: HgInHost,
  log: (line: string) => void,
  hgArgv: readonly string[],
): Promise<string> {
  const registry = await requireLabRegistry(name, "add-node");
  const indexes = await labHostIndexes(name);
  const topology = labTopology(name, Math.max(0, ...indexes) + 1);
  const host = topology.hosts[topology.hosts.length - 1];
  await applyPlan(planPlumbing(topology, new Set(await listNetns())));
  const present = {
    ...topology,
    hosts: topology.hosts.filter((h) => indexes.includes(h.index) || h === host),
  };
  await addRegistryHosts(
    present,
    [host],
    hg,
    log,
    registry.url,
    registry.agents ? hgArgv : undefined,
  );
  return host.netns;
}

/**
 * Removes a host from a running registry lab: its agent stops with --release-on-exit (or, without
 * agents, its lease is released and the others sync), then its namespaces go.
 */
export async function labRemoveNode(
  name: string,
  hostNetns: string,
  hg: HgInHost,
  log: (line: string) => void,
): Promise<void> {
  const registry = await requireLabRegistry(name, "rm-node");
  const indexes = await labHostIndexes(name);
  if (!indexes.some((i) => `${name}-h${i}` === hostNetns)) {
    throw new InputError(`lab ${name} has no host ${hostNetns}`);
  }
  if (registry.agents) {
    await stopLabAgent(name, hostNetns);
    log(`${hostNetns}: agent stopped (lease released, routes removed)`);
  } else {
    await hgOrFail(hg, hostNetns, [
      "subnet",
      "release",
      "--store",
      registry.url,
      "--node",
      hostNetns,
    ]);
  }
  await hgOrFail(hg, hostNetns, ["teardown"]);
  await applyPlan([ipStep(["netns", "del", hostNetns])]);
  if (!registry.agents) {
    for (const i of indexes.filter((i) => `${name}-h${i}` !== hostNetns)) {
      await hgOrFail(hg, `${name}-h${i}`, [
        "peer",
        "sync",
        "--store",
        registry.url,
        "--node",
        `${name}-h${i}`,
      ]);
    }
  }
  log(`${hostNetns}: removed`);
}

/**
 * The lab's namespaces that exist now: containers first, then hosts, then the underlay, the
 * order in which they are removed.
 */
export async function labNamespaces(name: string): Promise<string[]> {
  const rank = (ns: string) => ns.endsWith("-ul") ? 2 : /-c\d+$/.test(ns) ? 0 : 1;
  return (await listNetns()).filter((ns) => belongsToLab(name, ns)).sort((a, b) =>
    rank(a) - rank(b)
  );
}

/**
 * Removes the lab `name`: `hg teardown` in each host (so containers made there by hand go too),
 * then every namespace of the lab, and with them every link, route and rule inside.
 * Returns the namespaces it removed.
 */
export async function labDown(name: string, hg: HgInHost): Promise<string[]> {
  const hosts = (await labNamespaces(name)).filter((ns) => /-h\d+$/.test(ns));
  // Every agent is stopped (or killed) before the namespaces go, whatever else fails.
  const stopped = await Promise.allSettled(hosts.map((host) => stopLabAgent(name, host)));
  await Promise.all(hosts.map((host) => hgOrFail(hg, host, ["teardown"])));
  const namespaces = await labNamespaces(name);
  await applyPlan(namespaces.map((ns) => ipStep(["netns", "del", ns])));
  await stopLabRegistry(name);
  const failed = stopped.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return namespaces;
}
