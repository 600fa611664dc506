/**
 * The lab's plans: what `lab up`, `add-node`, `rm-node`, `start-agent`, `move-node` and `down`
 * do, worked out from an observation of the lab alone (pure). A real run applies the plan stage
 * by stage; `--dry-run` prints it (see `render.ts`) and changes nothing.
 *
 * @module
 */
import { HgError, InputError } from "../errors.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import type { Plan } from "../plan/step.ts";
import { vtepMac } from "../vxlan/vtep.ts";
import { DEFAULT_AGENT_TTL } from "./agents.ts";
import { convergenceBudgetMs } from "./convergence.ts";
import {
  afterRemove,
  afterUp,
  type HostNumbers,
  hostNumbers,
  hostsToBuild,
  nextHostNumber,
  reconcileHostNumbers,
} from "./host_numbers.ts";
import { type LabObservation, labShape, recordedBackend, recordedFamily } from "./observe.ts";
import {
  type LabPeers,
  labPeers,
  PEER_ADD_MAX_HOSTS,
  peersFile,
  peersFileHolds,
} from "./peers_file.ts";
import { planPlumbing, planUplinkMove, splitNamespaceAdds } from "./plumbing.ts";
import {
  hostRegistryArgs,
  type LabRegistry,
  type LabRegistryOptions,
  labRegistryUrl,
} from "./registry.ts";
import {
  containerAddress,
  type LabBackend,
  type LabFamily,
  type LabHost,
  type LabTopology,
  labTopology,
  MAX_HOST_INDEX,
  MAX_LAB_NODES,
  routable,
  withHosts,
} from "./topology.ts";

/** `hg ARGS` run inside a lab host. */
export interface HostCommand {
  readonly netns: string;
  readonly args: readonly string[];
  /**
   * Set when hg is expected to refuse the command as bad input (exit 2), and why: the lab shows
   * the refusal (a host-gw route to a peer on another segment) instead of failing on it.
   */
  readonly refused?: string;
}

/**
 * One stage of a lab plan. Stages run one after another; the hg commands of one stage run a few
 * hosts at a time, each host's in order.
 */
