import { Command } from "@commander-js/extra-typings";
import { HgError, InputError } from "../../lib/errors.ts";
import { observeHost } from "../../lib/host/observe.ts";
import type { HostState } from "../../lib/host/state.ts";
import { publicAddress } from "../../lib/host/public_address.ts";
import { formatAddress, type IpAddress } from "../../lib/net/address.ts";
import { formatPrefix } from "../../lib/net/prefix.ts";
import { allocate, ownLease } from "../../lib/store/allocate.ts";
import { formatNetworkConfig, makeNetworkConfig } from "../../lib/store/config.ts";
import { configureNetwork } from "../../lib/store/configure.ts";
import type { LeaseAttrs } from "../../lib/store/lease.ts";
import type { Lease, SubnetStore } from "../../lib/store/store.ts";
import { addressValue, integerValue, nodeValue, prefixValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { hostIdentityOptions, nodeName, openStoreFrom, storeOptions } from "../store_options.ts";
import { table } from "../table.ts";

/** Runs `fn` with the store the flags name, and closes it. */
export async function withStore<T>(
  flags: Parameters<typeof openStoreFrom>[0],
  fn: (store: SubnetStore) => Promise<T>,
): Promise<T> {
  const store = openStoreFrom(flags);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * This host's lease attributes: node name and public address (given, or found on the host,
 * observed now unless the caller already has its state).
 */
export async function hostAttrs(
  flags: { node?: string; publicIp?: IpAddress; iface?: string },
  host?: HostState,
  backendType = "host-gw",
): Promise<LeaseAttrs> {
  const address = flags.publicIp ?? publicAddress(host ?? await observeHost(), flags.iface).address;
  return { publicIp: address, backendType, node: nodeName(flags.node) };
}

/** A lease as scripts see it. */
export function leaseJson(lease: Lease) {
  return {
    subnet: formatPrefix(lease.subnet),
    publicIp: formatAddress(lease.attrs.publicIp),
    node: lease.attrs.node ?? null,
    backendType: lease.attrs.backendType,
    expiresAt: lease.expiresAt === undefined ? null : new Date(lease.expiresAt).toISOString(),
  };
}

/** `hg subnet config|alloc|renew|release|ls`: the subnet registry. */
export function subnetCommand(output: () => Output) {
  const subnet = new Command("subnet").description(
    "the subnet registry: network config and host leases",
  );

  storeOptions(subnet.command("config"))
    .description("write the cluster network config (once; refused while leases exist)")
    .requiredOption("--network <cidr>", "the cluster network, e.g. 1.1.0.0/16", prefixValue)
    .option(
      "--subnet-len <n>",
      "prefix length of each host's subnet (default: 24, or 2 more than the network's)",
      integerValue("--subnet-len", 1, 30),
    )
    .option(
      "--subnet-min <address>",
      "first subnet to hand out (default: the second subnet)",
      addressValue,
    )
    .option(
      "--subnet-max <address>",
      "last subnet to hand out (default: the last subnet)",
      addressValue,
    )
    .action(async (opts) => {
      const out = output();
      const config = makeNetworkConfig(opts.network, opts.subnetLen, {
        min: opts.subnetMin,
        max: opts.subnetMax,
      });
      const outcome = await withStore(opts, (store) => configureNetwork(store, config));
      out.json({ outcome, config: JSON.parse(formatNetworkConfig(config)) });
      out.line(
        `${outcome === "unchanged" ? "nothing to do: " : ""}network ${
          formatPrefix(config.network)
        }, /${config.subnetLen} subnets ${formatAddress(config.subnetMin)} to ${
          formatAddress(config.subnetMax)
        } (${outcome})`,
      );
    });

  hostIdentityOptions(storeOptions(subnet.command("alloc")))
    .description("lease a subnet for this host (or get its lease back)")
    .action(async (opts) => {
      const out = output();
      const attrs = await hostAttrs(opts);
      const { lease, reused } = await withStore(
        opts,
        (store) => allocate(store, { attrs, ttlSeconds: opts.ttl }),
      );
      out.json({ ...leaseJson(lease), reused, ttlSeconds: opts.ttl });
      out.line(
        `${formatPrefix(lease.subnet)} for ${attrs.node} via ${formatAddress(attrs.publicIp)} (${
          reused ? "existing lease renewed" : "new lease"
        })`,
      );
    });

  hostIdentityOptions(storeOptions(subnet.command("renew")))
    .description("extend this host's lease")
    .action(async (opts) => {
      const out = output();
      const attrs = await hostAttrs(opts);
      const lease = await withStore(opts, async (store) => {
        const mine = ownLease((await store.listLeases()).entries, attrs);
        if (!mine || !(await store.renew(mine.subnet, mine.attrs.publicIp, opts.ttl, attrs))) {
          throw new HgError(
            `${attrs.node} (${
              formatAddress(attrs.publicIp)
            }) holds no lease in ${store.url}: "hg subnet alloc" takes one`,
          );
        }
        return mine;
      });
      out.json({ ...leaseJson(lease), ttlSeconds: opts.ttl });
      out.line(`${formatPrefix(lease.subnet)} renewed for ${opts.ttl} s`);
    });

  storeOptions(subnet.command("release"))
    .description("give a lease back: SUBNET, --node NAME, or this host's own")
    .argument("[subnet]", "the subnet to release", prefixValue)
    .option("--node <name>", "release the lease of this node", nodeValue)
    .action(async (target, opts) => {
      const out = output();
      if (target && opts.node) throw new InputError("give a SUBNET or --node, not both");
      const released = await withStore(opts, async (store) => {
        let lease: Lease | undefined;
        const { entries } = await store.listLeases();
        const leases = entries.flatMap((e) => ("lease" in e ? [e.lease] : []));
        if (target) lease = leases.find((l) => formatPrefix(l.subnet) === formatPrefix(target));
        else {
          const node = nodeName(opts.node);
          lease = leases.find((l) => l.attrs.node === node);
        }
        const what = target ? formatPrefix(target) : `node ${nodeName(opts.node)}`;
        if (!lease || !(await store.release(lease.subnet))) {
          throw new InputError(`no lease for ${what} in ${store.url}: "hg subnet ls" lists them`);
        }
        return lease;
      });
      out.json(leaseJson(released));
      out.line(
        `released ${formatPrefix(released.subnet)} (${
          released.attrs.node ?? formatAddress(released.attrs.publicIp)
        })`,
      );
    });

  storeOptions(subnet.command("ls"))
    .description("list the network config and every lease")
    .action(async (opts) => {
      const out = output();
      const { config, listing } = await withStore(opts, async (store) => ({
        config: await store.getConfig(),
        listing: await store.listLeases(),
      }));
      const leases = listing.entries.flatMap((e) => ("lease" in e ? [e.lease] : []))
        .sort((a, b) => (a.subnet.address.value < b.subnet.address.value ? -1 : 1));
      const problems = listing.entries.flatMap((
        e,
      ) => ("problem" in e ? [{ key: e.key, problem: e.problem }] : []));
      out.json({
        revision: listing.revision,
        config: config ? JSON.parse(formatNetworkConfig(config)) : null,
        leases: leases.map(leaseJson),
        problems,
      });
      out.line(
        config
          ? `network ${
            formatPrefix(config.network)
          }, /${config.subnetLen} subnets, revision ${listing.revision}`
          : "no network config",
      );
      out.line(table(
        ["SUBNET", "PUBLIC IP", "NODE", "EXPIRES"],
        leases.map(leaseJson).map((l) => [l.subnet, l.publicIp, l.node ?? "-", l.expiresAt ?? "-"]),
      ));
      for (const p of problems) out.line(`bad entry ${p.key}: ${p.problem}`);
    });
  return subnet;
}
