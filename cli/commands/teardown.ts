import { Command } from "@commander-js/extra-typings";
import { listContainers } from "../../lib/containers/list.ts";
import { netnsExists } from "../../lib/containers/observe.ts";
import { EnvironmentError } from "../../lib/errors.ts";
import { listRules } from "../../lib/firewall/iptables.ts";
import { planTeardown } from "../../lib/teardown/plan.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";

/** `hg teardown`: remove hg's containers, routes, bridge and firewall rules, nothing else. */
export function teardownCommand(output: () => Output) {
  return new Command("teardown")
    .description(
      "remove what hg created on this host (containers, routes, bridge, rules), nothing else",
    )
    .action(async () => {
      await mutate(output(), async (host) => {
        // Without iptables, hg cannot have added rules: nothing to remove there.
        const natRules = await listRules("nat", "POSTROUTING").catch((e) => {
          if (e instanceof EnvironmentError) return [];
          throw e;
        });
        const present = new Set(listContainers(host).map((c) => c.name).filter(netnsExists));
        return {
          plan: planTeardown(host, present, natRules),
          summary: "hg removed from this host",
        };
      });
    });
}
