/**
 * Building and removing a lab: the underlay and host namespaces, then hg's own commands inside
 * each host (setup, netns add, peer add or peer sync), as an operator would run them on real
 * hosts.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import type { ProcessResult } from "../exec/run.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix } from "../net/prefix.ts";
import { applyPlan } from "../plan/apply.ts";
import { ipStep } from "../plan/step.ts";
import { listNetns } from "./netns_dir.ts";
import { planPlumbing } from "./plumbing.ts";
import { labDir, type LabStoreKind, startLabRegistry, stopLabRegistry } from "./registry.ts";
import { belongsToLab, containerAddress, type LabHost, type LabTopology } from "./topology.ts";

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
 * one (`store`): the network config is written once, each host leases its subnet with
 * `hg setup --store`, adds its container, and then routes to the others with `hg peer sync`.
 *
 * @example
 * ```ts
 * await labUp(labTopology("hglab", 2), hgInHost, console.log, "etcd");
 * ```
 */
export async function labUp(
  topology: LabTopology,
  hg: HgInHost,
  log: (line: string) => void,
  store?: LabStoreKind,
): Promise<void> {
  await applyPlan(planPlumbing(topology, new Set(await listNetns())));
  if (!store) {
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
  const { url } = await startLabRegistry(topology, store);
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
  const dir = labDir(topology.name);
  await runOnHosts(topology, hg, log, (host) => [
    [
      "setup",
      "--store",
      url,
      "--node",
      host.netns,
      "--public-ip",
      formatAddress(host.address),
      "--subnet-file",
      `${dir}/${host.netns}.env`,
    ],
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
  await Promise.all(hosts.map((host) => hgOrFail(hg, host, ["teardown"])));
  const namespaces = await labNamespaces(name);
  await applyPlan(namespaces.map((ns) => ipStep(["netns", "del", ns])));
  await stopLabRegistry(name);
  return namespaces;
}
