import { Command } from "@commander-js/extra-typings";
import { containerEntries, listContainers, presentContainers } from "../../lib/containers/list.ts";
import { netnsExists, observeContainer, observeHostLinks } from "../../lib/containers/observe.ts";
import { planNetnsAdd } from "../../lib/containers/plan_add.ts";
import { planNetnsDel } from "../../lib/containers/plan_del.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { containerStatuses } from "../../lib/status/status.ts";
import { containerRow } from "../container_row.ts";
import { addressValue, interfaceValue, nameValue } from "../flags.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";
import { table } from "../table.ts";

/** `hg netns add|del|ls`: containers as network namespaces on the bridge. */
export function netnsCommand(output: () => Output) {
  const netns = new Command("netns").description(
    "add, remove and list containers (network namespaces)",
  );
  netns.command("add")
    .description("create a container namespace on the bridge, with an address and a default route")
    .argument("<name>", "container name: 1-32 of A-Za-z0-9_.-", nameValue)
    .option(
      "--ip <address>",
      "the container's address (default: the next free one in the subnet)",
      addressValue,
    )
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .action(async (name, opts) => {
      await mutate(output(), async (host) => {
        const exists = containerEntries(host).some((c) => c.kind === "netns" && c.name === name);
        const planned = planNetnsAdd({
          host,
          bridge: opts.bridge,
          name,
          requested: opts.ip,
          netnsExists: netnsExists(name),
          container: exists ? await observeContainer(name) : undefined,
        });
        const address = `${formatAddress(planned.address)}/${planned.prefixLength}`;
        const { ipv6 } = planned;
        const ipv6Address = ipv6 && `${formatAddress(ipv6.address)}/${ipv6.prefixLength}`;
        return {
          plan: planned.plan,
          summary: `container ${name} ${address} via ${formatAddress(planned.gateway)}${
            ipv6 ? `, ${ipv6Address} via ${formatAddress(ipv6.gateway)}` : ""
          }`,
          result: {
            name,
            address,
            gateway: formatAddress(planned.gateway),
            ipv6Address: ipv6Address ?? null,
            ipv6Gateway: ipv6 ? formatAddress(ipv6.gateway) : null,
          },
        };
      }, observeHostLinks);
    });
  netns.command("del")
    .description("remove a container made by hg (its namespace and veth)")
    .argument("<name>", "container name", nameValue)
    .action(async (name) => {
      await mutate(output(), (host) => ({
        plan: planNetnsDel(host, name, netnsExists(name)),
        summary: `container ${name} removed`,
        result: { name },
      }), observeHostLinks);
    });
  netns.command("ls")
    .description("list this host's containers (hg's own and runtime containers on hg's network)")
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .action(async (opts) => {
      const out = output();
      const host = await observeHost();
      const containers = containerStatuses(
        host,
        opts.bridge,
        presentContainers(listContainers(host)),
      );
      out.json(containers);
      out.line(
        table(["NAME", "ADDRESS", "VETH", "STATE", "RUNTIME ID"], containers.map(containerRow)),
      );
    });
  return netns;
}
