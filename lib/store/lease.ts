/**
 * Lease values in flannel's format, so that hg and flanneld read each other's leases:
 * `{"PublicIP":"10.0.12.11","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}`,
 * plus `HgNode`, the node name hg matches a returning host by (flannel ignores unknown fields).
 * A VXLAN host's lease carries its VTEP in `BackendData` as flannel's do:
 * `"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:56:0a:00:0c:0b"}`.
 * Keys name the subnet with "-" for "/": `1.1.1.0-24`.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { type IpAddress, parseAddressOf } from "../net/address.ts";
import { specialAddressError } from "../net/special.ts";
import { formatAddress } from "../net/address.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../net/prefix.ts";
import { parseMac, vtepMac } from "../vxlan/vtep.ts";
import type { Backend } from "./config.ts";

/** What a lease says about its holder. */
export interface LeaseAttrs {
  /** The address other hosts route the subnet through. */
  readonly publicIp: IpAddress;
  readonly backendType: string;
  /** The holder's node name, when hg wrote the lease. */
  readonly node?: string;
  /** A vxlan lease's VTEP: where other hosts send the subnet's encapsulated traffic. */
  readonly vtep?: LeaseVtep;
}

/** What a vxlan lease's `BackendData` says. */
export interface LeaseVtep {
  readonly mac: string;
  /** flannel writes its VNI too (older flanneld did not). */
  readonly vni?: number;
}

/**
 * This host's lease attributes on a network with `backend`: a vxlan network's lease names the
 * backend and carries the host's VTEP MAC (see `vtepMac`), a host-gw network's neither.
 *
 * @example
 * ```ts
 * leaseAttrsFor({ publicIp: parseAddress("10.0.12.11"), backendType: "host-gw" }, { type: "vxlan", vni: 1, port: 8472, directRouting: true }).vtep;
 * // { mac: "0e:56:0a:00:0c:0b", vni: 1 }
 * ```
 */
export function leaseAttrsFor<T extends LeaseAttrs>(attrs: T, backend: Backend): T {
  const { vtep: _, ...rest } = attrs;
  if (backend.type === "host-gw") return { ...rest, backendType: "host-gw" } as T;
  return {
    ...rest,
    backendType: "vxlan",
    vtep: { mac: vtepMac(attrs.publicIp), vni: backend.vni },
  } as T;
}

/**
 * Why `address` cannot be the address a lease carries (undefined: it can): leases carry an IPv4
 * unicast address. `role` names where it came from ("--public-ip", "public address").
 *
 * @example
 * ```ts
 * leaseAddressError("--public-ip", parseAddress("fd00::7"))?.message; // "--public-ip fd00::7 is IPv6: ..."
 * ```
 */
export function leaseAddressError(role: string, address: IpAddress): InputError | undefined {
  if (address.family !== 4) {
    return new InputError(
      `${role} ${formatAddress(address)} is IPv6: hg leases carry an IPv4 address`,
    );
  }
  return specialAddressError(role, address);
}

/**
 * The registry key of a subnet: `1.1.1.0-24`.
 *
 * @example
 * ```ts
 * subnetKey(parsePrefix("1.1.1.0/24")); // "1.1.1.0-24"
 * ```
 */
export function subnetKey(subnet: Prefix): string {
  return formatPrefix(subnet).replace("/", "-");
}

/** The subnet a registry key names, or undefined when the key is not one. */
export function subnetOfKey(key: string): Prefix | undefined {
  const match = /^(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(key);
  if (!match) return undefined;
  try {
    return parsePrefix(`${match[1]}/${match[2]}`);
  } catch {
    return undefined;
  }
}

/**
 * A lease value as flannel writes it, plus hg's node name.
 *
 * @example
 * ```ts
 * formatLeaseValue({ publicIp: parseAddress("10.0.12.11"), backendType: "host-gw", node: "h1" });
 * // '{"PublicIP":"10.0.12.11","PublicIPv6":null,"BackendType":"host-gw","BackendData":null,"HgNode":"h1"}'
 * ```
 */
export function formatLeaseValue(attrs: LeaseAttrs): string {
  return JSON.stringify(leaseValue(attrs));
}

/** The lease value as a JSON object (what {@link formatLeaseValue} writes). */
export function leaseValue(attrs: LeaseAttrs): Record<string, unknown> {
  return {
    PublicIP: formatAddress(attrs.publicIp),
    PublicIPv6: null,
    BackendType: attrs.backendType,
    BackendData: attrs.vtep
      ? {
        ...(attrs.vtep.vni === undefined ? {} : { VNI: attrs.vtep.vni }),
        VtepMAC: attrs.vtep.mac,
      }
      : null,
    ...(attrs.node === undefined ? {} : { HgNode: attrs.node }),
  };
}

/** Parses a lease value; throws an Error with a one-line reason when it is not a valid one. */
export function parseLeaseValue(text: string): LeaseAttrs {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`value is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return leaseAttrsOf(data);
}

/** Checks a lease value already parsed from JSON (a file registry's, a snapshot's). */
export function leaseAttrsOf(data: unknown): LeaseAttrs {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("value is not a JSON object");
  }
  const v = data as Record<string, unknown>;
  if (typeof v.PublicIP !== "string") throw new Error(`PublicIP is missing or not a string`);
  const publicIp = parseAddressOf(4, v.PublicIP);
  const backendType = v.BackendType ?? "";
  if (typeof backendType !== "string") throw new Error("BackendType is not a string");
  if (
    v.HgNode !== undefined &&
    (typeof v.HgNode !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(v.HgNode))
  ) {
    throw new Error("HgNode is not a valid node name");
  }
  return {
    publicIp,
    backendType,
    ...(typeof v.HgNode === "string" ? { node: v.HgNode } : {}),
    ...(backendType === "vxlan" ? { vtep: vtepOf(v.BackendData) } : {}),
  };
}

/** A vxlan lease's `BackendData`: an object with a unicast `VtepMAC` (and maybe `VNI`). */
function vtepOf(data: unknown): LeaseVtep {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("a vxlan lease has no BackendData object (with VtepMAC)");
  }
  const d = data as Record<string, unknown>;
  if (typeof d.VtepMAC !== "string") throw new Error("BackendData.VtepMAC is missing");
  let mac: string;
  try {
    mac = parseMac("BackendData.VtepMAC", d.VtepMAC);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (d.VNI === undefined) return { mac };
  if (typeof d.VNI !== "number" || !Number.isInteger(d.VNI) || d.VNI < 0 || d.VNI > 0xffffff) {
    throw new Error("BackendData.VNI is not a VNI");
  }
  return { mac, vni: d.VNI };
}
