/**
 * Opens the store a URL names: a path or `file:///path` for the shared JSON file,
 * `etcd://HOST:PORT[,HOST:PORT...]` or `etcds://...` (TLS) for etcd's v3 JSON gateway.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.ts";
import { EtcdClient } from "./etcd/client.ts";
import { DEFAULT_ETCD_PREFIX, EtcdStore, parseEtcdUrl } from "./etcd/store.ts";
import { FileStore } from "./file/store.ts";
import type { SubnetStore } from "./store.ts";
import { refuseUrlCredentials } from "./url_credentials.ts";

/** How to reach and authenticate to the store. */
export interface StoreOptions {
  readonly etcdPrefix?: string;
  /** Paths of PEM files for `etcds://`. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** etcd's user name; with {@link password}, or neither. */
  readonly user?: string;
  readonly password?: string;
}

function readPem(what: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new InputError(`cannot read the ${what} file ${path}: ${(e as Error).message}`);
  }
}

/**
 * The store `url` names.
 *
 * @example
 * ```ts
 * const store = openStore("etcd://127.0.0.1:2379", { etcdPrefix: "/coreos.com/network" });
 * ```
 */
export function openStore(url: string, options: StoreOptions = {}): SubnetStore {
  if (url.trim() === "") {
    throw new InputError("the store URL is empty: give a path, file:///path or etcd://HOST:PORT");
  }
  // Before anything quotes the URL: a password in it must never reach a message.
  refuseUrlCredentials(url);
  if (/^etcds?:\/\//.test(url)) {
    const { endpoints, secure } = parseEtcdUrl(url);
    const prefix = options.etcdPrefix ?? DEFAULT_ETCD_PREFIX;
    if (options.user !== undefined && options.password === undefined) {
      throw new InputError(
        "--etcd-user needs a password: --etcd-password-file, --etcd-password or HG_ETCD_PASSWORD",
      );
    }
    if (options.user === undefined && options.password !== undefined) {
      throw new InputError("an etcd password needs a user: give --etcd-user too");
    }
    const client = new EtcdClient({
      endpoints,
      auth: options.user === undefined
        ? undefined
        : { user: options.user, password: options.password! },
      tls: secure
        ? {
          ca: readPem("CA", options.ca),
          cert: readPem("certificate", options.cert),
          key: readPem("key", options.key),
        }
        : undefined,
    });
    return new EtcdStore(client, prefix);
  }
  if (url.startsWith("file://")) return new FileStore(fileURLToPath(url));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new InputError(
      `store URL ${
        JSON.stringify(url)
      } is not supported: use a path, file:///path, etcd:// or etcds://`,
    );
  }
  return new FileStore(resolve(url));
}
