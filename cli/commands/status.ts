import { Command } from "@commander-js/extra-typings";
import { listContainers, presentContainers } from "../../lib/containers/list.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { buildStatus } from "../../lib/status/status.ts";
import { readReport } from "../../lib/agent/status_file.ts";
import { interfaceValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { table } from "../table.ts";
import { containerRow } from "../container_row.ts";

/** `hg status`: bridge, subnet, forwarding, containers and hg routes of this host. */
export function statusCommand(output: () => Output) {
  return new Command("status")
    .description("show this host's bridge, subnet, forwarding, containers and hg routes")
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .action(async (opts) => {
      const out = output();
      const host = await observeHost();
      const present = presentContainers(listContainers(host));
      const agent = await readReport();
      const status = { ...buildStatus(host, opts.bridge, present), agent: agent ?? null };
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
          }, revision ${agent.revision ?? "-"}${
            agent.storeReachable ? "" : ", REGISTRY UNREACHABLE"
          }${agent.refused.length ? `, ${agent.refused.length} leases refused` : ""}`
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
    });
}
