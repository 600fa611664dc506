import { Command } from "@commander-js/extra-typings";
import { noConfigError } from "../../lib/store/configure.ts";
import { EnvironmentError, InputError } from "../../lib/errors.ts";
import { type Backend, HOST_GW } from "../../lib/store/config.ts";
import { localVtep, planVxlanDevice } from "../../lib/vxlan/device.ts";
import { DEFAULT_VXLAN } from "../../lib/vxlan/vtep.ts";
import type { Plan } from "../../lib/plan/step.ts";
import { listRules } from "../../lib/firewall/iptables.ts";
import { formatAddress } from "../../lib/net/address.ts";
import { firstHost, formatPrefix, type Prefix, prefixCovers } from "../../lib/net/prefix.ts";
import { specialPrefixError } from "../../lib/net/special.ts";
import { leaseAddresses, uplinkOf } from "../../lib/host/public_address.ts";
import { allocate, previewAllocation } from "../../lib/store/allocate.ts";
import { findBridge } from "../../lib/host/bridge.ts";
import { observeHost } from "../../lib/host/observe.ts";
import {
  type LeaseAttrs,
  leaseKey,
  type LeaseSubnets,
  leaseSubnets,
} from "../../lib/store/lease.ts";
import type { SubnetStore } from "../../lib/store/store.ts";
import { planSetup } from "../../lib/setup/plan.ts";
import {
  DEFAULT_SUBNET_FILE,
  formatSubnetEnv,
  writeSubnetEnv,
} from "../../lib/setup/subnet_env.ts";
import { backendValue, integerValue, interfaceValue, prefixValue } from "../flags.ts";
import { mutate } from "../mutation.ts";
import type { Output } from "../output.ts";
import { hostIdentityOptions, storeOptions } from "../store_options.ts";
import { hostAttrs, leaseJson, newSubnetNote, previousNote, withStore } from "./subnet.ts";

/** The subnets this host will serve, from --subnet (and --ipv6-subnet) or from the registry. */
interface Assignment {
  readonly subnets: LeaseSubnets;
  /** The cluster network of the primary subnet, and of a dual-stack host's IPv6 one. */
  readonly network?: Prefix;
  readonly ipv6Network?: Prefix;
  /** A lease this run claimed, to give back if the setup fails. */
  readonly claimed?: boolean;
  /** What this run changed in the registry, in words (nothing for a renewal that extends). */
  readonly registryChange?: string;
  readonly lease?: ReturnType<typeof leaseJson>;
  readonly note?: string;
  /** The registry's backend (with --store). */
  readonly backend?: Backend;
}

/**
 * The registry's subnet for this host: its lease, the subnet its bridge already has when that is
 * free (else a clear error: the bridge would have to move), or a new one (only looked up in a
 * dry run).
 */
async function assignFromStore(
  store: SubnetStore,
  attrs: LeaseAttrs,
  ttlSeconds: number,
  dryRun: boolean,
  previous: Prefix | undefined,
): Promise<Assignment> {
  const config = await store.getConfig();
  if (!config) {
    throw noConfigError(store.url);
  }
  if (dryRun) {
    const { entries } = await store.listLeases();
    const request = { attrs, ttlSeconds, previous, keepPrevious: true };
    const preview = previewAllocation(config, entries, request, store.url);
    const networks = { network: config.network, ipv6Network: config.ipv6?.network };
    const { backend } = config;
    if (preview.kind === "renew") {
      return { subnets: preview.lease, ...networks, backend, lease: leaseJson(preview.lease) };
    }
    if (preview.kind === "previous") {
      return { subnets: preview.subnets, ...networks, backend, note: previousNote };
    }
    return {
      subnets: preview.first,
      ...networks,
      backend,
      note: newSubnetNote(preview.free, preview.first),
    };
  }
  const { lease, reused, entry } = await allocate(store, {
    attrs,
    ttlSeconds,
    previous,
    keepPrevious: true,
  });
  const leased = leaseSubnets(lease).map(formatPrefix).join(" + ");
  return {
    ...(entry === "renewed" ? {} : {
      registryChange: entry === "claimed"
        ? `leased ${leased} in ${store.url}`
        : `rewrote this host's lease of ${leased} in ${store.url} (its addresses or attributes changed)`,
    }),
    subnets: lease,
    network: config.network,
    ipv6Network: config.ipv6?.network,
    claimed: !reused,
    lease: leaseJson(lease),
    backend: config.backend,
  };
}

