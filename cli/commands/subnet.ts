import { Command } from "@commander-js/extra-typings";
import { HgError, InputError } from "../../lib/errors.ts";
import { observeHost } from "../../lib/host/observe.ts";
import type { HostState } from "../../lib/host/state.ts";
import { leaseAddresses } from "../../lib/host/public_address.ts";
import { formatAddress, type IpAddress } from "../../lib/net/address.ts";
import { formatPrefix, prefixEquals } from "../../lib/net/prefix.ts";
import { allocate, ownLease, previewAllocation } from "../../lib/store/allocate.ts";
import {
  type Backend,
  configRanges,
  describeBackend,
  formatNetworkConfig,
  HOST_GW,
  makeNetworkConfig,
  makeSubnetRange,
} from "../../lib/store/config.ts";
import { DEFAULT_VXLAN } from "../../lib/vxlan/vtep.ts";
import { configureNetwork, noConfigError } from "../../lib/store/configure.ts";
import {
  type LeaseAttrs,
  leaseAttrsFor,
  type LeaseSubnets,
  leaseSubnets,
  subnetsOfKey,
} from "../../lib/store/lease.ts";
import type { Lease, SubnetStore } from "../../lib/store/store.ts";
import { addressValue, backendValue, integerValue, nodeValue, prefixValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { hostIdentityOptions, nodeName, openStoreFrom, storeOptions } from "../store_options.ts";
import { table } from "../table.ts";

/** The leases decide every host's routes: only root changes them. */
const ROOT_TO_WRITE = "to change the subnet registry";

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
  flags: { node?: string; publicIp?: IpAddress; publicIpv6?: IpAddress; iface?: string },
  host?: HostState,
  backendType = "host-gw",
): Promise<LeaseAttrs> {
  const addresses = leaseAddresses(host ?? await observeHost(), flags, flags.iface);
  return { ...addresses, backendType, node: nodeName(flags.node) };
}

/** What a dry run says when the host's previous subnet would be leased again. */
export const previousNote = "dry run: the bridge's subnet would be leased again";

/** What a dry run says when a new subnet would be leased: the pick is random. */
export function newSubnetNote(free: number, first: LeaseSubnets): string {
  return `dry run: one of the ${free} free subnets would be leased at random; ` +
    `shown with the first, ${leaseSubnets(first).map(formatPrefix).join(" + ")}`;
}

