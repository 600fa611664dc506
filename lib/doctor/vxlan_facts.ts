/**
 * What doctor knows of a host's VXLAN path, derived once per observation: the registry's VXLAN
 * backend, hg's VXLAN device (`flannel.<VNI>`, alias `hg:vxlan`) and what it should be (from the
 * backend and this host's lease), which way hg's sync would route each registry peer now
 * (host-gw or VXLAN), and hg's routes through the device. A host-gw network has none of it.
 *
 * @module
 */
import { formatAddress } from "../net/address.ts";
import type { Link } from "../ip/link.ts";
import type { Route } from "../ip/route.ts";
import type { SyncedPeer } from "../peers/sync.ts";
import type { Backend } from "../store/config.ts";
import type { Lease } from "../store/store.ts";
import { findVxlanDevice, type LocalVtep, localVtep } from "../vxlan/device.ts";
import type { DoctorContext } from "./context.ts";
import { syncPlan } from "./sync_plan.ts";
import { prefixKey } from "./route_index.ts";

/** The VXLAN backend's settings (flannel's `Backend` of type vxlan). */
export type VxlanBackend = Extract<Backend, { readonly type: "vxlan" }>;

/** A peer reached (or, by the registry, to be reached) over VXLAN, as the registry says it. */
export interface VxlanLease {
  readonly lease: Lease;
  /** Its VTEP MAC (`BackendData.VtepMAC`). */
  readonly mac: string;
  /** `h3 at 10.0.20.13` */
  readonly owner: string;
}

/** The VXLAN facts of one host. */
export interface VxlanFacts {
  /** The registry's backend, when the registry was read and says vxlan. */
  readonly backend?: VxlanBackend;
  /** hg's VXLAN device on this host. */
  readonly device?: Link;
  /** What hg's device should be, from the backend and this host's lease (registry only). */
  readonly expected?: LocalVtep;
  /** Each registry peer hg's sync would route now, by subnet (`1.1.2.0/24`), with its way. */
  readonly planned: ReadonlyMap<string, SyncedPeer>;
  /** hg's routes through its VXLAN device. */
  readonly routes: readonly Route[];
  /** Some peer goes over VXLAN now (a route through the device) or, by the registry, should. */
  readonly tunnels: boolean;
}

const known = new WeakMap<DoctorContext, VxlanFacts>();
const byText = new WeakMap<DoctorContext, Map<string, Lease>>();

/**
 * The leases by their subnet's text, as the sync's plan names peers (`1.1.2.0/24`): made when a
 * VXLAN check first asks, not for every host.
 */
function leasesByText(ctx: DoctorContext): ReadonlyMap<string, Lease> {
  let map = byText.get(ctx);
  if (!map) {
    map = new Map();
    for (const l of ctx.leaseBySubnet.values()) map.set(prefixKey(l.subnet), l);
    byText.set(ctx, map);
  }
  return map;
}

/**
 * The VXLAN facts of `ctx`'s host (computed once per context).
 *
 * @example
 * ```ts
 * import type { DoctorContext } from "./context.ts";
 * declare const ctx: DoctorContext;
 * vxlanFacts(ctx).device?.ifname; // "flannel.1"
 * ```
 */
export function vxlanFacts(ctx: DoctorContext): VxlanFacts {
  let facts = known.get(ctx);
  if (!facts) known.set(ctx, facts = derive(ctx));
  return facts;
}

function derive(ctx: DoctorContext): VxlanFacts {
  const host = ctx.obs.host;
  const device = findVxlanDevice(host);
  const config = ctx.registry?.config;
  const backend = config?.backend.type === "vxlan" ? config.backend : undefined;
  const own = ctx.ownLease;
  const vtep = backend && own
    ? localVtep(host, backend, own.attrs.publicIp, ctx.subnet ?? own.subnet)
    : undefined;
  const expected = vtep && !("error" in vtep) ? vtep : undefined;
  const planned = new Map<string, SyncedPeer>();
  if (backend && ctx.registry) {
    for (const p of syncPlan(ctx, ctx.obs.node)!.peers) planned.set(p.subnet, p);
  }
  const routes = device ? ctx.hgRoutes.filter((r) => r.dev === device.ifname) : [];
  return {
    ...(backend ? { backend } : {}),
    ...(device ? { device } : {}),
    ...(expected ? { expected } : {}),
    planned,
    routes,
    tunnels: routes.length > 0 || [...planned.values()].some((p) => p.mode === "vxlan"),
  };
}

/**
 * The registry's word on the VXLAN peer with `subnet` (`1.1.2.0/24`): its lease and VTEP MAC,
 * when its lease carries one.
 */
export function vxlanLease(ctx: DoctorContext, subnet: string): VxlanLease | undefined {
  const lease = leasesByText(ctx).get(subnet);
  const mac = lease?.attrs.vtep?.mac;
  if (!lease || mac === undefined) return undefined;
  const node = lease.attrs.node;
  return {
    lease,
    mac: mac.toLowerCase(),
    owner: `${node ? `${node} at ` : ""}${formatAddress(lease.attrs.publicIp)}`,
  };
}

/**
 * The command that makes this host's peer routes, VXLAN device and entries what the registry
 * says; undefined without a registry.
 */
export function resyncCommand(ctx: DoctorContext): string | undefined {
  return ctx.registry
    ? `hg peer sync --store ${ctx.registry.url}${ctx.obs.node ? ` --node ${ctx.obs.node}` : ""}`
    : undefined;
}
