import { EnvironmentError, HgError } from "../errors.ts";
import { formatPrefix } from "../net/prefix.ts";
import { configEquals, type NetworkConfig } from "./config.ts";
import type { SubnetStore } from "./store.ts";

/**
 * Writes the network config once. Writing the same config again changes nothing; a different
 * config is refused while any lease exists (it would strand every host's subnet). A dry run
 * decides the same and writes nothing.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * import { makeNetworkConfig } from "./config.ts";
 * import type { SubnetStore } from "./store.ts";
 * declare const store: SubnetStore; // a registry with no network config yet
 * await configureNetwork(store, makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24)); // "created"
 * ```
 */
export async function configureNetwork(
  store: SubnetStore,
  config: NetworkConfig,
  dryRun = false,
): Promise<"created" | "unchanged" | "updated"> {
  const current = await store.getConfig();
  if (current && configEquals(current, config)) return "unchanged";
  if (current) {
    const leases = (await store.listLeases()).entries.length;
    if (leases > 0) {
      throw new HgError(
        `refusing to change the network config in ${store.url} (${formatPrefix(current.network)} ` +
          `/${current.subnetLen}): it has ${leases} lease${
            leases === 1 ? "" : "s"
          }; release them first`,
      );
    }
  }
  if (!dryRun && !(await store.putConfig(config, current))) {
    throw new HgError(
      `the network config in ${store.url} changed while hg wrote it: run the command again`,
    );
  }
  return current ? "updated" : "created";
}

/**
 * The error for a registry that has no network config yet (exit 1).
 *
 * @example
 * ```ts
 * import type { SubnetStore } from "./store.ts";
 * declare const store: SubnetStore;
 * const config = await store.getConfig();
 * if (!config) throw noConfigError(store.url);
 * ```
 */
export function noConfigError(url: string): EnvironmentError {
  return new EnvironmentError(
    `${url} has no network config: write one with "hg subnet config --network CIDR"`,
  );
}
