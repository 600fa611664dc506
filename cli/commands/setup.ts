import { Command } from "@commander-js/extra-typings";
import { InputError } from "../../lib/errors.ts";
import { listRules } from "../../lib/firewall/iptables.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { firstHost, formatPrefix, prefixCovers } from "../../lib/net/prefix.ts";
import { planSetup } from "../../lib/setup/plan.ts";
import { integerValue, interfaceValue, prefixValue } from "../flags.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";

/** `hg setup`: the bridge with the subnet's gateway address, forwarding, optional masquerade. */
export function setupCommand(output: () => Output) {
  return new Command("setup")
    .description("create the container bridge with this host's subnet and turn forwarding on")
    .requiredOption("--subnet <cidr>", "this host's container subnet, e.g. 1.1.1.0/24", prefixValue)
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .option("--mtu <n>", "bridge MTU", integerValue("--mtu", 68, 65535))
    .option("--masquerade", "masquerade traffic from the subnet that leaves the cluster network")
    .option(
      "--network <cidr>",
      "the cluster network (needed by --masquerade), e.g. 1.1.0.0/16",
      prefixValue,
    )
    .action(async (opts) => {
      if (opts.masquerade && !opts.network) {
        throw new InputError(
          "--masquerade needs --network CIDR: the cluster network that is not masqueraded",
        );
      }
      if (opts.network && !prefixCovers(opts.network, opts.subnet)) {
        throw new InputError(
          `--subnet ${formatPrefix(opts.subnet)} is not inside --network ${
            formatPrefix(opts.network)
          }`,
        );
      }
      const masqueradeNetwork = opts.masquerade ? opts.network : undefined;
      await mutate(output(), async (host) => {
        const natRules = masqueradeNetwork ? await listRules("nat", "POSTROUTING") : [];
        const plan = planSetup(host, {
          subnet: opts.subnet,
          bridge: opts.bridge,
          mtu: opts.mtu,
          masqueradeNetwork,
        }, natRules);
        const gateway = `${formatAddress(firstHost(opts.subnet))}/${opts.subnet.length}`;
        return {
          plan,
          summary: `bridge ${opts.bridge} ${gateway} for subnet ${
            formatPrefix(opts.subnet)
          }, forwarding on`,
          result: { bridge: opts.bridge, subnet: formatPrefix(opts.subnet), gateway },
        };
      });
    });
}