/** A lease as scripts see it. */
export function leaseJson(lease: Lease) {
  const { publicIpv6 } = lease.attrs;
  return {
    subnet: formatPrefix(lease.subnet),
    ipv6Subnet: lease.ipv6Subnet ? formatPrefix(lease.ipv6Subnet) : null,
    publicIp: formatAddress(lease.attrs.publicIp),
    publicIpv6: publicIpv6 ? formatAddress(publicIpv6) : null,
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
    .requiredOption(
      "--network <cidr>",
      "the cluster network, e.g. 1.1.0.0/16 (an IPv6 one, e.g. fd00:1::/48, makes an IPv6-only network)",
      prefixValue,
    )
    .option(
      "--subnet-len <n>",
      "prefix length of each host's subnet (default: 24, or 2 more than the network's; IPv6: 64)",
      integerValue("--subnet-len", 1, 126),
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
    .option(
      "--ipv6-network <cidr>",
      "dual-stack: the cluster's IPv6 network beside the IPv4 --network, e.g. fd00:1::/48",
      prefixValue,
    )
    .option(
      "--ipv6-subnet-len <n>",
      "dual-stack: prefix length of each host's IPv6 subnet (default: 64, or 2 more than the network's)",
      integerValue("--ipv6-subnet-len", 1, 126),
    )
    .option(
      "--ipv6-subnet-min <address>",
      "dual-stack: first IPv6 subnet to hand out",
      addressValue,
    )
    .option("--ipv6-subnet-max <address>", "dual-stack: last IPv6 subnet to hand out", addressValue)
    .option("--backend <type>", "host-gw (default) or vxlan", backendValue, "host-gw" as const)
    .option("--vni <n>", "vxlan: the VNI (default 1)", integerValue("--vni", 0, 16777215))
    .option("--port <n>", "vxlan: the UDP port (default 8472)", integerValue("--port", 1, 65535))
    .option(
      "--direct-routing",
      "vxlan: plain routes to peers on a local network, VXLAN only to the others",
    )
    .action(async (opts) => {
      const out = output();
      const { dryRun } = out.options;
      if (
        opts.backend !== "vxlan" &&
        (opts.vni !== undefined || opts.port !== undefined || opts.directRouting)
      ) {
        throw new InputError("--vni, --port and --direct-routing go with --backend vxlan");
      }
      const backend: Backend = opts.backend === "vxlan"
        ? {
          type: "vxlan",
          vni: opts.vni ?? DEFAULT_VXLAN.vni,
          port: opts.port ?? DEFAULT_VXLAN.port,
          directRouting: opts.directRouting ?? false,
        }
        : HOST_GW;
      const ipv6Flags = opts.ipv6SubnetLen ?? opts.ipv6SubnetMin ?? opts.ipv6SubnetMax;
      if (opts.ipv6Network === undefined && ipv6Flags !== undefined) {
        throw new InputError("--ipv6-subnet-len, -min and -max go with --ipv6-network");
      }
      const ipv6 = opts.ipv6Network &&
        makeSubnetRange(opts.ipv6Network, opts.ipv6SubnetLen, {
          min: opts.ipv6SubnetMin,
          max: opts.ipv6SubnetMax,
        });
      const config = makeNetworkConfig(
        opts.network,
        opts.subnetLen,
        {
          min: opts.subnetMin,
          max: opts.subnetMax,
        },
        backend,
        ipv6,
      );
      if (!dryRun) requireRoot(ROOT_TO_WRITE);
      const outcome = await withStore(opts, (store) => configureNetwork(store, config, dryRun));
      const changed = !dryRun && outcome !== "unchanged";
      out.json({ changed, dryRun, outcome, config: JSON.parse(formatNetworkConfig(config)) });
      out.line(
        `${outcome === "unchanged" ? "nothing to do: " : dryRun ? "would write: " : ""}network ${
          configRanges(config).map((r) =>
            `${formatPrefix(r.network)}, /${r.subnetLen} subnets ${formatAddress(r.subnetMin)} to ${
              formatAddress(r.subnetMax)
            }`
          ).join(" + ")
        }, ${describeBackend(backend)} (${outcome})`,
      );
    });

  hostIdentityOptions(storeOptions(subnet.command("alloc")))
    .description("lease a subnet for this host (or get its lease back)")
    .action(async (opts) => {
      const out = output();
      const attrs = await hostAttrs(opts);
      const request = { attrs, ttlSeconds: opts.ttl };
      if (out.options.dryRun) {
        await withStore(opts, async (store) => {
          const { config, listing } = await store.readRegistry();
          if (!config) throw noConfigError(store.url);
          const preview = previewAllocation(config, listing.entries, request, store.url);
          const lease = preview.kind === "renew" ? preview.lease : undefined;
          const subnets = lease ?? (preview.kind === "new" ? preview.first : undefined)!;
          out.json({
            changed: false,
            dryRun: true,
            subnet: formatPrefix(subnets.subnet),
            ipv6Subnet: subnets.ipv6Subnet ? formatPrefix(subnets.ipv6Subnet) : null,
            reused: lease !== undefined,
            ...(preview.kind === "new" ? { free: preview.free } : {}),
            ttlSeconds: opts.ttl,
          });
          out.line(
            lease
              ? `would renew the lease of ${
                formatPrefix(lease.subnet)
              } for ${attrs.node} for ${opts.ttl} s`
              : `would lease a subnet for ${attrs.node} via ${formatAddress(attrs.publicIp)}`,
          );
          if (preview.kind === "new") out.note(newSubnetNote(preview.free, preview.first));
        });
        return;
      }
      requireRoot(ROOT_TO_WRITE);
      const { lease, reused } = await withStore(opts, (store) => allocate(store, request));
      out.json({ changed: true, dryRun: false, ...leaseJson(lease), reused, ttlSeconds: opts.ttl });
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
      const { dryRun } = out.options;
      const attrs = await hostAttrs(opts);
      if (!dryRun) requireRoot(ROOT_TO_WRITE);
      const lease = await withStore(opts, async (store) => {
        const { config, listing } = await store.readRegistry();
        const mine = ownLease(listing.entries, attrs);
        // The renewed lease says what the network's backend needs (a VXLAN host's VTEP MAC).
        const renewal = config ? leaseAttrsFor(attrs, config) : attrs;
        const renewed = mine &&
          (dryRun || await store.renew(mine, mine.attrs.publicIp, opts.ttl, renewal));
        if (!renewed) {
          throw new HgError(
            `${attrs.node} (${
              formatAddress(attrs.publicIp)
            }) holds no lease in ${store.url}: "hg subnet alloc" takes one`,
          );
        }
        return dryRun ? mine : { ...mine, attrs: renewal, expiresAt: Date.now() + opts.ttl * 1000 };
      });
      out.json({ changed: !dryRun, dryRun, ...leaseJson(lease), ttlSeconds: opts.ttl });
      out.line(
        `${dryRun ? "would renew" : "renewed"} ${formatPrefix(lease.subnet)} for ${opts.ttl} s`,
      );
    });

  storeOptions(subnet.command("release"))
    .description(
      "give a lease back: SUBNET, --node NAME, or this host's own; KEY removes an entry that is " +
        'not a valid lease (as "hg subnet ls" names it)',
    )
    .argument("[subnet-or-key]", "the subnet to release (1.1.5.0/24), or a registry key")
    .option("--node <name>", "release the lease of this node", nodeValue)
    .action(async (target, opts) => {
      const out = output();
      const { dryRun } = out.options;
      if (target && opts.node) throw new InputError("give a SUBNET or --node, not both");
      // A subnet is parsed (and refused with its reason): the lease holding it goes (both
      // subnets of a dual-stack one); anything else must be a listed key.
      const subnet = target?.includes("/") ? prefixValue(target) : undefined;
      const key = subnet ? undefined : target;
      if (!dryRun) requireRoot(ROOT_TO_WRITE);
      const released = await withStore(opts, async (store) => {
        const { entries } = await store.listLeases();
        const node = target === undefined ? nodeName(opts.node) : undefined;
        const entry = entries.find((e) => {
          if (subnet) {
            const held = subnetsOfKey(e.key);
            return held !== undefined && leaseSubnets(held).some((p) => prefixEquals(p, subnet));
          }
          return key !== undefined ? e.key === key : "lease" in e && e.lease.attrs.node === node;
        });
        if (!entry || !(dryRun || await store.release(entry.key))) {
          const what = target ?? `node ${node}`;
          throw new InputError(`no lease for ${what} in ${store.url}: "hg subnet ls" lists them`);
        }
        return entry;
      });
      const verb = dryRun ? "would release" : "released";
      if ("lease" in released) {
        const { lease } = released;
        out.json({ changed: !dryRun, dryRun, key: released.key, ...leaseJson(lease) });
        out.line(
          `${verb} ${leaseSubnets(lease).map(formatPrefix).join(" + ")} (${
            lease.attrs.node ?? formatAddress(lease.attrs.publicIp)
          })`,
        );
      } else {
        out.json({ changed: !dryRun, dryRun, key: released.key, problem: released.problem });
        out.line(`${verb} bad entry ${released.key} (${released.problem})`);
      }
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
            configRanges(config).map((r) => `${formatPrefix(r.network)}, /${r.subnetLen} subnets`)
              .join(" + ")
          }, revision ${listing.revision}`
          : "no network config",
      );
      const dual = leases.some((l) => l.ipv6Subnet);
      out.line(table(
        [
          "SUBNET",
          ...(dual ? ["IPV6 SUBNET"] : []),
          "PUBLIC IP",
          ...(dual ? ["PUBLIC IPV6"] : []),
          "NODE",
          "EXPIRES",
        ],
        leases.map(leaseJson).map((l) => [
          l.subnet,
          ...(dual ? [l.ipv6Subnet ?? "-"] : []),
          l.publicIp,
          ...(dual ? [l.publicIpv6 ?? "-"] : []),
          l.node ?? "-",
          l.expiresAt ?? "-",
        ]),
      ));
      for (const p of problems) {
        out.line(`bad entry ${p.key}: ${p.problem} ("hg subnet release ${p.key}" removes it)`);
      }
    });
  return subnet;
}