/** `hg setup`: the bridge with the subnet's gateway address, forwarding, optional masquerade. */
export function setupCommand(output: () => Output) {
  return hostIdentityOptions(storeOptions(new Command("setup")))
    .description("create the container bridge with this host's subnet and turn forwarding on")
    .option(
      "--subnet <cidr>",
      "this host's container subnet, e.g. 1.1.1.0/24 or fd00:1:1::/64 (or lease one with --store)",
      prefixValue,
    )
    .option(
      "--ipv6-subnet <cidr>",
      "dual-stack, with an IPv4 --subnet: this host's IPv6 subnet, e.g. fd00:1:1::/64",
      prefixValue,
    )
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .option("--mtu <n>", "bridge MTU", integerValue("--mtu", 68, 65535))
    .option("--masquerade", "masquerade traffic from the subnet that leaves the cluster network")
    .option(
      "--network <cidr>",
      "the cluster network (with --subnet; needed by --masquerade)",
      prefixValue,
    )
    .option(
      "--ipv6-network <cidr>",
      "the cluster's IPv6 network (with --ipv6-subnet), for subnet.env",
      prefixValue,
    )
    .option("--subnet-file <path>", "where to write flannel's subnet.env", DEFAULT_SUBNET_FILE)
    .option(
      "--backend <type>",
      "with --subnet: host-gw, or vxlan to make this host's VXLAN device (flannel.VNI) for " +
        '"hg peer add --vtep-mac" (with --store the registry\'s config says)',
      backendValue,
    )
    .option(
      "--vni <n>",
      "with --backend vxlan: the VNI (default 1)",
      integerValue("--vni", 0, 16777215),
    )
    .option(
      "--port <n>",
      "with --backend vxlan: the UDP port (default 8472)",
      integerValue("--port", 1, 65535),
    )
    .action(async (opts) => {
      const out = output();
      if (opts.store !== undefined && opts.backend !== undefined) {
        throw new InputError(
          "--backend comes from the registry's config with --store: leave it out",
        );
      }
      if (opts.backend !== "vxlan" && (opts.vni !== undefined || opts.port !== undefined)) {
        throw new InputError("--vni and --port go with --backend vxlan");
      }
      if ((opts.subnet === undefined) === (opts.store === undefined)) {
        throw new InputError(
          "give either --subnet CIDR or --store URL (to lease a subnet from the registry)",
        );
      }
      if (opts.store !== undefined) {
        const fromConfig = [
          ["--network", opts.network],
          ["--ipv6-subnet", opts.ipv6Subnet],
          ["--ipv6-network", opts.ipv6Network],
        ].find(([, v]) => v !== undefined);
        if (fromConfig) {
          throw new InputError(
            `${fromConfig[0]} comes from the registry's config with --store: leave it out`,
          );
        }
      }
      if (opts.ipv6Subnet && opts.subnet?.address.family !== 4) {
        throw new InputError(
          "--ipv6-subnet goes with an IPv4 --subnet (an IPv6-only host gives its IPv6 --subnet)",
        );
      }
      if (opts.ipv6Network && !opts.ipv6Subnet) {
        throw new InputError("--ipv6-network goes with --ipv6-subnet");
      }
      if (opts.subnet && opts.masquerade && !opts.network) {
        throw new InputError(
          "--masquerade needs --network CIDR: the cluster network that is not masqueraded",
        );
      }
      const network = opts.network && specialPrefixError("--network", opts.network);
      if (network) throw network;
      for (
        const [flag, subnet, networkFlag, within] of [
          ["--subnet", opts.subnet, "--network", opts.network],
          ["--ipv6-subnet", opts.ipv6Subnet, "--ipv6-network", opts.ipv6Network],
        ] as const
      ) {
        if (subnet && within && !prefixCovers(within, subnet)) {
          throw new InputError(
            `${flag} ${formatPrefix(subnet)} is not inside ${networkFlag} ${formatPrefix(within)}`,
          );
        }
      }
      // With a registry, the host is read first: who it is, and the subnet its bridge has.
      const host = opts.store === undefined ? undefined : await observeHost();
      const attrs = host && await hostAttrs(opts, host);
      await withStoreIfAny(opts, async (store) => {
        const assignment: Assignment = store && attrs
          ? await assignFromStore(
            store,
            attrs,
            opts.ttl,
            out.options.dryRun,
            host && findBridge(host, opts.bridge)?.gateway?.prefix,
          )
          : {
            subnets: {
              subnet: opts.subnet!,
              ...(opts.ipv6Subnet ? { ipv6Subnet: opts.ipv6Subnet } : {}),
            },
            network: opts.network,
            ipv6Network: opts.ipv6Network,
          };
        if (assignment.note) out.note(assignment.note);
        const { subnets, network } = assignment;
        const { subnet } = subnets;
        const masqueradeNetwork = opts.masquerade ? network : undefined;
        const backend: Backend = assignment.backend ?? (opts.backend === "vxlan"
          ? {
            type: "vxlan",
            vni: opts.vni ?? DEFAULT_VXLAN.vni,
            port: opts.port ?? DEFAULT_VXLAN.port,
            directRouting: true,
          }
          : HOST_GW);
        let mtu = 1500;
        try {
          await mutate(out, async (host) => {
            const publicIp = attrs?.publicIp ??
              (backend.type === "vxlan"
                ? leaseAddresses(host, opts, opts.iface).publicIp
                : undefined);
            const uplink = uplinkOf(host, publicIp);
            mtu = opts.mtu ?? uplink?.mtu ?? 1500;
            let device: Plan = [];
            if (backend.type === "vxlan") {
              const vtep = localVtep(host, backend, publicIp!, subnet);
              if ("error" in vtep) throw new EnvironmentError(vtep.error);
              device = planVxlanDevice(host, vtep).steps;
              // Containers made from subnet.env (flannel's CNI plugin) fit the tunnel.
              mtu = Math.min(mtu, vtep.mtu);
            }
            const natRules = masqueradeNetwork ? await listRules("nat", "POSTROUTING") : [];
            const plan = planSetup(host, {
              ...subnets,
              bridge: opts.bridge,
              mtu: opts.mtu,
              uplink,
              masqueradeNetwork,
            }, natRules);
            const gatewayOf = (s: Prefix) => `${formatAddress(firstHost(s))}/${s.length}`;
            const { ipv6Subnet } = subnets;
            return {
              plan: [...plan, ...device],
              ...(assignment.registryChange ? { changedBefore: [assignment.registryChange] } : {}),
              summary: `bridge ${opts.bridge} ${
                leaseSubnets(subnets).map(gatewayOf).join(" ")
              } for subnet ${leaseSubnets(subnets).map(formatPrefix).join(" + ")}, forwarding on`,
              result: {
                bridge: opts.bridge,
                subnet: formatPrefix(subnet),
                gateway: gatewayOf(subnet),
                ipv6Subnet: ipv6Subnet ? formatPrefix(ipv6Subnet) : null,
                ipv6Gateway: ipv6Subnet ? gatewayOf(ipv6Subnet) : null,
                lease: assignment.lease ?? null,
              },
            };
          });
        } catch (e) {
          // A subnet leased for a host that cannot use it goes back to the pool.
          if (store && assignment.claimed) await store.release(leaseKey(subnets)).catch(() => {});
          throw e;
        }
        if (network && !out.options.dryRun) {
          const { ipv6Network } = assignment;
          const text = formatSubnetEnv({
            network,
            subnet,
            ...(ipv6Network && subnets.ipv6Subnet
              ? { ipv6: { network: ipv6Network, subnet: subnets.ipv6Subnet } }
              : {}),
            mtu,
            ipMasq: opts.masquerade ?? false,
          });
          if (await writeSubnetEnv(opts.subnetFile, text)) out.detail(`wrote ${opts.subnetFile}`);
        }
      });
    });
}

/** Runs `fn` with the store when --store is given, else with none. */
function withStoreIfAny<T>(
  flags: Parameters<typeof withStore>[0],
  fn: (store: SubnetStore | undefined) => Promise<T>,
): Promise<T> {
  return flags.store === undefined ? fn(undefined) : withStore(flags, fn);
}
