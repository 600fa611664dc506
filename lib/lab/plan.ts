/**
 * The lab's plans: what `lab up`, `add-node`, `rm-node`, `start-agent` and `down` do, worked
 * out from an observation of the lab alone (pure). A real run applies the plan stage by stage;
 * `--dry-run` prints it (see `render.ts`) and changes nothing.
 *
 * @module
 */
import { HgError, InputError } from "../errors.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import type { Plan } from "../plan/step.ts";
import { DEFAULT_AGENT_TTL } from "./agents.ts";
import { convergenceBudgetMs } from "./convergence.ts";
import {
  afterRemove,
  afterUp,
  type HostNumbers,
  hostsToBuild,
  nextHostNumber,
  reconcileHostNumbers,
} from "./host_numbers.ts";
import type { LabObservation } from "./observe.ts";
import { planPlumbing } from "./plumbing.ts";
import {
  hostRegistryArgs,
  type LabRegistry,
  type LabRegistryOptions,
  labRegistryUrl,
} from "./registry.ts";
import {
  containerAddress,
  type LabHost,
  labHost,
  type LabTopology,
  labTopology,
  MAX_HOST_INDEX,
  MAX_LAB_NODES,
  withHosts,
} from "./topology.ts";

/** `hg ARGS` run inside a lab host. */
export interface HostCommand {
  readonly netns: string;
  readonly args: readonly string[];
}

/**
 * One stage of a lab plan. Stages run one after another; the hg commands of one stage run a few
 * hosts at a time, each host's in order.
 */
export type LabStage =
  /** Record the lab's used host numbers (hosts.json). */
  | { readonly kind: "numbers"; readonly name: string; readonly numbers: HostNumbers }
  /** Namespaces, veths, the underlay bridge: one `ip -batch` per namespace. */
  | { readonly kind: "ip"; readonly plan: Plan }
  /** Start the lab's registry (etcd members, or the file) and record it in registry.json. */
  | {
    readonly kind: "registry";
    readonly topology: LabTopology;
    readonly options: LabRegistryOptions;
    readonly url: string;
  }
  | { readonly kind: "hg"; readonly commands: readonly HostCommand[] }
  /** Start `hg agent` in each host (as a daemon, its log in the lab's directory). */
  | {
    readonly kind: "agents";
    readonly name: string;
    readonly hosts: readonly LabHost[];
    readonly url: string;
    readonly ttl: number;
  }
  /** Wait until each host's agent has set its host up. */
  | {
    readonly kind: "wait-sync";
    readonly name: string;
    readonly hosts: readonly LabHost[];
    readonly budgetMs: number;
  }
  /** Wait until `required` (their agents running) and the running `others` route to each other. */
  | {
    readonly kind: "wait-routes";
    readonly name: string;
    readonly required: readonly LabHost[];
    readonly others: readonly LabHost[];
    readonly budgetMs: number;
  }
  /** Stop agents with SIGTERM (they release their leases and remove their routes). */
  | {
    readonly kind: "stop-agents";
    readonly name: string;
    readonly agents: readonly { readonly netns: string; readonly pid?: number }[];
  }
  /** Delete namespaces (those still there: `hg teardown` removes the containers it made). */
  | { readonly kind: "remove-netns"; readonly namespaces: readonly string[] }
  /** Stop the lab's etcd members and remove its directory. */
  | { readonly kind: "remove-dir"; readonly name: string; readonly etcdPids: readonly number[] };

/** A lab plan: empty when there is nothing to do. */
export type LabPlan = readonly LabStage[];

/** What `lab up` is asked to build its registry with (the agents' argv is not the plan's). */
export interface LabUpRequest extends LabRegistryOptions {
  /** The hosts run agents. */
  readonly agents?: boolean;
}

/** The numbers of the lab's hosts that exist now. */
export function hostIndexes(name: string, namespaces: readonly string[]): number[] {
  return namespaces.flatMap((ns) => {
    const m = new RegExp(`^${name}-h(\\d+)$`).exec(ns);
    return m ? [Number(m[1])] : [];
  }).sort((a, b) => a - b);
}

/** The lab's used host numbers: what hosts.json says, reconciled with the hosts there are. */
function numbersOf(obs: LabObservation): HostNumbers {
  return reconcileHostNumbers(obs.numbers, hostIndexes(obs.name, obs.namespaces));
}

