/**
 * A lab plan as lines, as `--dry-run` prints them: the `ip` commands of the plumbing exactly,
 * each hg command as `HOST: hg ARGS` (the line a real run prints when it ran it), and in words
 * what the lab does around them (files it writes, daemons it starts or stops, what it waits for).
 *
 * @module
 */
import { renderPlan } from "../plan/render.ts";
import { describeNetworks } from "../store/config.ts";
import { agentLogPath, labAgentArgs } from "./agents.ts";
import type { LabStage } from "./plan.ts";
import { etcdEndpoints, labDir, registryFile } from "./registry.ts";
import type { LabHost } from "./topology.ts";
import { hostsFile } from "./host_numbers.ts";
import { NO_DAD_SYSCTLS } from "./plumbing.ts";

/** What turns IPv4 forwarding on, run inside the underlay namespace (the segments' router). */
export const FORWARDING_ARGV: readonly string[] = ["sysctl", "-w", "net.ipv4.ip_forward=1"];

/** What turns IPv6 DAD off, run inside a new namespace of a lab with IPv6. */
export const NO_DAD_ARGV: readonly string[] = ["sysctl", "-q", "-w", ...NO_DAD_SYSCTLS];

/**
 * The line for starting the agent of `host` (also what a real run prints once it started it).
 *
 * @example
 * ```ts
 * import { labHost } from "./topology.ts";
 * agentLine("hglab", labHost("hglab", 1), "etcd://10.0.12.2:2379", 60); // "hglab-h1: hg agent --store ... (log: ...)"
 * ```
 */
export function agentLine(name: string, host: LabHost, url: string, ttl: number): string {
  return `${host.netns}: hg ${labAgentArgs(name, host, url, ttl).join(" ")} (log: ${
    agentLogPath(name, host.netns)
  })`;
}

/** Hosts by name, at most 4 of them named. */
function hostList(hosts: readonly { readonly netns: string }[]): string {
  const names = hosts.map((h) => h.netns);
  return names.length <= 4
    ? names.join(", ")
    : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
}

/**
 * The lines of one stage of a lab plan.
 *
 * @example
 * ```ts
 * renderLabStage({ kind: "hg", commands: [{ netns: "hglab-h1", args: ["teardown"] }] }); // ["hglab-h1: hg teardown"]
 * renderLabStage({ kind: "remove-netns", namespaces: ["hglab-h1"] }); // ["ip netns del hglab-h1"]
 * ```
 */
export function renderLabStage(stage: LabStage): string[] {
  switch (stage.kind) {
    case "numbers":
      return [`write ${hostsFile(stage.name)} ${JSON.stringify(stage.numbers)}`];
    case "ip":
      return renderPlan(stage.plan);
    case "forwarding":
      return [`nsenter --net=/run/netns/${stage.netns} ${FORWARDING_ARGV.join(" ")}`];
    case "no-dad":
      return stage.namespaces.map((ns) =>
        `nsenter --net=/run/netns/${ns} ${NO_DAD_ARGV.join(" ")}`
      );
    case "registry": {
      const { topology, options, url } = stage;
      const dir = labDir(topology.name);
      if (options.kind === "file") {
        return [`write ${registryFile(topology.name)}: the hosts lease their subnets from ${url}`];
      }
      return [
        ...etcdEndpoints(topology, options.etcdMembers).map((endpoint, i) =>
          `${topology.underlayNetns}: start etcd member lab${i} for clients at ${endpoint} ` +
          `(data ${dir}/etcd${i}, log ${dir}/etcd${i}.log)`
        ),
        `write ${registryFile(topology.name)}: the hosts lease their subnets from ${url}`,
        `wait until etcd answers at ${url} (10 s at most)`,
      ];
    }
    case "peers":
      return [
        `write ${stage.path}: the network ${
          describeNetworks(stage.peers.config)
        } and the ${stage.peers.leases.length} hosts' subnets and addresses, for hg peer sync in each`,
      ];
    case "hg":
      return stage.commands.map((c) =>
        `${c.netns}: hg ${c.args.join(" ")}${
          c.refused === undefined ? "" : `  # expected to be refused: ${c.refused}`
        }`
      );
    case "agents":
      return stage.hosts.map((h) => agentLine(stage.name, h, stage.url, stage.ttl));
    case "wait-sync":
      return [
        `wait until the agents of ${hostList(stage.hosts)} have set their hosts up (${
          stage.budgetMs / 1000
        } s at most)`,
      ];
    case "wait-routes":
      return [
        `wait until ${hostList(stage.required)} and every other host route to each other (${
          stage.budgetMs / 1000
        } s at most)`,
      ];
    case "kill-agent":
      return [
        `${stage.netns}: kill its agent (pid ${stage.pid}) with SIGKILL: its lease and routes stay`,
      ];
    case "stop-agents":
      return stage.agents.map((a) =>
        a.pid === undefined
          ? `${a.netns}: its agent does not run (its lease runs out with its TTL)`
          : `${a.netns}: stop its agent (pid ${a.pid}) with SIGTERM: it releases its lease and removes its routes`
      );
    case "remove-netns":
      return stage.namespaces.map((ns) => `ip netns del ${ns}`);
    case "remove-dir":
      return [
        ...(stage.etcdPids.length === 0
          ? []
          : [`stop etcd (pid ${stage.etcdPids.join(", ")}) with SIGTERM`]),
        `rm -r ${labDir(stage.name)}`,
      ];
  }
}

/**
 * Every line of a lab plan, in order.
 *
 * @example
 * ```ts
 * renderLabPlan([{ kind: "remove-netns", namespaces: ["x-h1", "x-ul"] }]); // ["ip netns del x-h1", "ip netns del x-ul"]
 * ```
 */
export function renderLabPlan(plan: readonly LabStage[]): string[] {
  return plan.flatMap(renderLabStage);
}
