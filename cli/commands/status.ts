/**
 * `hg status`: bridge, subnet, forwarding, containers and hg routes of this host.
 *
 * Its start is on every script's path (`hg status --json`), so a plain run of it is parsed
 * without commander (cli/main.ts, `parsePlainRun`) from the same definitions, and this module
 * loads no commander of its own: the program it is built into lends it its Command class.
 *
 * @module
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { listContainers, presentContainers } from "../../lib/containers/list.ts";
import { buildStatus } from "../../lib/status/status.ts";
import { observeStatusHost } from "../../lib/status/observe.ts";
import { readReport } from "../../lib/agent/status_file.ts";
import { parsePlainRun } from "../command_table.ts";
import { interfaceValue } from "../flags.ts";
import { Output } from "../output.ts";
import { table } from "../table.ts";
import { containerRow } from "../container_row.ts";

/** The command's description, as help shows it. */
const DESCRIPTION = "show this host's bridge, subnet, forwarding, containers and hg routes";

/** `--bridge`: the one definition that commander and the plain parse read. */
export const BRIDGE_FLAG = {
  flags: "--bridge <name>",
  description: "bridge name",
  parse: interfaceValue,
  defaultValue: "cni0",
} as const;

/** `hg status`, built into `program` (whose Command class it uses). */
export function statusCommand(output: () => Output, program: () => CommandUnknownOpts) {
  return program().createCommand("status")
    .description(DESCRIPTION)
    .option(BRIDGE_FLAG.flags, BRIDGE_FLAG.description, BRIDGE_FLAG.parse, BRIDGE_FLAG.defaultValue)
    .action((opts) => runStatus(output(), opts.bridge));
}

/**
 * Runs `hg ARGS` when they are a plain run of status (see `parsePlainRun`), and resolves with
 * its exit code; undefined when commander must parse them (help, errors, anything else).
 *
 * @example
 * ```ts
 * const code = await runPlainStatus(["status", "--json"]); // 0
 * ```
 */
export function runPlainStatus(args: readonly string[]): Promise<number> | undefined {
  const run = parsePlainRun(args, "status", [BRIDGE_FLAG]);
  if (run === undefined) return undefined;
  return runStatus(new Output(run.globals), run.values.bridge as string).then(
    () => 0,
    // The program's error handling, loaded only when there is an error to report.
    (error) => import("../program.ts").then((m) => m.reportFailure(error, args)),
  );
}

/** Prints this host's status for the bridge `bridge`. */
export async function runStatus(out: Output, bridge: string): Promise<void> {
  const host = await observeStatusHost();
  const present = presentContainers(listContainers(host));
  const agent = await readReport();
  const status = { ...buildStatus(host, bridge, present), agent: agent ?? null };
  out.json(status);
  const b = status.bridge;
  out.line(
    `bridge:     ${b.name} ${
      b.present
        ? `${b.up ? "up" : "DOWN"} ${b.address ?? "(no address)"}${
          b.ipv6Address ? ` ${b.ipv6Address}` : ""
        } mtu ${b.mtu}`
        : "missing"
    }`,
  );
  out.line(`subnet:     ${b.subnet ?? "-"}${b.ipv6Subnet ? ` ${b.ipv6Subnet}` : ""}`);
  // Each family the bridge serves; an IPv4 host's line stays as it was.
  const v6Only = b.subnet?.includes(":") ?? false;
  const onOff = (on: boolean) => (on ? "on" : "OFF");
  out.line(
    `forwarding: ${
      v6Only
        ? `IPv6 ${onOff(status.forwarding6)}`
        : b.ipv6Subnet
        ? `IPv4 ${onOff(status.forwarding)}, IPv6 ${onOff(status.forwarding6)}`
        : onOff(status.forwarding)
    }`,
  );
  out.line(
    agent
      ? `agent:      pid ${agent.pid}, ${agent.store}, last sync ${
        agent.lastSync ?? "never"
      }, revision ${agent.revision ?? "-"}${agent.storeReachable ? "" : ", REGISTRY UNREACHABLE"}${
        agent.refused.length ? `, ${agent.refused.length} leases refused` : ""
      }`
      : "agent:      not running",
  );
  out.line("");
  out.line(
    status.containers.length === 0 ? "containers: none" : table(
      ["CONTAINER", "ADDRESS", "VETH", "STATE", "RUNTIME ID"],
      status.containers.map(containerRow),
    ),
  );
  out.line("");
  out.line(
    status.peers.length === 0 ? "peer routes: none" : table(
      ["PEER SUBNET", "PEER", "MODE", "DEV", "STATE"],
      status.peers.map((
        p,
      ) => [p.subnet, p.peer ?? "-", p.mode, p.dev ?? "-", p.linkdown ? "linkdown" : "ok"]),
    ),
  );
}
