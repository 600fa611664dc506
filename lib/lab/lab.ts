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
import {
  agentLogPath,
  DEFAULT_AGENT_TTL,
  labAgentPid,
  startLabAgent,
  stopLabAgent,
} from "./agents.ts";
import {
  type AwaitedAgent,
  convergenceBudgetMs,
  waitForRoutes,
  waitForSync,
} from "./convergence.ts";
import {
  afterRemove,
  afterUp,
  hostsToBuild,
  nextHostNumber,
  readHostNumbers,
  writeHostNumbers,
} from "./host_numbers.ts";
import { HG_JOBS, inParallel } from "./parallel.ts";
import {
  hostRegistryArgs,
  labDir,
  type LabRegistry,
  type LabRegistryOptions,
  readLabRegistry,
  startLabRegistry,
  stopLabRegistry,
} from "./registry.ts";
import {
  belongsToLab,
  containerAddress,
  type LabHost,
  labHost,
  type LabTopology,
  labTopology,
  MAX_HOST_INDEX,
  MAX_LAB_NODES,
  withHosts,
} from "./topology.ts";

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

/**
 * Runs each host's commands in order, a few hosts at a time, logging one line per command.
 */
async function runOnHosts(
  topology: LabTopology,
  hg: HgInHost,
  log: (line: string) => void,
  commandsOf: (host: LabHost) => string[][],
): Promise<void> {
  await inParallel(topology.hosts, HG_JOBS, async (host) => {
    for (const args of commandsOf(host)) {
      const summary = (await hgOrFail(hg, host.netns, args)).trim().split("\n").pop() ?? "";
      log(`${host.netns}: hg ${args.join(" ")}${summary ? `  # ${summary}` : ""}`);
    }
  });
}

/** How `lab up` makes a lab's registry, and its agents (`agentArgv`, the argv of hg). */
export interface LabUpRegistry extends LabRegistryOptions {
  readonly agentArgv?: readonly string[];
}

/**
 * Builds the lab (only what is missing, so a second run changes nothing): underlay, hosts, then
 * in each host the hg commands an operator would run. Without a registry: `hg setup --subnet`
 * with the host's fixed subnet, `hg netns add`, and `hg peer add` for every other host. With
 * one (`registry`): the network config is written once, each host leases its subnet with
 * `hg setup --store`, adds its container, and then routes to the others with `hg peer sync`;
 * or, with agents, each host runs `hg agent` (those not running already) and the lab waits
 * until every host routes to every other. Hosts removed with `lab rm-node` are not built again.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * import { labTopology } from "./topology.ts";
 * const hgInHost = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * await labUp(labTopology("hglab", 2), hgInHost, console.log, { kind: "etcd" });
 * ```
 */
export async function labUp(
  topology: LabTopology,
  hg: HgInHost,
  log: (line: string) => void,
  registry?: LabUpRegistry,
): Promise<void> {
  const { name } = topology;
  const known = await readLabRegistry(name);
  const knownTtl = known?.agents ? known.agentTtl ?? DEFAULT_AGENT_TTL : undefined;
  if (
    registry?.agentArgv && registry.agentTtl !== undefined && knownTtl !== undefined &&
    registry.agentTtl !== knownTtl
  ) {
    throw new HgError(
      `lab ${name}'s agents run with --ttl ${knownTtl}: "hg lab down" first to change it`,
    );
  }
  const present = await labHostIndexes(name);
  const numbers = await readHostNumbers(name, present);
  const lab = withHosts(topology, hostsToBuild(numbers, topology.hosts.length));
  if (lab.hosts.length === 0 && present.length === 0) {
    throw new HgError(
      `lab ${name} has no hosts left (rm-node removed them): "hg lab add-node" adds one, ` +
        `or "hg lab down" and up again`,
    );
  }
  await writeHostNumbers(name, afterUp(numbers, topology.hosts.length));
  await applyPlan(planPlumbing(lab, new Set(await listNetns())));
  if (!registry) {
    await runOnHosts(lab, hg, log, (host) => [
      ["setup", "--subnet", formatPrefix(host.subnet)],
      ["netns", "add", host.container, "--ip", formatAddress(containerAddress(host))],
      ...lab.hosts.filter((p) => p !== host).map((p) => [
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
  const agentTtl = registry.agentTtl ?? knownTtl ?? DEFAULT_AGENT_TTL;
  const { url } = await startLabRegistry(lab, {
    ...registry,
    agents: agentArgv !== undefined,
    agentTtl: agentArgv !== undefined ? agentTtl : undefined,
  });
  // Any host of the lab can write the config (those built now may all have been removed).
  const hosts = await presentTopology(name);
  const first = hosts.hosts[0];
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
  await addRegistryHosts(
    hosts,
    lab.hosts,
    hg,
    log,
    url,
    agentArgv && { argv: agentArgv, ttl: agentTtl },
  );
}

/** The lab's hosts as they are now (their namespaces exist). */
async function presentTopology(name: string): Promise<LabTopology> {
  return withHosts(labTopology(name, 1), await labHostIndexes(name));
}

/** How lab agents run: hg's argv and the lease TTL. */
interface AgentRun {
  readonly argv: readonly string[];
  readonly ttl: number;
}

/**
 * Brings `hosts` of a registry lab (whose hosts now are `lab`) up: with agents, each host's
 * agent (unless it runs already) leases its subnet and sets the host up, the host gets its
 * container, and hg waits until every host routes to every other; without, `hg setup --store`
 * and `hg netns add` in each, then `hg peer sync` on every host.
 */
async function addRegistryHosts(
  lab: LabTopology,
  hosts: readonly LabHost[],
  hg: HgInHost,
  log: (line: string) => void,
  url: string,
  agents?: AgentRun,
): Promise<void> {
  const { name } = lab;
  if (agents) {
    const awaited: AwaitedAgent[] = [];
    for (const host of hosts) {
      // `lab up` again leaves a running agent alone: a second one would fight it.
      if (await labAgentPid(name, host.netns) !== undefined) {
        awaited.push({ host });
        continue;
      }
      awaited.push({ host, pid: await startAgent(name, host, url, agents, log) });
    }
    await waitForSync(awaited, convergenceBudgetMs(lab.hosts.length), logHint(name));
    await inParallel(hosts, HG_JOBS, async (host) => {
      const added = await hgOrFail(hg, host.netns, ["netns", "add", host.container]);
      log(`${host.netns}: hg netns add ${host.container}  # ${added.trim()}`);
    });
    await waitForRoutes(hosts, lab.hosts, convergenceBudgetMs(lab.hosts.length), logHint(name));
    return;
  }
  await runOnHosts({ ...lab, hosts }, hg, log, (host) => [
    ["setup", ...hostRegistryArgs(name, host, url)],
    ["netns", "add", host.container],
  ]);
  // Every host has its lease now: one sync each routes to all the others.
  await runOnHosts(
    lab,
    hg,
    log,
    (host) => [["peer", "sync", "--store", url, "--node", host.netns]],
  );
}

/** Starts the agent of a lab host and says so; returns its PID. */
async function startAgent(
  name: string,
  host: LabHost,
  url: string,
  agents: AgentRun,
  log: (line: string) => void,
): Promise<number> {
  const pid = await startLabAgent(name, host, agents.argv, url, agents.ttl);
  const logPath = agentLogPath(name, host.netns);
  log(
    `${host.netns}: hg agent --store ${url} --node ${host.netns} --ttl ${agents.ttl} (log: ${logPath})`,
  );
  return pid;
}

/** Where to look when agents do not come up. */
const logHint = (name: string) => `; see ${labDir(name)}/*.agent.log`;

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
 * Adds a host to a running registry lab, the same way `lab up` made the others. It is numbered
 * after the highest number the lab ever used (a removed host's number is not given again), and
 * only it is built. Returns the new host's namespace.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hgInHost = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * await labAddNode("hglab", hgInHost, console.log, ["hg"]); // "hglab-h4"
 * ```
 */
export async function labAddNode(
  name: string,
  hg: HgInHost,
  log: (line: string) => void,
  hgArgv: readonly string[],
): Promise<string> {
  const registry = await requireLabRegistry(name, "add-node");
  const present = await labHostIndexes(name);
  if (present.length >= MAX_LAB_NODES) {
    throw new HgError(`lab ${name} has ${present.length} hosts, the most a lab may have`);
  }
  const numbers = await readHostNumbers(name, present);
  const index = nextHostNumber(numbers);
  if (index > MAX_HOST_INDEX) {
    throw new HgError(
      `lab ${name} has used every host number up to ${MAX_HOST_INDEX}: "hg lab down" and up again`,
    );
  }
  // Taken before anything is built: a failed add-node does not hand its number out again.
  await writeHostNumbers(name, { ...numbers, highest: index });
  const host = labHost(name, index);
  const lab = withHosts(labTopology(name, 1), [...present, index]);
  await applyPlan(planPlumbing({ ...lab, hosts: [host] }, new Set(await listNetns())));
  await addRegistryHosts(lab, [host], hg, log, registry.url, agentRun(registry, hgArgv));
  return host.netns;
}

/** How the agents of a lab made with `--agent` run (hg's argv is this hg's). */
function agentRun(registry: LabRegistry, argv: readonly string[]): AgentRun | undefined {
  return registry.agents ? { argv, ttl: registry.agentTtl ?? DEFAULT_AGENT_TTL } : undefined;
}

/**
 * Starts the agent of `hostNetns` again after it stopped (it was killed, say), exactly as
 * `lab up` started it (same flags, its log appended to), and waits until it has set its host up
 * and every host whose agent runs routes to every other. Returns the agent's PID.
 *
 * @example
 * ```ts
 * await labStartAgent("hglab", "hglab-h2", console.log, ["hg"]); // 12345
 * ```
 */
export async function labStartAgent(
  name: string,
  hostNetns: string,
  log: (line: string) => void,
  hgArgv: readonly string[],
): Promise<number> {
  const present = await labHostIndexes(name);
  if (present.length === 0) {
    throw new HgError(`no lab named ${name} is up: "hg lab up" builds one`);
  }
  const index = present.find((i) => `${name}-h${i}` === hostNetns);
  if (index === undefined) {
    throw new InputError(
      `lab ${name} has no host ${JSON.stringify(hostNetns)}: expected one of ${
        present.map((i) => `${name}-h${i}`).join(", ")
      }`,
    );
  }
  const registry = await readLabRegistry(name);
  const agents = registry && agentRun(registry, hgArgv);
  if (!registry || !agents) {
    throw new HgError(`lab ${name} runs no agents: start-agent needs a lab made with --agent`);
  }
  const running = await labAgentPid(name, hostNetns);
  if (running !== undefined) {
    throw new HgError(`the agent of ${hostNetns} already runs (pid ${running})`);
  }
  const host = labHost(name, index);
  const pid = await startAgent(name, host, registry.url, agents, log);
  await waitForSync([{ host, pid }], convergenceBudgetMs(1), logHint(name));
  const lab = withHosts(labTopology(name, 1), present);
  await waitForRoutes([host], lab.hosts, convergenceBudgetMs(present.length), logHint(name));
  return pid;
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
  const index = indexes.find((i) => `${name}-h${i}` === hostNetns);
  if (index === undefined) {
    throw new InputError(`lab ${name} has no host ${hostNetns}`);
  }
  // Recorded first: whatever happens next, the host is leaving and its number is not reused.
  await writeHostNumbers(name, afterRemove(await readHostNumbers(name, indexes), index));
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
 * order in which they are removed; by number within each (h2 before h10).
 */
export async function labNamespaces(name: string): Promise<string[]> {
  const rank = (ns: string) => ns.endsWith("-ul") ? 2 : /-c\d+$/.test(ns) ? 0 : 1;
  return (await listNetns()).filter((ns) => belongsToLab(name, ns)).sort((a, b) =>
    rank(a) - rank(b) || a.localeCompare(b, "en", { numeric: true })
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
  await inParallel(hosts, HG_JOBS, (host) => hgOrFail(hg, host, ["teardown"]));
  const namespaces = await labNamespaces(name);
  await applyPlan(namespaces.map((ns) => ipStep(["netns", "del", ns])));
  await stopLabRegistry(name);
  const failed = stopped.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return namespaces;
}