/** A stage that records `numbers`, unless hosts.json holds them already. */
function recordNumbers(obs: LabObservation, numbers: HostNumbers): LabStage[] {
  const same = obs.numbers !== undefined &&
    JSON.stringify(obs.numbers) === JSON.stringify(numbers) && obs.hostsJson !== undefined;
  return same ? [] : [{ kind: "numbers", name: obs.name, numbers }];
}

/** An ip stage, unless it has nothing to do. */
const ipStage = (plan: Plan): LabStage[] => plan.length === 0 ? [] : [{ kind: "ip", plan }];

/**
 * Plans `lab up`: only what is missing (a second run plans no namespace), then in each host the
 * hg commands an operator would run. Without a registry: `hg setup --subnet` with the host's
 * fixed subnet, `hg netns add`, and `hg peer add` for every other host. With one: the network
 * config is written once, each host leases its subnet with `hg setup --store` and adds its
 * container, then routes to the others with `hg peer sync`; or with agents, each host runs
 * `hg agent` (those not running already) and the lab waits until every host routes to every
 * other. Hosts removed with `lab rm-node` are not built again.
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * import { labTopology } from "./topology.ts";
 * planLabUp(await observeLab("hglab"), labTopology("hglab", 2)); // [numbers, ip, hg]
 * ```
 */
export function planLabUp(
  obs: LabObservation,
  topology: LabTopology,
  request?: LabUpRequest,
): LabPlan {
  const { name } = topology;
  const known = obs.registry;
  const knownTtl = known?.agents ? known.agentTtl ?? DEFAULT_AGENT_TTL : undefined;
  if (
    request?.agents && request.agentTtl !== undefined && knownTtl !== undefined &&
    request.agentTtl !== knownTtl
  ) {
    throw new HgError(
      `lab ${name}'s agents run with --ttl ${knownTtl}: "hg lab down" first to change it`,
    );
  }
  const present = hostIndexes(name, obs.namespaces);
  const numbers = numbersOf(obs);
  const lab = withHosts(topology, hostsToBuild(numbers, topology.hosts.length));
  if (lab.hosts.length === 0 && present.length === 0) {
    throw new HgError(
      `lab ${name} has no hosts left (rm-node removed them): "hg lab add-node" adds one, ` +
        `or "hg lab down" and up again`,
    );
  }
  const stages: LabStage[] = [
    ...recordNumbers(obs, afterUp(numbers, topology.hosts.length)),
    ...ipStage(planPlumbing(lab, new Set(obs.namespaces))),
  ];
  if (!request) {
    stages.push({
      kind: "hg",
      commands: lab.hosts.flatMap((host) =>
        [
          ["setup", "--subnet", formatPrefix(host.subnet)],
          ["netns", "add", host.container, "--ip", formatAddress(containerAddress(host))],
          ...lab.hosts.filter((p) => p !== host).map((p) => [
            "peer",
            "add",
            formatPrefix(p.subnet),
            "--via",
            formatAddress(p.address),
          ]),
        ].map((args) => ({ netns: host.netns, args }))
      ),
    });
    return stages;
  }
  if (known && known.kind !== request.kind) {
    throw new HgError(`lab ${name} already uses the ${known.kind} registry: "hg lab down" first`);
  }
  const agents = request.agents === true;
  const ttl = request.agentTtl ?? knownTtl ?? DEFAULT_AGENT_TTL;
  // A running etcd is kept as it is (so are the leases in it); a file registry is recorded again
  // only when what it records changes.
  const running = request.kind === "etcd" && known?.etcdPids !== undefined && obs.etcdAnswers;
  const url = running && known
    ? known.url
    : labRegistryUrl(topology, request.kind, request.etcdMembers);
  const options: LabRegistryOptions = {
    ...request,
    agents,
    agentTtl: agents ? ttl : undefined,
  };
  const recorded: LabRegistry = { kind: "file", url, agents, agentTtl: options.agentTtl };
  if (!running && !(request.kind === "file" && obs.registryJson === JSON.stringify(recorded))) {
    stages.push({ kind: "registry", topology: lab, options, url });
  }
  // Any host of the lab can write the config (those built now may all have been removed).
  const hosts = withHosts(
    labTopology(name, 1),
    [...new Set([...present, ...lab.hosts.map((h) => h.index)])].sort((a, b) => a - b),
  );
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
  stages.push({ kind: "hg", commands: [{ netns: hosts.hosts[0].netns, args: config }] });
  stages.push(...registryHostStages(obs, hosts, lab.hosts, url, agents ? ttl : undefined));
  return stages;
}

