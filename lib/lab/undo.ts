/**
 * What a failed or interrupted `lab up` takes away again: everything the run made, worked out
 * from the lab as it was before and the plan (pure). Whatever part of the plan ran, the undo
 * removes what is there of it (a namespace never made is simply not there to delete).
 *
 * @module
 */
import type { HostCommand, LabPlan } from "./plan.ts";
import type { LabObservation } from "./observe.ts";
import { sortLabNamespaces } from "./observe.ts";
import { hostsFile } from "./host_numbers.ts";
import { peersFile } from "./peers_file.ts";
import { registryFile } from "./registry.ts";

/** The lab's directory after an undo. */
export type DirUndo =
  /** The run made it: it goes, with every etcd member it records. */
  | { readonly remove: true }
  /** It was there: entries the run added go, its three records get their old text back (or go). */
  | {
    readonly remove: false;
    readonly entries: readonly string[];
    readonly files: readonly { readonly path: string; readonly text?: string }[];
    /** The etcd members that ran before: any other the registry records now was the run's. */
    readonly etcdPids: readonly number[];
  };

/** How to take a `lab up` back. */
export interface LabUndo {
  readonly name: string;
  /** Hosts whose agents the run started. */
  readonly agents: readonly string[];
  /** Leases the run's new hosts may hold in a registry that stays. */
  readonly releases: readonly HostCommand[];
  /** The namespaces the run made, and the containers of its new hosts, in removal order. */
  readonly namespaces: readonly string[];
  readonly dir: DirUndo;
}

/**
 * How to take back `plan`, run on the lab as `obs` saw it.
 *
 * @example
 * ```ts
 * import { observeLab } from "./observe.ts";
 * import { planLabUp } from "./plan.ts";
 * import { labTopology } from "./topology.ts";
 * const obs = await observeLab("hglab");
 * planUndo(obs, planLabUp(obs, labTopology("hglab", 2))).namespaces; // ["hglab-h1-c1", "hglab-h2-c1", "hglab-h1", "hglab-h2", "hglab-ul"]
 * ```
 */
export function planUndo(obs: LabObservation, plan: LabPlan): LabUndo {
  const made = plan.flatMap((stage) =>
    stage.kind === "ip"
      ? stage.plan.flatMap((step) =>
        step.kind === "ip" && step.args[0] === "netns" && step.args[1] === "add"
          ? [step.args[2]]
          : []
      )
      : []
  );
  // A new host's container is made inside it by hg (`hg netns add NAME-hN-c1`).
  const containers = made.filter((ns) => /-h\d+$/.test(ns)).map((ns) => `${ns}-c1`);
  const newHost = new Set(made);
  const remove = obs.dirEntries === undefined;
  return {
    name: obs.name,
    agents: plan.flatMap((stage) => stage.kind === "agents" ? stage.hosts.map((h) => h.netns) : []),
    // A registry that stays keeps no lease of a host that is gone (agents release their own).
    releases: remove
      ? []
      : plan.flatMap((stage) =>
        stage.kind === "hg"
          ? stage.commands.flatMap((c) => {
            const store = c.args.indexOf("--store");
            return c.args[0] === "setup" && store >= 0 && newHost.has(c.netns)
              ? [{
                netns: c.netns,
                args: ["subnet", "release", "--store", c.args[store + 1], "--node", c.netns],
              }]
              : [];
          })
          : []
      ),
    namespaces: sortLabNamespaces([...containers, ...made]),
    dir: remove ? { remove: true } : {
      remove: false,
      entries: obs.dirEntries ?? [],
      files: [
        { path: hostsFile(obs.name), text: obs.hostsJson },
        { path: registryFile(obs.name), text: obs.registryJson },
        { path: peersFile(obs.name), text: obs.peersJson },
      ],
      etcdPids: obs.registry?.etcdPids ?? [],
    },
  };
}
