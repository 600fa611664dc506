import { Command } from "@commander-js/extra-typings";
import { listContainers, presentContainers } from "../../lib/containers/list.ts";
import { natPostroutingRules } from "../../lib/firewall/iptables.ts";
import { planTeardown } from "../../lib/teardown/plan.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";

/** `hg teardown`: remove hg's containers, routes, bridge and firewall rules, nothing else. */
export function teardownCommand(output: () => Output) {
  return new Command("teardown")
    .description(
      "remove what hg created on this host (containers, routes, bridge, rules), nothing else",
    )
    .option(
      "--force",
      "also cut off containers a runtime still runs on hg's network (deletes their veths)",
    )
    .action(async (opts) => {
      await mutate(output(), async (host) => {
        const natRules = await natPostroutingRules();
        const present = presentContainers(listContainers(host));
        return {
          plan: planTeardown(host, present, natRules, opts.force === true),
          summary: "hg removed from this host",
        };
      });
    });
}