/**
 * The stages that bring `hosts` of a registry lab (whose hosts are then `lab`) up: with agents
 * (`ttl` given), each host's agent (unless it runs already) leases its subnet and sets the host
 * up, the host gets its container, and the lab waits until every host routes to every other;
 * without, `hg setup --store` and `hg netns add` in each, then `hg peer sync` on every host.
 */
function registryHostStages(
  obs: LabObservation,
  lab: LabTopology,
  hosts: readonly LabHost[],
  url: string,
  ttl?: number,
): LabStage[] {
  const { name } = lab;
  const container = (host: LabHost) => ({
    netns: host.netns,
    args: ["netns", "add", host.container],
  });
  if (ttl !== undefined) {
    if (hosts.length === 0) return [];
    // A running agent is left alone: a second one would fight it.
    const start = hosts.filter((h) => !obs.agents.has(h.netns));
    const budgetMs = convergenceBudgetMs(lab.hosts.length);
    return [
      ...(start.length === 0 ? [] : [{ kind: "agents", name, hosts: start, url, ttl } as const]),
      { kind: "wait-sync", name, hosts, budgetMs },
      { kind: "hg", commands: hosts.map(container) },
      { kind: "wait-routes", name, required: hosts, others: lab.hosts, budgetMs },
    ];
  }
  return [
    ...(hosts.length === 0 ? [] : [
      {
        kind: "hg",
        commands: hosts.flatMap((host) => [
          { netns: host.netns, args: ["setup", ...hostRegistryArgs(name, host, url)] },
          container(host),
        ]),
      } as const,
    ]),
    // Every host has its lease then: one sync each routes to all the others.
    {
      kind: "hg",
      commands: lab.hosts.map((host) => ({
        netns: host.netns,
        args: ["peer", "sync", "--store", url, "--node", host.netns],
      })),
    },
  ];
}

/**
 * Refuses a lab that is not there at all (no namespace, no directory): its name is bad input,
 * like an unknown container's (exit 2).
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * requireLab(await observeLab("nolab")); // throws: no lab named nolab: "hg lab up --name nolab" builds one
 * ```
 */
export function requireLab(obs: LabObservation): void {
  if (obs.namespaces.length === 0 && obs.dirEntries === undefined) {
    throw new InputError(
      `no lab named ${obs.name}: "hg lab up --name ${obs.name}" builds one`,
    );
  }
}

/** The registry of a lab, for a command that needs one. */
function requireRegistry(obs: LabObservation, command: string): LabRegistry {
  requireLab(obs);
  if (!obs.registry) {
    throw new HgError(
      `lab ${obs.name} has no registry: ${command} needs a lab made with --store or --agent`,
    );
  }
  return obs.registry;
}

/** The agents' TTL of a lab made with `--agent`, else undefined. */
const agentTtlOf = (registry: LabRegistry) =>
  registry.agents ? registry.agentTtl ?? DEFAULT_AGENT_TTL : undefined;

/**
 * Plans `lab add-node`: the next host number (after the highest ever used; recorded before
 * anything is built, so a failed add-node does not hand it out again), its plumbing, and the
 * host brought up the way `lab up` brought up the others.
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * planAddNode(await observeLab("hglab")); // [numbers, ip, hg, hg] for a file-registry lab
 * ```
 */
export function planAddNode(obs: LabObservation): { host: string; plan: LabPlan } {
  const { name } = obs;
  const registry = requireRegistry(obs, "add-node");
  const present = hostIndexes(name, obs.namespaces);
  if (present.length >= MAX_LAB_NODES) {
    throw new HgError(`lab ${name} has ${present.length} hosts, the most a lab may have`);
  }
  const numbers = numbersOf(obs);
  const index = nextHostNumber(numbers);
  if (index > MAX_HOST_INDEX) {
    throw new HgError(
      `lab ${name} has used every host number up to ${MAX_HOST_INDEX}: "hg lab down" and up again`,
    );
  }
  const host = labHost(name, index);
  const lab = withHosts(labTopology(name, 1), [...present, index]);
  return {
    host: host.netns,
    plan: [
      { kind: "numbers", name, numbers: { ...numbers, highest: index } },
      ...ipStage(planPlumbing({ ...lab, hosts: [host] }, new Set(obs.namespaces))),
      ...registryHostStages(obs, lab, [host], registry.url, agentTtlOf(registry)),
    ],
  };
}

