import { Command, Option } from "@commander-js/extra-typings";
import { Agent } from "../../lib/agent/agent.ts";
import { makeLogger } from "../../lib/agent/log.ts";
import { systemdUnit } from "../../lib/agent/systemd.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { uplinkMtu } from "../../lib/host/public_address.ts";
import { DEFAULT_SUBNET_FILE } from "../../lib/setup/subnet_env.ts";
import { integerValue, interfaceValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { selfCommand } from "../self.ts";
import { hostIdentityOptions, openStoreFrom, storeOptions } from "../store_options.ts";
import { hostAttrs } from "./subnet.ts";

/** `hg agent`: the long-running process that keeps this host's routes equal to the registry. */
export function agentCommand(output: () => Output) {
  return hostIdentityOptions(storeOptions(new Command("agent")))
    .description(
      "lease this host's subnet and keep its routes equal to the registry (like flanneld)",
    )
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .option("--mtu <n>", "bridge MTU", integerValue("--mtu", 68, 65535))
    .option("--masquerade", "masquerade traffic from the subnet that leaves the cluster network")
    .option("--subnet-file <path>", "where to write flannel's subnet.env", DEFAULT_SUBNET_FILE)
    .addOption(
      new Option("--log-format <format>", "log lines as text or JSON").choices(
        ["text", "json"] as const,
      ).default("text" as const),
    )
    .option(
      "--no-restore-config",
      "do not write the network config back when the registry has lost it (written back by default)",
    )
    .option(
      "--release-on-exit",
      "on SIGTERM/SIGINT give the lease back and remove hg's routes (a host leaving for good)",
    )
    .option(
      "--print-systemd-unit",
      "print a systemd unit that runs this agent with these flags, and exit",
    )
    .action(async (opts) => {
      if (opts.printSystemdUnit) {
        const self = selfCommand();
        const args = process.argv.slice(2).filter((a) =>
          a !== "--print-systemd-unit" && a !== "agent"
        );
        output().line(
          systemdUnit(self.length === 1 ? self[0] : "/usr/local/bin/hg", args).trimEnd(),
        );
        return;
      }
      requireRoot();
      const store = openStoreFrom(opts);
      const host = await observeHost();
      const attrs = await hostAttrs(opts, host);
      const agent = new Agent({
        store,
        attrs: { ...attrs, node: attrs.node! },
        bridge: opts.bridge,
        ttlSeconds: opts.ttl,
        subnetFile: opts.subnetFile,
        mtu: opts.mtu,
        uplinkMtu: uplinkMtu(host, attrs.publicIp),
        masquerade: opts.masquerade ?? false,
        releaseOnExit: opts.releaseOnExit ?? false,
        restoreConfig: opts.restoreConfig,
        log: makeLogger(opts.logFormat),
      });
      // The handlers stay for the life of the process: removing them lets a late signal kill it.
      process.on("SIGTERM", () => agent.shutdown());
      process.on("SIGINT", () => agent.shutdown());
      let code = 1;
      try {
        await agent.start();
        code = await agent.run();
      } finally {
        await store.close();
      }
      // A request still hanging on a frozen registry would keep the process alive: exit now.
      process.exit(code);
    });
}
