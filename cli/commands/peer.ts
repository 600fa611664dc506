import { Command } from "@commander-js/extra-typings";
import { noConfigError } from "../../lib/store/configure.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { formatPrefix } from "../../lib/net/prefix.ts";
import {
  containerSpaces,
  handMadeVxlan,
  planPeerAdd,
  planPeerRemove,
} from "../../lib/peers/plan.ts";
import { listContainers, presentContainers } from "../../lib/containers/list.ts";
import { parseMac } from "../../lib/vxlan/vtep.ts";
import { findVxlanDevice } from "../../lib/vxlan/device.ts";
import { planPeerSync } from "../../lib/peers/sync.ts";
import { describeChanges } from "../../lib/peers/describe.ts";

import { nodeName, storeOptions } from "../store_options.ts";
import { withStore } from "./subnet.ts";
import { peerStatuses } from "../../lib/status/status.ts";
import { addressValue, interfaceValue, nodeValue, prefixValue } from "../flags.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";
import { table } from "../table.ts";

const bridgeOption = [
  "--bridge <name>",
  "bridge name (its subnet is this host's own)",
  interfaceValue,
  "cni0",
] as const;

/** `hg peer add|rm|ls`: routes to other hosts' subnets via their addresses. */
export function peerCommand(output: () => Output) {
  const peer = new Command("peer").description(
    "add, remove and list routes to other hosts' subnets",
  );
  peer.command("add")
    .description(
      "route a peer host's subnet via that host's address (on this L2 segment, or over VXLAN with --vtep-mac)",
    )
    .argument("<subnet>", "the peer's container subnet, e.g. 1.1.2.0/24", prefixValue)
    .requiredOption(
      "--via <address>",
      "the peer host's address (on the shared segment, or its VXLAN endpoint's)",
      addressValue,
    )
    .option(
      "--dev <interface>",
      "the interface facing the peer (default: the one whose network holds --via)",
      interfaceValue,
    )
    .option(
      "--vtep-mac <mac>",
      "the peer's VTEP MAC: reach it over this host's VXLAN device when --via is off-link",
      (text: string) => parseMac("--vtep-mac", text),
    )
    .option(...bridgeOption)
    .action(async (subnet, opts) => {
      await mutate(output(), (host) => {
        // hg's VXLAN device, when there is one, is a way too (it must be, for --vtep-mac).
        const vxlan = opts.vtepMac === undefined && !findVxlanDevice(host)
          ? undefined
          : handMadeVxlan(host, opts.bridge, presentContainers(listContainers(host)));
        const { plan, routed } = planPeerAdd(
          host,
          { subnet, via: opts.via, dev: opts.dev, vtepMac: opts.vtepMac },
          containerSpaces(host, opts.bridge),
          vxlan,
        );
        const way = routed[0];
        return {
          plan,
          summary: `peer ${formatPrefix(subnet)} via ${
            formatAddress(opts.via)
          } (${way.mode}: ${way.reason})`,
          result: {
            subnet: formatPrefix(subnet),
            via: formatAddress(opts.via),
            mode: way.mode,
            reason: way.reason,
          },
        };
      });
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
  storeOptions(peer.command("sync"))
    .description("make this host's hg routes equal to the registry's leases of the other hosts")
    .option("--node <name>", "this host's node name (default: HG_NODE or the host name)", nodeValue)
    .option(...bridgeOption)
    .action(async (opts) => {
      const out = output();
      await withStore(opts, async (store) => {
        const { config, listing } = await store.readRegistry();
        if (!config) {
          throw noConfigError(store.url);
        }
        await mutate(out, (host) => {
          const sync = planPeerSync(host, config, listing.entries, {
            node: nodeName(opts.node),
            bridge: opts.bridge,
            present: presentContainers(listContainers(host)),
          });
          return {
            plan: sync.plan,
            summary: `${sync.peers.length} peer${sync.peers.length === 1 ? "" : "s"} routed, ` +
              `${sync.refused.length} lease${
                sync.refused.length === 1 ? "" : "s"
              } refused (registry revision ${listing.revision})`,
            details: [
              ...describeChanges(sync.plan, sync.peers),
              ...sync.refused.map((r) => `refused ${r.key}: ${r.reason}`),
              ...(sync.vxlanProblem ? [`no VXLAN on this host: ${sync.vxlanProblem}`] : []),
            ],
            result: {
              revision: listing.revision,
              peers: sync.peers,
              refused: sync.refused,
              unchanged: sync.unchanged,
            },
          };
        });
      });
    });
  peer.command("ls")
    .description("list the routes hg installed")
    .action(async () => {
      const out = output();
      const peers = peerStatuses(await observeHost());
      out.json(peers);
      out.line(table(
        ["SUBNET", "PEER", "MODE", "DEV", "STATE", "WHY"],
        peers.map((p) => [
          p.subnet,
          p.peer ?? "-",
          p.mode,
          p.dev ?? "-",
          p.linkdown ? "linkdown" : "ok",
          p.reason,
        ]),
      ));
    });
  return peer;
}