/** The host of the lab named `hostNetns`; exit 2 when the lab has none of that name. */
function requireHost(obs: LabObservation, hostNetns: string): number {
  const present = hostIndexes(obs.name, obs.namespaces);
  const index = present.find((i) => `${obs.name}-h${i}` === hostNetns);
  if (index === undefined) {
    throw new InputError(
      `lab ${obs.name} has no host ${JSON.stringify(hostNetns)}: expected one of ${
        present.map((i) => `${obs.name}-h${i}`).join(", ")
      }`,
    );
  }
  return index;
}

/**
 * Plans `lab rm-node HOST`: the host is recorded as gone for good first; its agent stops with
 * --release-on-exit (or, without agents, its lease is released), `hg teardown` in it, its
 * namespace goes, and without agents the others sync.
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * planRemoveNode(await observeLab("hglab"), "hglab-h2");
 * ```
 */
export function planRemoveNode(obs: LabObservation, hostNetns: string): LabPlan {
  const { name } = obs;
  const registry = requireRegistry(obs, "rm-node");
  const index = requireHost(obs, hostNetns);
  const others = hostIndexes(name, obs.namespaces).filter((i) => i !== index)
    .map((i) => `${name}-h${i}`);
  return [
    { kind: "numbers", name, numbers: afterRemove(numbersOf(obs), index) },
    registry.agents
      ? {
        kind: "stop-agents",
        name,
        agents: [{ netns: hostNetns, pid: obs.agents.get(hostNetns) }],
      }
      : {
        kind: "hg",
        commands: [{
          netns: hostNetns,
          args: ["subnet", "release", "--store", registry.url, "--node", hostNetns],
        }],
      },
    { kind: "hg", commands: [{ netns: hostNetns, args: ["teardown", "--force"] }] },
    { kind: "remove-netns", namespaces: [hostNetns] },
    ...(registry.agents ? [] : [
      {
        kind: "hg",
        commands: others.map((netns) => ({
          netns,
          args: ["peer", "sync", "--store", registry.url, "--node", netns],
        })),
      } as const,
    ]),
  ];
}

/**
 * Plans `lab start-agent HOST`: its agent again with the flags `lab up` gave it, then waits until
 * it has set its host up and every host whose agent runs routes to every other.
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * planStartAgent(await observeLab("hglab"), "hglab-h2"); // [agents, wait-sync, wait-routes]
 * ```
 */
export function planStartAgent(obs: LabObservation, hostNetns: string): LabPlan {
  const { name } = obs;
  requireLab(obs);
  const present = hostIndexes(name, obs.namespaces);
  const index = requireHost(obs, hostNetns);
  const ttl = obs.registry && agentTtlOf(obs.registry);
  if (!obs.registry || ttl === undefined) {
    throw new HgError(`lab ${name} runs no agents: start-agent needs a lab made with --agent`);
  }
  const running = obs.agents.get(hostNetns);
  if (running !== undefined) {
    throw new HgError(`the agent of ${hostNetns} already runs (pid ${running})`);
  }
  const host = labHost(name, index);
  return [
    { kind: "agents", name, hosts: [host], url: obs.registry.url, ttl },
    { kind: "wait-sync", name, hosts: [host], budgetMs: convergenceBudgetMs(1) },
    {
      kind: "wait-routes",
      name,
      required: [host],
      others: withHosts(labTopology(name, 1), present).hosts,
      budgetMs: convergenceBudgetMs(present.length),
    },
  ];
}

/**
 * Plans `lab down`: every agent stopped, `hg teardown` in each host (so containers made there by
 * hand go too), then every namespace of the lab, then its etcd and directory. A lab that is not
 * there at all is bad input (exit 2).
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * planLabDown(await observeLab("hglab")); // [stop-agents, hg, remove-netns, remove-dir]
 * ```
 */
export function planLabDown(obs: LabObservation): LabPlan {
  requireLab(obs);
  const { name } = obs;
  const hosts = obs.namespaces.filter((ns) => /-h\d+$/.test(ns));
  const agents = [...obs.agents].map(([netns, pid]) => ({ netns, pid }));
  return [
    ...(agents.length === 0 ? [] : [{ kind: "stop-agents", name, agents } as const]),
    ...(hosts.length === 0 ? [] : [
      {
        kind: "hg",
        commands: hosts.map((netns) => ({ netns, args: ["teardown", "--force"] })),
      } as const,
    ]),
    ...(obs.namespaces.length === 0
      ? []
      : [{ kind: "remove-netns", namespaces: obs.namespaces } as const]),
    ...(obs.dirEntries === undefined
      ? []
      : [{ kind: "remove-dir", name, etcdPids: obs.registry?.etcdPids ?? [] } as const]),
  ];
}
