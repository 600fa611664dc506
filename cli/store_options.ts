/**
 * The flags that name and open a subnet registry, shared by every command that uses one.
 *
 * @module
 */
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { hostname } from "node:os";
import { InputError } from "../lib/errors.ts";
import { DEFAULT_ETCD_PREFIX } from "../lib/store/etcd/store.ts";
import { openStore } from "../lib/store/open.ts";
import type { SubnetStore } from "../lib/store/store.ts";
import { addressValue, durationValue, nodeValue } from "./flags.ts";

/**
 * Adds `--store` and the etcd connection flags to `cmd`.
 *
 * @example
 * ```ts
 * storeOptions(new Command("ls")).action((opts) => openStoreFrom(opts));
 * ```
 */
export function storeOptions<Args extends unknown[], Opts extends OptionValues>(
  cmd: Command<Args, Opts>,
) {
  return cmd
    .addOption(
      new Option(
        "--store <url>",
        "subnet registry: a JSON file path, file:///path, etcd://HOST:PORT[,...] or etcds://",
      ).env("HG_STORE"),
    )
    .addOption(
      new Option("--etcd-prefix <key>", "etcd key prefix (flannel's default)").default(
        DEFAULT_ETCD_PREFIX,
      ),
    )
    .addOption(new Option("--ca <file>", "CA certificate (PEM) for etcds://"))
    .addOption(new Option("--cert <file>", "client certificate (PEM) for etcds://"))
    .addOption(new Option("--key <file>", "client key (PEM) for etcds://"))
    .addOption(new Option("--etcd-user <name>", "etcd user"))
    .addOption(new Option("--etcd-password <password>", "etcd password").env("HG_ETCD_PASSWORD"));
}

/** The store flags as commander parsed them. */
export interface StoreFlags {
  readonly store?: string;
  readonly etcdPrefix: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly etcdUser?: string;
  readonly etcdPassword?: string;
}

/** Opens the store the flags name; `--store` (or HG_STORE) is required. */
export function openStoreFrom(flags: StoreFlags): SubnetStore {
  if (flags.store === undefined) throw new InputError("--store URL (or HG_STORE) is required");
  return openStore(flags.store, {
    etcdPrefix: flags.etcdPrefix,
    ca: flags.ca,
    cert: flags.cert,
    key: flags.key,
    user: flags.etcdUser,
    password: flags.etcdPassword,
  });
}

/** This host's node name: `--node`, else HG_NODE, else the host name. */
export function nodeName(flag: string | undefined): string {
  return nodeValue(flag ?? process.env.HG_NODE ?? hostname().split(".")[0]);
}

/** flannel's lease time. */
export const DEFAULT_TTL_SECONDS = 24 * 3600;

/**
 * Adds the flags that say who this host is in the registry: `--node`, `--public-ip`, `--iface`
 * and the lease time `--ttl`.
 */
export function hostIdentityOptions<Args extends unknown[], Opts extends OptionValues>(
  cmd: Command<Args, Opts>,
) {
  return cmd
    .option("--node <name>", "this host's node name (default: HG_NODE or the host name)", nodeValue)
    .option(
      "--public-ip <address>",
      "the address other hosts route through (default: on --iface)",
      addressValue,
    )
    .option(
      "--iface <name-or-address>",
      "the interface with the public address (default: the default route's)",
    )
    .option("--ttl <duration>", "lease time, e.g. 24h", durationValue, DEFAULT_TTL_SECONDS);
}
