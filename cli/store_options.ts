/**
 * The flags that name and open a subnet registry, shared by every command that uses one.
 *
 * @module
 */
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { readFileSync } from "node:fs";
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
 * import { Command } from "@commander-js/extra-typings";
 * storeOptions(new Command("leases")).action(async (opts) => {
 *   console.log((await openStoreFrom(opts).listLeases()).entries.length);
 * });
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
    .addOption(new Option("--etcd-user <name>", "etcd user (with a password)"))
    .addOption(
      new Option(
        "--etcd-password <password>",
        "etcd password (ps and shell history show it: prefer --etcd-password-file)",
      ).env("HG_ETCD_PASSWORD"),
    )
    .addOption(
      new Option(
        "--etcd-password-file <path>",
        "file holding the etcd password (one trailing newline is ignored)",
      ),
    );
}

/** The store flags as commander parsed them. */
export interface StoreFlags {
  readonly store?: string;
  readonly etcdPrefix: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly etcdUser?: string;
  /** From `--etcd-password` or, when that is not given, HG_ETCD_PASSWORD. */
  readonly etcdPassword?: string;
  readonly etcdPasswordFile?: string;
}

/** Where the etcd password comes from. */
export type EtcdPasswordSource = "--etcd-password-file" | "--etcd-password";

/**
 * Where the flags take the etcd password from, checked: `--etcd-password` (or HG_ETCD_PASSWORD)
 * and `--etcd-password-file` exclude each other, a password needs `--etcd-user` and a user needs
 * a password (hg logs in with both; a client certificate's user needs neither). Reads nothing.
 *
 * @example
 * ```ts
 * etcdPasswordSource({ etcdPrefix: "/p", etcdUser: "hg", etcdPasswordFile: "/etc/hg/pw" });
 * // "--etcd-password-file"
 * ```
 */
export function etcdPasswordSource(flags: StoreFlags): EtcdPasswordSource | undefined {
  if (flags.etcdPassword !== undefined && flags.etcdPasswordFile !== undefined) {
    throw new InputError(
      "--etcd-password (or HG_ETCD_PASSWORD) and --etcd-password-file both give the etcd " +
        "password: give one",
    );
  }
  const source = flags.etcdPasswordFile !== undefined
    ? "--etcd-password-file"
    : flags.etcdPassword !== undefined
    ? "--etcd-password"
    : undefined;
  if (source !== undefined && flags.etcdUser === undefined) {
    const what = source === "--etcd-password" ? "--etcd-password (or HG_ETCD_PASSWORD)" : source;
    throw new InputError(`${what} needs the user it is the password of: give --etcd-user too`);
  }
  if (source === undefined && flags.etcdUser !== undefined) {
    throw new InputError(
      `--etcd-user ${
        JSON.stringify(flags.etcdUser)
      } needs a password: --etcd-password-file, --etcd-password or HG_ETCD_PASSWORD`,
    );
  }
  if (flags.etcdPassword === "") {
    throw new InputError("the etcd password (--etcd-password or HG_ETCD_PASSWORD) is empty");
  }
  return source;
}

/** Why a file could not be read, in words (not Node's "ENOENT: ..., open '...'"). */
function readFailure(error: unknown): string {
  const code = (error as { code?: string }).code;
  const words: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EPERM: "permission denied",
    EISDIR: "it is a directory",
  };
  return (code && words[code]) ?? (error as Error).message;
}

/**
 * The etcd password in the file at `path`, without one trailing newline; an unreadable or empty
 * file is an InputError naming it.
 *
 * @example
 * ```ts
 * readEtcdPasswordFile("/etc/hg/etcd-password"); // "s3cret" for a file "s3cret\n"
 * ```
 */
export function readEtcdPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new InputError(`cannot read the etcd password file ${path}: ${readFailure(e)}`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password === "") throw new InputError(`the etcd password file ${path} is empty`);
  return password;
}

/** Opens the store the flags name; `--store` (or HG_STORE) is required. */
export function openStoreFrom(flags: StoreFlags): SubnetStore {
  if (flags.store === undefined) throw new InputError("--store URL (or HG_STORE) is required");
  const source = etcdPasswordSource(flags);
  return openStore(flags.store, {
    etcdPrefix: flags.etcdPrefix,
    ca: flags.ca,
    cert: flags.cert,
    key: flags.key,
    user: flags.etcdUser,
    password: source === "--etcd-password-file"
      ? readEtcdPasswordFile(flags.etcdPasswordFile!)
      : flags.etcdPassword,
  });
}

/** This host's node name: `--node`, else HG_NODE, else the host name. */
export function nodeName(flag: string | undefined): string {
  return nodeValue(flag ?? process.env.HG_NODE ?? hostname().split(".")[0]);
}

/** flannel's lease time. */
export const DEFAULT_TTL_SECONDS = 24 * 3600;

/**
 * Adds the flags that say who this host is in the registry: `--node`, `--public-ip`,
 * `--public-ipv6`, `--iface` and the lease time `--ttl`.
 */
export function hostIdentityOptions<Args extends unknown[], Opts extends OptionValues>(
  cmd: Command<Args, Opts>,
) {
  return cmd
    .option("--node <name>", "this host's node name (default: HG_NODE or the host name)", nodeValue)
    .option(
      "--public-ip <address>",
      "the address other hosts route through, IPv4 (IPv6 on an IPv6-only network) (default: on --iface)",
      addressValue,
    )
    .option(
      "--public-ipv6 <address>",
      "dual-stack: the IPv6 address other hosts route through (default: on --iface)",
      addressValue,
    )
    .option(
      "--iface <name-or-address>",
      "the interface with the public address (default: the default route's)",
    )
    .option("--ttl <duration>", "lease time, e.g. 24h", durationValue, DEFAULT_TTL_SECONDS);
}