export type LabStage =
  /** Record the lab's used host numbers (hosts.json). */
  | { readonly kind: "numbers"; readonly name: string; readonly numbers: HostNumbers }
  /** Namespaces, veths, the underlay bridges: one `ip -batch` per namespace. */
  | { readonly kind: "ip"; readonly plan: Plan }
  /** IPv4 forwarding on inside `netns` (the underlay namespace routes between the segments). */
  | { readonly kind: "forwarding"; readonly netns: string }
  /**
   * IPv6 duplicate address detection off inside each of `namespaces`, made just now and still
   * without links (a lab with IPv6: see `NO_DAD_SYSCTLS`).
   */
  | { readonly kind: "no-dad"; readonly namespaces: readonly string[] }
  /** Start the lab's registry (etcd members, or the file) and record it in registry.json. */
  | {
    readonly kind: "registry";
    readonly topology: LabTopology;
    readonly options: LabRegistryOptions;
    readonly url: string;
  }
  /**
   * Write the peers file of a lab without a registry (see `peers_file.ts`): every host's fixed
   * subnets and addresses, for `hg peer sync --store FILE` in each.
   */
  | { readonly kind: "peers"; readonly path: string; readonly peers: LabPeers }
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
  /**
   * Wait until `required` (their agents running) and the running `others` route to each other
   * (the pairs `backend` can route: across segments only VXLAN).
   */
  | {
    readonly kind: "wait-routes";
    readonly name: string;
    readonly required: readonly LabHost[];
    readonly others: readonly LabHost[];
    readonly backend: LabBackend;
    readonly budgetMs: number;
  }
  /** Kill an agent with SIGKILL: unlike SIGTERM, it keeps its lease (and its routes stay). */
  | {
    readonly kind: "kill-agent";
    readonly name: string;
    readonly netns: string;
    readonly pid: number;
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
 * The stages that make the lab's missing plumbing `plan`: one ip stage; in a lab with IPv6, the
 * new namespaces first, then DAD off in them before any link is made there, then the rest.
 */
function plumbingStages(lab: LabTopology, plan: Plan): LabStage[] {
  if (lab.family === "ipv4") return ipStage(plan);
  const { namespaces, rest } = splitNamespaceAdds(plan);
  const made = namespaces.flatMap((step) => step.kind === "ip" ? [step.args[2]] : []);
  return [
    ...ipStage(namespaces),
    ...(made.length === 0 ? [] : [{ kind: "no-dad", namespaces: made } as const]),
    ...ipStage(rest),
  ];
}

/** The lab as it is: its shape, and exactly the hosts numbered `indexes` where they are now. */
export function labAsObserved(obs: LabObservation, indexes: readonly number[]): LabTopology {
  return withHosts(labTopology(obs.name, 1, labShape(obs)), indexes, obs.placement);
}

/**
 * `hg setup` of a host of a lab without a registry: its fixed subnet; with VXLAN also the
 * backend and the public address its VTEP sends from (a lab host has no default route to find
 * it by, and its VTEP's MAC, which the other hosts are told, derives from it).
 */
function staticSetupArgs(lab: LabTopology, host: LabHost): string[] {
  return [
    "setup",
    "--subnet",
    formatPrefix(host.subnet),
    ...(host.ipv6Subnet ? ["--ipv6-subnet", formatPrefix(host.ipv6Subnet)] : []),
    ...(lab.backend === "vxlan"
      ? ["--backend", "vxlan", "--public-ip", formatAddress(host.address)]
      : []),
  ];
}

/**
 * `hg peer add` on `host` for `peer`'s subnet through `peer`'s address of its family (and for a
 * dual-stack peer its IPv6 subnet through its IPv6 address), as an operator of a lab without a
 * registry runs it: across segments with VXLAN also the peer's VTEP MAC (known in advance: it
 * derives from the peer's address); across segments with host-gw it is expected to be refused
 * (the peer's address is not on-link). Labs with IPv6 have one segment.
 */
function peerAddCommands(lab: LabTopology, host: LabHost, peer: LabHost): HostCommand[] {
  const args = ["peer", "add", formatPrefix(peer.subnet), "--via", formatAddress(peer.publicIp)];
  if (host.segment === peer.segment) {
    const ipv6 = peer.ipv6Subnet && peer.ipv6Address && [
      "peer",
      "add",
      formatPrefix(peer.ipv6Subnet),
      "--via",
      formatAddress(peer.ipv6Address),
    ];
    return [{ netns: host.netns, args }, ...(ipv6 ? [{ netns: host.netns, args: ipv6 }] : [])];
  }
  if (lab.backend === "vxlan") {
    return [{ netns: host.netns, args: [...args, "--vtep-mac", vtepMac(peer.address)] }];
  }
  return [{
    netns: host.netns,
    args,
    refused: `${peer.netns} is on segment ${peer.segment}, not on-link: host-gw cannot reach it`,
  }];
}

/**
 * Refuses a `lab up` whose segments, backend or address families are not those of the lab that
 * is there.
 */
function requireSameShape(obs: LabObservation, topology: LabTopology): void {
  const { name } = topology;
  const segments = topology.segments.length;
  if (obs.segments && obs.segments !== segments) {
    throw new HgError(
      `lab ${name} has ${obs.segments} segment${obs.segments === 1 ? "" : "s"}, not ${segments}: ` +
        `"hg lab down --name ${name}" first to change it`,
    );
  }
  const backend = recordedBackend(obs);
  if (backend !== undefined && backend !== topology.backend) {
    throw new HgError(
      `lab ${name} uses the ${backend} backend, not ${topology.backend}: ` +
        `"hg lab down --name ${name}" first to change it`,
    );
  }
  const family = recordedFamily(obs);
  if (family !== undefined && family !== topology.family) {
    throw new HgError(
      `lab ${name} is ${describeFamily(family)}, not ${describeFamily(topology.family)}: ` +
        `"hg lab down --name ${name}" first to change it`,
    );
  }
}

/** A lab's address families in words. */
const describeFamily = (family: LabFamily) =>
  family === "ipv4" ? "IPv4" : family === "ipv6" ? "IPv6-only" : "dual-stack";

/**
 * Plans `lab up`: only what is missing (a second run plans no namespace), then in each host the
 * hg commands an operator would run. Without a registry: `hg setup --subnet` with the host's
 * fixed subnet, `hg netns add`, and `hg peer add` for every other host (beyond 3 hosts one
 * `hg peer sync` from the lab's peers file instead, see {@link staticHostStages}). With one:
 * the network config is written once, each host leases its subnet with `hg setup --store` and
 * adds its container, then routes to the others with `hg peer sync`; or with agents, each host runs
 * `hg agent` (those not running already) and the lab waits until every host routes to every
 * other. Hosts removed with `lab rm-node` are not built again. With more than one segment the
 * underlay namespace routes between them (forwarding on inside it), and the topology's backend
 * decides how hosts on different segments reach each other. A lab that is there keeps its
 * segments and backend: another `topology` shape is refused.
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
  requireSameShape(obs, topology);
  const present = hostIndexes(name, obs.namespaces);
  const numbers = numbersOf(obs);
  const lab = withHosts(topology, hostsToBuild(numbers, topology.hosts.length), obs.placement);
  if (lab.hosts.length === 0 && present.length === 0) {
    throw new HgError(
      `lab ${name} has no hosts left (rm-node removed them): "hg lab add-node" adds one, ` +
        `or "hg lab down" and up again`,
    );
  }
  const upNumbers = afterUp(numbers, topology.hosts.length);
  const existing = new Set(obs.namespaces);
  const stages: LabStage[] = [
    ...recordNumbers(
      obs,
      hostNumbers(upNumbers.highest, upNumbers.removed, topology.backend, topology.family),
    ),
    ...plumbingStages(lab, planPlumbing(lab, existing)),
    // A new underlay namespace of more than one segment routes between them.
    ...(existing.has(topology.underlayNetns) || topology.segments.length === 1
      ? []
      : [{ kind: "forwarding", netns: topology.underlayNetns } as const]),
  ];
  if (!request) {
    stages.push(
      ...staticHostStages(
        withHosts(topology, union(present, lab), obs.placement),
        lab,
        obs.peersJson,
      ),
    );
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
  const hosts = withHosts(topology, union(present, lab), obs.placement);
  const config = [
    "subnet",
    "config",
    "--store",
    url,
    "--network",
    formatPrefix(topology.network),
    "--subnet-len",
    topology.family === "ipv6" ? "64" : "24",
    ...(topology.ipv6Network
      ? ["--ipv6-network", formatPrefix(topology.ipv6Network), "--ipv6-subnet-len", "64"]
      : []),
    // Hosts on one segment still route to each other directly (flannel's DirectRouting).
    ...(topology.backend === "vxlan" ? ["--backend", "vxlan", "--direct-routing"] : []),
  ];
  stages.push({ kind: "hg", commands: [{ netns: hosts.hosts[0].netns, args: config }] });
  stages.push(...registryHostStages(obs, hosts, lab.hosts, url, agents ? ttl : undefined));
  return stages;
}

/** The numbers of the hosts `present` and those of `lab`, in order. */
const union = (present: readonly number[], lab: LabTopology) =>
  [...new Set([...present, ...lab.hosts.map((h) => h.index)])].sort((a, b) => a - b);

/**
 * Whether a lab without a registry of `hosts` hosts routes through its peers file (more than
 * {@link PEER_ADD_MAX_HOSTS}) rather than with `hg peer add` per peer.
 *
 * @example
 * ```ts
 * routesByPeersFile(3); // false: 6 peer adds
 * routesByPeersFile(50); // true: 50 peer syncs instead of 2,450 peer adds
 * ```
 */
export const routesByPeersFile = (hosts: number): boolean => hosts > PEER_ADD_MAX_HOSTS;

/**
 * The stages that set up `built`, the hosts of a lab without a registry being built now (whose
 * hosts are then `lab`), as an operator would: `hg setup --subnet` with each host's fixed subnet
 * and `hg netns add`; then, in a small lab, `hg peer add` on each for every other. A bigger
 * lab first writes its peers file (every host of `lab`; unless `peersJson`, the file's text,
 * holds them already), and each host of `lab` runs one
 * `hg peer sync --store FILE` (after its setup when it is built now): one hg process per host
 * for its routes, whatever the lab's size.
 *
 * @example
 * ```ts
 * import { labTopology } from "./topology.ts";
 * const lab = labTopology("x", 5);
 * staticHostStages(lab, lab).map((s) => s.kind); // ["peers", "hg"]
 * ```
 */
export function staticHostStages(
  lab: LabTopology,
  built: LabTopology,
  peersJson?: string,
  now = Date.now(),
): LabStage[] {
  const setup = (host: LabHost): HostCommand[] => [
    { netns: host.netns, args: staticSetupArgs(built, host) },
    {
      netns: host.netns,
      args: ["netns", "add", host.container, "--ip", formatAddress(containerAddress(host))],
    },
  ];
  if (!routesByPeersFile(lab.hosts.length)) {
    return [{
      kind: "hg",
      commands: built.hosts.flatMap((host) => [
        ...setup(host),
        ...built.hosts.filter((p) => p !== host).flatMap((p) => peerAddCommands(built, host, p)),
      ]),
    }];
  }
  // The file first (pure data): each host then syncs as soon as it is set up, no host waits
  // for the others.
  const path = peersFile(lab.name);
  const building = new Set(built.hosts.map((h) => h.index));
  const peers = labPeers(lab);
  return [
    ...(peersFileHolds(peersJson, peers, now) ? [] : [{ kind: "peers", path, peers } as const]),
    {
      kind: "hg",
      commands: lab.hosts.flatMap((host) => [
        ...(building.has(host.index) ? setup(host) : []),
        peerSyncCommand(host, path),
      ]),
    },
  ];
}

/** `hg peer sync` of `host` from `url` (a registry, or a peers file). */
const peerSyncCommand = (host: LabHost, url: string): HostCommand => ({
  netns: host.netns,
  args: ["peer", "sync", "--store", url, "--node", host.netns],
});

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
      {
        kind: "wait-routes",
        name,
        required: hosts,
        others: lab.hosts,
        backend: lab.backend,
        budgetMs,
      },
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
      commands: lab.hosts.map((host) => peerSyncCommand(host, url)),
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
  const lab = labAsObserved(obs, [...present, index]);
  const host = lab.hosts[lab.hosts.length - 1];
  return {
    host: host.netns,
    plan: [
      { kind: "numbers", name, numbers: { ...numbers, highest: index } },
      ...plumbingStages(lab, planPlumbing({ ...lab, hosts: [host] }, new Set(obs.namespaces))),
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
  const lab = labAsObserved(obs, present);
  const host = lab.hosts.find((h) => h.index === index)!;
  return [
    { kind: "agents", name, hosts: [host], url: obs.registry.url, ttl },
    { kind: "wait-sync", name, hosts: [host], budgetMs: convergenceBudgetMs(1) },
    {
      kind: "wait-routes",
      name,
      required: [host],
      others: lab.hosts,
      backend: lab.backend,
      budgetMs: convergenceBudgetMs(present.length),
    },
  ];
}

/**
 * Plans `lab move-node HOST --segment K`: the host's uplink goes to segment K (its port onto
 * bridge `ul{K}`, its address host 10+N of that segment, its routes to the other segments
 * through K's router), then the lab tells the others, the way it set the host up:
 * - with agents: a running agent is killed (SIGKILL keeps its lease: SIGTERM would release it)
 *   and started again with the new `--public-ip`; as a returning node it renews its own lease
 *   with that address, and the lab waits until the hosts route to each other again. A host
 *   whose agent is not running only moves (its next `lab start-agent` registers it);
 * - with a registry and no agents: `hg setup --store` in the host (its lease gets the new
 *   address), then `hg peer sync` in every host;
 * - without a registry: with VXLAN `hg setup` again in the host (its VTEP sends from the new
 *   address), then each `hg peer add` that involves the host again, on both sides; with host-gw
 *   the hosts left behind on its old segment `hg peer rm` its subnet (now off-link), and hosts
 *   on its new segment add it; a lab routed through its peers file (more than
 *   {@link PEER_ADD_MAX_HOSTS} hosts) writes the file again and every host syncs to it.
 * An empty plan when the host is on K already. `host` is its number or its namespace; a host or
 * segment the lab does not have is bad input (exit 2). Returns the host as it is after the move
 * (and a note when its agent should run but does not).
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * planMoveNode(await observeLab("hglab"), "2", 0).plan; // [ip, hg] for a lab without a registry
 * ```
 */
export function planMoveNode(
  obs: LabObservation,
  host: string,
  segment: number,
): { host: LabHost; plan: LabPlan; note?: string } {
  const { name } = obs;
  requireLab(obs);
  const index = requireHost(obs, /^\d+$/.test(host) ? `${name}-h${Number(host)}` : host);
  const present = hostIndexes(name, obs.namespaces);
  const before = labAsObserved(obs, present);
  const count = before.segments.length;
  if (!Number.isInteger(segment) || segment < 0 || segment >= count) {
    throw new InputError(
      `--segment ${segment} is not a segment of lab ${name}: expected ${
        count === 1 ? "0 (it has one segment)" : `0-${count - 1}`
      }`,
    );
  }
  const from = before.hosts.find((h) => h.index === index)!;
  if (from.segment === segment) return { host: from, plan: [] };
  const after = withHosts(
    before,
    present,
    new Map([...before.hosts.map((h) => [h.index, h.segment] as const), [index, segment]]),
  );
  const to = after.hosts.find((h) => h.index === index)!;
  const stopped = obs.registry?.agents === true && !obs.agents.has(to.netns);
  return {
    host: to,
    ...(stopped
      ? {
        note: `its agent does not run: "hg lab start-agent ${to.netns} --name ${name}" ` +
          `registers its new address`,
      }
      : {}),
    plan: [
      { kind: "ip", plan: planUplinkMove(after, from, to) },
      ...tellOthersOfMove(obs, before, after, from, to),
    ],
  };
}

/**
 * The stages that tell the lab that `from` is now `to` (see {@link planMoveNode}): `before` and
 * `after` are the lab without and with the move.
 */
function tellOthersOfMove(
  obs: LabObservation,
  before: LabTopology,
  after: LabTopology,
  from: LabHost,
  to: LabHost,
): LabStage[] {
  const { name } = obs;
  const registry = obs.registry;
  if (registry?.agents) {
    const pid = obs.agents.get(to.netns);
    if (pid === undefined) return [];
    return [
      { kind: "kill-agent", name, netns: to.netns, pid },
      { kind: "agents", name, hosts: [to], url: registry.url, ttl: agentTtlOf(registry)! },
      { kind: "wait-sync", name, hosts: [to], budgetMs: convergenceBudgetMs(1) },
      {
        kind: "wait-routes",
        name,
        required: [to],
        others: after.hosts,
        backend: after.backend,
        budgetMs: convergenceBudgetMs(after.hosts.length),
      },
    ];
  }
  if (registry) {
    return [
      {
        kind: "hg",
        commands: [{
          netns: to.netns,
          args: ["setup", ...hostRegistryArgs(name, to, registry.url)],
        }],
      },
      {
        kind: "hg",
        commands: after.hosts.map((h) => ({
          netns: h.netns,
          args: ["peer", "sync", "--store", registry.url, "--node", h.netns],
        })),
      },
    ];
  }
  const commands: HostCommand[] = after.backend === "vxlan"
    ? [{ netns: to.netns, args: staticSetupArgs(after, to) }]
    : [];
  if (routesByPeersFile(after.hosts.length)) {
    // The file says where the host is now; each host syncs to it (a host on its old segment
    // drops its route under host-gw: the lease's address is off-link there now).
    const path = peersFile(name);
    return [
      { kind: "peers", path, peers: labPeers(after) },
      { kind: "hg", commands: [...commands, ...after.hosts.map((h) => peerSyncCommand(h, path))] },
    ];
  }
  for (const peer of after.hosts.filter((h) => h !== to)) {
    // The host's routes through its old segment went with its old address: only the peers it
    // can route to now need one.
    if (routable(after, to, peer)) commands.push(...peerAddCommands(after, to, peer));
    if (routable(after, peer, to)) commands.push(...peerAddCommands(after, peer, to));
    else if (routable(before, peer, from)) {
      commands.push({ netns: peer.netns, args: ["peer", "rm", formatPrefix(to.subnet)] });
    }
  }
  return commands.length === 0 ? [] : [{ kind: "hg", commands }];
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
