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
import { leaseAddress, uplinkOf } from "../../lib/host/public_address.ts";
import { allocate, previewAllocation } from "../../lib/store/allocate.ts";
import { findBridge } from "../../lib/host/bridge.ts";
import { observeHost } from "../../lib/host/observe.ts";
import { type LeaseAttrs, subnetKey } from "../../lib/store/lease.ts";
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

/** The subnet this host will serve, from --subnet or from the registry. */
interface Assignment {
  readonly subnet: Prefix;
  readonly network?: Prefix;
  /** A lease this run claimed, to give back if the setup fails. */
  readonly claimed?: boolean;
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
    const { network, backend } = config;
    if (preview.kind === "renew") {
      return { subnet: preview.lease.subnet, network, backend, lease: leaseJson(preview.lease) };
    }
    if (preview.kind === "previous") {
      return { subnet: preview.subnet, network, backend, note: previousNote };
    }
    return {
      subnet: preview.first,
      network,
      backend,
      note: newSubnetNote(preview.free, preview.first),
    };
  }
  const { lease, reused } = await allocate(store, {
    attrs,
    ttlSeconds,
    previous,
    keepPrevious: true,
  });
  return {
    subnet: lease.subnet,
    network: config.network,
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
      "this host's container subnet, e.g. 1.1.1.0/24 (or lease one with --store)",
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
      if (opts.store !== undefined && opts.network !== undefined) {
        throw new InputError(
          "--network comes from the registry's config with --store: leave it out",
        );
      }
      if (opts.subnet && opts.masquerade && !opts.network) {
        throw new InputError(
          "--masquerade needs --network CIDR: the cluster network that is not masqueraded",
        );
      }
      const network = opts.network && specialPrefixError("--network", opts.network);
      if (network) throw network;
      if (opts.subnet && opts.network && !prefixCovers(opts.network, opts.subnet)) {
        throw new InputError(
          `--subnet ${formatPrefix(opts.subnet)} is not inside --network ${
            formatPrefix(opts.network)
          }`,
        );
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
          : { subnet: opts.subnet!, network: opts.network };
        if (assignment.note) out.note(assignment.note);
        const { subnet, network } = assignment;
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
                ? leaseAddress(host, opts.publicIp, opts.iface)
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
              subnet,
              bridge: opts.bridge,
              mtu: opts.mtu,
              uplink,
              masqueradeNetwork,
            }, natRules);
            const gateway = `${formatAddress(firstHost(subnet))}/${subnet.length}`;
            return {
              plan: [...plan, ...device],
              summary: `bridge ${opts.bridge} ${gateway} for subnet ${
                formatPrefix(subnet)
              }, forwarding on`,
              result: {
                bridge: opts.bridge,
                subnet: formatPrefix(subnet),
                gateway,
                lease: assignment.lease ?? null,
              },
            };
          });
        } catch (e) {
          // A subnet leased for a host that cannot use it goes back to the pool.
          if (store && assignment.claimed) await store.release(subnetKey(subnet)).catch(() => {});
          throw e;
        }
        if (network && !out.options.dryRun) {
          const text = formatSubnetEnv({ network, subnet, mtu, ipMasq: opts.masquerade ?? false });
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
