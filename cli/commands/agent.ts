import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { Agent } from "../../lib/agent/agent.ts";
import { makeLogger } from "../../lib/agent/log.ts";
import { AGENT_ENVIRONMENT_FILE, type AgentUnit, systemdUnit } from "../../lib/agent/systemd.ts";
import { InputError } from "../../lib/errors.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { uplinkMtu } from "../../lib/host/public_address.ts";
import { formatAddress, type IpAddress } from "../../lib/net/address.ts";
import { DEFAULT_SUBNET_FILE } from "../../lib/setup/subnet_env.ts";
import { parseEtcdUrl } from "../../lib/store/etcd/store.ts";
import { leaseAddressError } from "../../lib/store/lease.ts";
import { refuseUrlCredentials } from "../../lib/store/url_credentials.ts";
import { integerValue, interfaceValue, nodeValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { selfCommand } from "../self.ts";
import {
  etcdPasswordSource,
  hostIdentityOptions,
  openStoreFrom,
  type StoreFlags,
  storeOptions,
} from "../store_options.ts";
import { hostAttrs } from "./subnet.ts";

/** Flags whose value is a file: a unit runs in "/", so they go into it as absolute paths. */
const PATH_FLAGS = new Set(["ca", "cert", "key", "etcdPasswordFile", "subnetFile"]);

/** Flags that never go into the unit: the password (an environment file holds it) and the mode. */
const LEFT_OUT = new Set(["etcdPassword", "printSystemdUnit"]);

/** A lease time as the shortest duration flag: 86400 → "1d", 5400 → "90m". */
function durationText(seconds: number): string {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** The store URL as the unit gives it: checked, a plain path made absolute. */
function unitStore(store: string | undefined): string {
  if (store === undefined) throw new InputError("--store URL (or HG_STORE) is required");
  refuseUrlCredentials(store);
  if (/^etcds?:\/\//.test(store)) parseEtcdUrl(store);
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(store) ? store : resolve(store);
}

/** One flag's value as text for the unit. */
function flagText(key: string, value: unknown): string {
  if (key === "store") return unitStore(value as string);
  if (PATH_FLAGS.has(key)) return resolve(value as string);
  if (key === "ttl") return durationText(value as number);
  if (typeof value === "object" && value !== null) return formatAddress(value as IpAddress);
  return String(value);
}

/**
 * The unit that runs the agent `cmd` parsed: every flag given on the command line or through the
 * environment (HG_STORE, HG_NODE; HG_RUN_DIR as `Environment=`), paths absolute, defaults left to
 * the agent. The etcd password is never copied into it: `--etcd-password-file` is passed on, a
 * password given by `--etcd-password` or HG_ETCD_PASSWORD is read from
 * {@link AGENT_ENVIRONMENT_FILE}.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * const cmd = new Command("agent").option("--store <url>").option("--node <name>");
 * cmd.parse(["--store", "etcd://10.0.0.5:2379"], { from: "user" });
 * console.log(agentUnit(cmd, { HG_NODE: "node1" }).args);
 * // ["--store", "etcd://10.0.0.5:2379", "--node", "node1"]
 * ```
 */
export function agentUnit(
  cmd: CommandUnknownOpts,
  env: Readonly<Record<string, string | undefined>> = process.env,
): AgentUnit {
  const opts = cmd.opts() as Record<string, unknown>;
  const source = etcdPasswordSource(opts as unknown as StoreFlags);
  // What the agent would refuse at its start, a unit must not promise (it would restart forever).
  const publicIp = opts.publicIp as IpAddress | undefined;
  const publicIpv6 = opts.publicIpv6 as IpAddress | undefined;
  const unusable = (publicIp && leaseAddressError("--public-ip", publicIp, publicIp.family)) ||
    (publicIpv6 && leaseAddressError("--public-ipv6", publicIpv6, 6));
  if (unusable) throw unusable;
  const args: string[] = [];
  for (const option of cmd.options) {
    const key = option.attributeName();
    const given = cmd.getOptionValueSource(key);
    if (LEFT_OUT.has(key)) continue;
    if (key === "store" && given === undefined) unitStore(undefined);
    if (key === "node" && given === undefined && env.HG_NODE) {
      args.push("--node", nodeValue(env.HG_NODE));
      continue;
    }
    if (given !== "cli" && given !== "env") continue;
    const value = opts[key];
    if (option.negate || value === true) args.push(option.long!);
    else args.push(option.long!, flagText(key, value));
  }
  const self = selfCommand();
  return {
    executable: self.length === 1 ? resolve(self[0]) : "/usr/local/bin/hg",
    args,
    environment: env.HG_RUN_DIR ? { HG_RUN_DIR: resolve(env.HG_RUN_DIR) } : {},
    environmentFile: source === "--etcd-password" ? AGENT_ENVIRONMENT_FILE : undefined,
  };
}

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
    .action(async (opts, cmd) => {
      const out = output();
      if (opts.printSystemdUnit) {
        const unit = agentUnit(cmd);
        out.line(systemdUnit(unit).trimEnd());
        if (unit.environmentFile !== undefined) {
          out.note(
            `the unit reads the etcd password from ${unit.environmentFile}, not from the unit: ` +
              `write HG_ETCD_PASSWORD=<password> there (owner root, mode 0600), ` +
              `or give --etcd-password-file PATH instead`,
          );
        }
        return;
      }
      if (out.options.dryRun) {
        throw new InputError(
          "--dry-run cannot run the agent without leasing a subnet: " +
            '"hg --dry-run setup --store URL" shows what it would build, ' +
            '"hg agent --print-systemd-unit" how it would run',
        );
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
