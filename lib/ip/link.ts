/**
 * Typed links parsed from `ip -j -d link`.
 *
 * @module
 */
import { type IpAddress, parseAddress } from "../net/address.ts";
import { JsonFields } from "./json_fields.ts";

/** A VXLAN device's settings (`linkinfo.info_data` of `ip -d -j link`). */
export interface VxlanInfo {
  readonly vni: number;
  /** The local address its packets leave from. */
  readonly local?: IpAddress;
  /** The device the encapsulated packets go out of (`dev` at creation). */
  readonly dev?: string;
  /** The destination UDP port. */
  readonly port: number;
  /** Whether the device learns remote MACs from received packets. */
  readonly learning: boolean;
}

/** One network interface. */
export interface Link {
  readonly ifindex: number;
  readonly ifname: string;
  /** `bridge`, `veth`, `vxlan`, ... from linkinfo; undefined for plain devices such as lo. */
  readonly kind?: string;
  /** The bridge this interface is a port of. */
  readonly master?: string;
  /** The free-text alias; hg marks what it creates with aliases starting "hg:". */
  readonly alias?: string;
  readonly mtu: number;
  readonly operstate: string;
  /** Administratively up (`UP` flag). */
  readonly up: boolean;
  /** The device has carrier (`LOWER_UP` flag). */
  readonly lowerUp: boolean;
  /** ARP is off on the device (`NOARP` flag): it neither asks nor answers. */
  readonly noArp: boolean;
  /** For a veth whose peer lives in another namespace: that namespace's id as seen from here. */
  readonly linkNetnsId?: number;
  readonly mac?: string;
  /** Set for a VXLAN device. */
  readonly vxlan?: VxlanInfo;
}

/**
 * Parses the output of `ip -j -d link`.
 *
 * @example
 * ```ts
 * declare const text: string; // what `ip -j -d link` printed
 * parseLinks(text).filter((l) => l.master === "cni0"); // the bridge's ports
 * ```
 */
export function parseLinks(text: string | readonly unknown[]): Link[] {
  return JsonFields.list(text, "link").map((f) => {
    const flags = f.strings("flags");
    const info = f.object("linkinfo");
    return {
      ifindex: f.number("ifindex"),
      ifname: f.string("ifname"),
      kind: info?.optionalString("info_kind"),
      master: f.optionalString("master"),
      alias: f.optionalString("ifalias"),
      mtu: f.number("mtu"),
      operstate: f.optionalString("operstate") ?? "UNKNOWN",
      up: flags.includes("UP"),
      lowerUp: flags.includes("LOWER_UP"),
      noArp: flags.includes("NOARP"),
      linkNetnsId: f.optionalNumber("link_netnsid"),
      mac: f.optionalString("address"),
      ...(info?.optionalString("info_kind") === "vxlan" ? { vxlan: vxlanInfo(info) } : {}),
    };
  });
}

function vxlanInfo(info: JsonFields): VxlanInfo | undefined {
  const data = info.object("info_data");
  if (!data) return undefined;
  const local = data.optionalString("local");
  return {
    vni: data.number("id"),
    ...(local === undefined ? {} : { local: parseAddress(local) }),
    ...(data.optionalString("link") === undefined ? {} : { dev: data.optionalString("link") }),
    port: data.optionalNumber("port") ?? 8472,
    learning: data.raw("learning") === true,
  };
}
