import { Command, Option } from "@commander-js/extra-typings";
import { HgError, InputError } from "../../lib/errors.ts";
import { DEFAULT_AGENT_TTL, MIN_AGENT_TTL } from "../../lib/lab/agents.ts";
import {
  type HgInHost,
  labAddNode,
  labDown,
  type LabLayout,
  labLayout,
  labMoveNode,
  labRemoveNode,
  type LabRunner,
  labStartAgent,
  labUp,
} from "../../lib/lab/lab.ts";
import type { LabPlan } from "../../lib/lab/plan.ts";
import { labDir } from "../../lib/lab/registry.ts";
import { renderLabPlan } from "../../lib/lab/render.ts";
import { labDoctor } from "../../lib/lab/doctor.ts";
import { runInNetns } from "../../lib/exec/netns.ts";
import { HG_JOBS, inParallel } from "../../lib/lab/parallel.ts";
import { byFamily, type Endpoint, pingFamilies, type PingResult } from "../../lib/lab/reach.ts";
import {
  type LabFamily,
  MAX_LAB_NODES,
  MAX_LAB_SEGMENTS,
  validateLabName,
} from "../../lib/lab/topology.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { parseInterfaceAddress } from "../../lib/net/prefix.ts";
import type { Status } from "../../lib/status/status.ts";
import { integerValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { selfCommand } from "../self.ts";
import { table } from "../table.ts";

const hgInHost: HgInHost = (netns, args) => runInNetns(netns, [...selfCommand(), ...args]);

/** How the lab runs hg: inside hosts, as the agents' argv, with progress notes on stderr. */
const runner = (out: Output): LabRunner => ({
  hg: hgInHost,
  hgArgv: selfCommand(),
  log: (line) => out.note(line),
});

/**
 * Prints a lab plan for --dry-run: one line each on stdout (with --json, `changed`, `dryRun`,
 * `commands` and `fields`), or "nothing to do" on stderr when it is empty.
 */
function printPlan(out: Output, plan: LabPlan, fields: Record<string, unknown>): void {
  const commands = renderLabPlan(plan);
  out.json({ changed: false, dryRun: true, ...fields, commands });
  for (const c of commands) out.line(c);
  if (commands.length === 0) out.note("nothing to do");
  else if (plan.some((stage) => stage.kind === "hg")) {
    // hg in a host plans its own changes from that host as it is then, which a dry run of the
    // lab cannot see (the host may not exist yet): the lines name the commands, not their plans.
    out.note("dry run: nothing changed; each hg command above plans its own changes in its host");
  }
}

/** A lab host as `lab status` shows it: its segment and its `hg status --json`. */
interface HostState {
  readonly netns: string;
  readonly segment: number;
  readonly status: Status;
}

/**
 * Reads every lab host's `hg status --json`, where the hosts are, and the containers to ping
 * (`required`: fail when the lab is not up).
 */
async function labState(
  name: string,
  required = false,
): Promise<{ hosts: HostState[]; endpoints: Endpoint[]; layout: LabLayout }> {
  const layout = await labLayout(name);
  const hostNames = [...layout.hosts.keys()];
  if (required && hostNames.length === 0) {
    throw new InputError(`no lab named ${name}: "hg lab up --name ${name}" builds one`);
  }
  const hosts = await inParallel(hostNames, HG_JOBS, async (netns) => {
    const result = await hgInHost(netns, ["status", "--json"]);
    if (result.code !== 0) {
      throw new HgError(`hg status in ${netns} failed: ${result.stderr.trim()}`);
    }
    return {
      netns,
      segment: layout.hosts.get(netns)!,
      status: JSON.parse(result.stdout) as Status,
    };
  });
  // A dual-stack container is an endpoint of each family (pinged by ping -4 and by ping -6).
  const endpoints = hosts.flatMap((h) =>
    h.status.containers.flatMap((c) =>
      [c.address, ...(c.ipv6Address ? [c.ipv6Address] : [])].map((address) => ({
        container: c.name,
        address: parseInterfaceAddress(address).address,
        segment: h.segment,
      }))
    )
  );
  return { hosts, endpoints, layout };
}

/**
 * Every ordered pair of the containers of each family (the pings of a small lab; a big one
 * pings a sample).
 */
const allPairs = (endpoints: readonly Endpoint[]) =>
  byFamily(endpoints).reduce((n, group) => n + group.length * (group.length - 1), 0);

/**
 * A host's forwarding in the status table: "on" when every family the lab routes forwards,
 * else which is off.
 */
function forwardingText(status: Status, family: LabFamily): string {
  const off = [
    ...(family !== "ipv6" && !status.forwarding ? ["IPv4"] : []),
    ...(family !== "ipv4" && !status.forwarding6 ? ["IPv6"] : []),
  ];
  return off.length === 0 ? "on" : family === "ipv4" ? "OFF" : `${off.join(" and ")} OFF`;
}

/** A ping's outcome in the table. */
function pingText(r: PingResult): string {
  if (r.ok) return `ok ${r.rttMs ?? "?"} ms`;
  return r.offLink ? "no route (off-link: host-gw)" : "FAIL";
}

/**
 * Prints the ping matrix and fails when any pair cannot reach the other, but for pairs the lab's
 * backend leaves unrouted (host-gw across segments).
 */
function reportReachability(
  out: Output,
  results: readonly PingResult[],
  endpoints: readonly Endpoint[],
): void {
  const containers = new Set(endpoints.map((e) => e.container)).size;
  out.line(table(
    ["FROM", "TO", "ADDRESS", "PING"],
    results.map((r) => [
      r.from,
      r.to,
      r.address,
      pingText(r),
    ]),
  ));
  if (results.length < allPairs(endpoints)) {
    out.note(
      `pinged a sample: ${results.length} of the ${
        allPairs(endpoints)
      } pairs of ${containers} containers`,
    );
  }
  const unrouted = results.filter((r) => !r.ok && r.offLink).length;
  if (unrouted > 0) {
    out.note(
      `${unrouted} pair${unrouted === 1 ? " is" : "s are"} on different segments: host-gw ` +
        `refuses an off-link peer ("hg lab up --backend vxlan" reaches across segments)`,
    );
  }
  const failed = results.filter((r) => !r.ok && !r.offLink).length;
  if (failed > 0) {
    throw new HgError(`${failed} of ${results.length} container pairs cannot reach each other`);
  }
}

/** `hg lab up|down|status`: the seed experiment as namespaces on this machine. */
export function labCommand(output: () => Output) {
  const lab = new Command("lab").description(
    "build a lab of hosts as network namespaces on one machine",
  );
  lab.command("up")
    .description(
      "create N hosts on one or more underlay segments, set each up with hg, and check reachability",
    )
    .option("--nodes <n>", "number of hosts", integerValue("--nodes", 1, MAX_LAB_NODES), 2)
    .option(
      "--segments <n>",
      "underlay segments the hosts are spread over, routed by the underlay namespace " +
        "(default: the lab's, or 1)",
      integerValue("--segments", 1, MAX_LAB_SEGMENTS),
    )
    .addOption(
      new Option(
        "--backend <kind>",
        "how hosts reach each other (default: the lab's; vxlan with DirectRouting for more " +
          "than one segment, else host-gw)",
      ).choices(["host-gw", "vxlan"] as const),
    )
    .option(
      "--name <name>",
      "lab name, the prefix of every namespace it makes",
      validateLabName,
      "hglab",
    )
    .addOption(
      new Option(
        "--store <kind>",
        "lease subnets from a registry: a JSON file, or etcd in the underlay",
      )
        .choices(["file", "etcd"] as const),
    )
    .option("--agent", "run hg agent in every host (on the etcd registry unless --store file)")
    .addOption(
      new Option("--etcd-members <n>", "members of the lab's etcd cluster (--store etcd)")
        .choices(["1", "3"] as const),
    )
    .option(
      "--ttl <seconds>",
      `the agents' lease TTL (--agent; default ${DEFAULT_AGENT_TTL}, kept for add-node and start-agent)`,
      integerValue("--ttl", MIN_AGENT_TTL, 86400),
    )
    .option("--ipv6", "IPv6-only containers and routes (one segment, host-gw)")
    .option("--dual-stack", "an IPv4 and an IPv6 address per container (one segment, host-gw)")
    .action(async (opts) => {
      const out = output();
      requireRoot();
      if (opts.ipv6 && opts.dualStack) {
        throw new InputError("give --ipv6 (IPv6 only) or --dual-stack (both families), not both");
      }
      const family = opts.ipv6 ? "ipv6" : opts.dualStack ? "dual-stack" : undefined;
      const kind = opts.store ?? (opts.agent || opts.etcdMembers ? "etcd" : undefined);
      if (opts.etcdMembers && kind !== "etcd") {
        throw new InputError("--etcd-members needs the etcd registry, not --store file");
      }
      if (opts.ttl !== undefined && !opts.agent) {
        throw new InputError(`--ttl ${opts.ttl} is the agents' lease TTL: it needs --agent`);
      }
      const plan = await labUp(
        {
          name: opts.name,
          nodes: opts.nodes,
          segments: opts.segments,
          backend: opts.backend,
          family,
        },
        runner(out),
        kind && {
          kind,
          etcdMembers: opts.etcdMembers === "3" ? 3 : 1,
          agents: opts.agent === true,
          agentTtl: opts.ttl,
        },
        out.options.dryRun,
      );
      if (out.options.dryRun) return printPlan(out, plan, { name: opts.name, nodes: opts.nodes });
      const { endpoints, layout } = await labState(opts.name);
      const results = await pingFamilies(endpoints, layout.backend);
      out.json({
        name: opts.name,
        nodes: opts.nodes,
        family: layout.family,
        pairs: allPairs(endpoints),
        reachability: results,
      });
      reportReachability(out, results, endpoints);
    });
  lab.command("status")
    .description("show the lab's hosts, containers and reachability")
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (opts) => {
      const out = output();
      requireRoot();
      const { hosts, endpoints, layout } = await labState(opts.name, true);
      const results = await pingFamilies(endpoints, layout.backend);
      out.json({
        name: opts.name,
        segments: layout.segments,
        backend: layout.backend,
        family: layout.family,
        hosts,
        pairs: allPairs(endpoints),
        reachability: results,
      });
      // The segment column only where there is more than one (a one-segment lab shows as ever).
      const segmented = layout.segments > 1;
      out.line(table(
        [
          "HOST",
          ...(segmented ? ["SEGMENT"] : []),
          "SUBNET",
          "CONTAINERS",
          "PEER ROUTES",
          "FORWARDING",
        ],
        hosts.map(({ netns, segment, status }) => [
          netns,
          ...(segmented ? [String(segment)] : []),
          [status.bridge.subnet, status.bridge.ipv6Subnet].filter(Boolean).join(" ") || "-",
          status.containers.map((c) =>
            [c.name, c.address, ...(c.ipv6Address ? [c.ipv6Address] : [])].join(" ")
          ).join(", ") || "-",
          String(status.peers.length),
          forwardingText(status, layout.family),
        ]),
      ));
      out.line("");
      reportReachability(out, results, endpoints);
    });
  lab.command("add-node")
    .description("add a host to a running lab made with --store or --agent")
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (opts) => {
      const out = output();
      requireRoot();
      const { host, plan } = await labAddNode(opts.name, runner(out), out.options.dryRun);
      if (out.options.dryRun) return printPlan(out, plan, { name: opts.name, host });
      out.json({ name: opts.name, added: host });
      out.line(`added ${host}`);
    });
  lab.command("rm-node")
    .description(
      "remove a host from a running lab made with --store or --agent (it leaves for good)",
    )
    .argument("<host>", "the host's namespace, e.g. hglab-h3")
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (host, opts) => {
      const out = output();
      requireRoot();
      const plan = await labRemoveNode(opts.name, host, runner(out), out.options.dryRun);
      if (out.options.dryRun) return printPlan(out, plan, { name: opts.name, host });
      out.json({ name: opts.name, removed: host });
      out.line(`removed ${host}`);
    });
  lab.command("start-agent")
    .description(
      "start the agent of a host of a lab made with --agent again, as lab up did (after it was killed)",
    )
    .argument("<host>", "the host's namespace, e.g. hglab-h2")
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (host, opts) => {
      const out = output();
      requireRoot();
      const { pid, plan } = await labStartAgent(
        opts.name,
        host,
        runner(out),
        out.options.dryRun,
      );
      if (out.options.dryRun) return printPlan(out, plan, { name: opts.name, host });
      out.json({ name: opts.name, host, pid });
      out.line(`started the agent of ${host} (pid ${pid})`);
    });
  lab.command("move-node")
    .description(
      "move a host's uplink to another underlay segment (new address there), and tell the others",
    )
    .argument("<host>", "the host's number or namespace, e.g. 2 or hglab-h2")
    .requiredOption(
      "--segment <k>",
      "the segment to move it to (0-based, like the bridges ul0..ul3)",
      integerValue("--segment", 0, MAX_LAB_SEGMENTS - 1),
    )
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (host, opts) => {
      const out = output();
      requireRoot();
      const moved = await labMoveNode(
        opts.name,
        host,
        opts.segment,
        runner(out),
        out.options.dryRun,
      );
      const fields = {
        name: opts.name,
        host: moved.host.netns,
        segment: moved.host.segment,
        address: formatAddress(moved.host.address),
      };
      if (out.options.dryRun) return printPlan(out, moved.plan, fields);
      out.json({ ...fields, changed: moved.plan.length > 0 });
      if (moved.plan.length === 0) {
        out.line(`nothing to do: ${moved.host.netns} is on segment ${opts.segment} already`);
        return;
      }
      out.line(
        `moved ${moved.host.netns} to segment ${moved.host.segment} (${fields.address})`,
      );
      if (moved.note) out.note(moved.note);
    });
  lab.command("doctor")
    .description(
      "run hg doctor in every host and for every pair of containers (a sample beyond 12)",
    )
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (opts) => {
      const out = output();
      requireRoot();
      const { hosts } = await labState(opts.name, true);
      const results = await labDoctor(
        opts.name,
        hosts.map((h) => ({
          netns: h.netns,
          containers: h.status.containers.map((c) => ({
            name: c.name,
            address: c.address.split("/")[0],
          })),
        })),
        hgInHost,
      );
      out.json({ name: opts.name, results });
      out.line(table(
        ["HOST", "FROM", "TO", "RESULT"],
        results.map((r) => [
          r.host,
          r.from ?? "-",
          r.to ?? "-",
          r.ok ? "ok" : `FAIL ${r.findings[0] ?? ""}: ${r.verdict}`,
        ]),
      ));
      const failed = results.filter((r) => !r.ok).length;
      if (failed > 0) {
        throw new HgError(`doctor found problems in ${failed} of ${results.length} checks`);
      }
    });
  lab.command("down")
    .description("remove every namespace of the lab")
    .option("--name <name>", "lab name", validateLabName, "hglab")
    .action(async (opts) => {
      const out = output();
      requireRoot();
      const { removed, plan } = await labDown(opts.name, runner(out), out.options.dryRun);
      if (out.options.dryRun) return printPlan(out, plan, { name: opts.name });
      out.json({ name: opts.name, removed });
      out.line(`removed ${removed.length === 0 ? labDir(opts.name) : removed.join(" ")}`);
    });
  return lab;
}
