import { Command } from "@commander-js/extra-typings";
import { observeHost } from "../../lib/host/observe.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { formatPrefix } from "../../lib/net/prefix.ts";
import { planPeerAdd, planPeerRemove } from "../../lib/peers/plan.ts";
import { peerStatuses } from "../../lib/status/status.ts";
import { addressValue, interfaceValue, prefixValue } from "../flags.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";
import { table } from "../table.ts";

/** `hg peer add|rm|ls`: routes to other hosts' subnets via their addresses. */
export function peerCommand(output: () => Output) {
  const peer = new Command("peer").description(
    "add, remove and list routes to other hosts' subnets",
  );
  peer.command("add")
    .description(
      "route a peer host's subnet via that host's address (it must be on this L2 segment)",
    )
    .argument("<subnet>", "the peer's container subnet, e.g. 1.1.2.0/24", prefixValue)
    .requiredOption(
      "--via <address>",
      "the peer host's address on the shared segment",
      addressValue,
    )
    .option(
      "--dev <interface>",
      "the interface facing the peer (default: the one whose network holds --via)",
      interfaceValue,
    )
    .action(async (subnet, opts) => {
      await mutate(output(), (host) => ({
        plan: planPeerAdd(host, { subnet, via: opts.via, dev: opts.dev }),
        summary: `peer ${formatPrefix(subnet)} via ${formatAddress(opts.via)}`,
        result: { subnet: formatPrefix(subnet), via: formatAddress(opts.via) },
      }));
    });
  peer.command("rm")
    .description("remove hg's route to a peer subnet")
    .argument("<subnet>", "the peer's subnet", prefixValue)
    .action(async (subnet) => {
      await mutate(output(), (host) => ({
        plan: planPeerRemove(host, subnet),
        summary: `peer ${formatPrefix(subnet)} removed`,
        result: { subnet: formatPrefix(subnet) },
      }));
    });
  peer.command("ls")
    .description("list the routes hg installed")
    .action(async () => {
      const out = output();
      const peers = peerStatuses(await observeHost());
      out.json(peers);
      out.line(table(
        ["SUBNET", "VIA", "DEV", "STATE"],
        peers.map((p) => [p.subnet, p.via ?? "-", p.dev ?? "-", p.linkdown ? "linkdown" : "ok"]),
      ));
    });
  return peer;
}
