/**
 * Typed forwarding-database entries of a VXLAN device, parsed from `bridge -j fdb show dev DEV`:
 * which remote host (`dst`) gets the frames for a MAC address.
 *
 * @module
 */
import { type IpAddress, parseAddress } from "../net/address.ts";
import { JsonFields } from "./json_fields.ts";

/** One fdb entry. */
export interface FdbEntry {
  readonly mac: string;
  readonly dev: string;
  /** The remote VTEP's address (VXLAN entries). */
  readonly dst?: IpAddress;
  /** `permanent`, `static`, or undefined for a learned one. */
  readonly state?: string;
}

/**
 * Parses `bridge -j fdb show dev DEV` (whose entries do not repeat the device: it is `dev`).
 *
 * @example
 * ```ts
 * parseFdb('[{"mac":"0e:56:0a:00:14:0b","dst":"10.0.20.11","flags":["self"],"state":"permanent"}]', "flannel.1")[0].dst;
 * // 10.0.20.11
 * ```
 */
export function parseFdb(text: string | readonly unknown[], dev: string): FdbEntry[] {
  return JsonFields.list(text, "fdb entry").map((f) => {
    const dst = f.optionalString("dst");
    return {
      mac: f.string("mac").toLowerCase(),
      dev: f.optionalString("ifname") ?? dev,
      ...(dst === undefined ? {} : { dst: parseAddress(dst) }),
      ...(f.optionalString("state") === undefined ? {} : { state: f.optionalString("state") }),
    };
  });
}
