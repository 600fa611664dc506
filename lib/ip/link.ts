/**
 * Typed links parsed from `ip -j -d link`.
 *
 * @module
 */
import { JsonFields } from "./json_fields.ts";

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
}

/**
 * Parses the output of `ip -j -d link`.
 *
 * @example
 * ```ts
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
    };
  });
}
