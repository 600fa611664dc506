/**
 * Typed interface addresses parsed from `ip -j addr`.
 *
 * @module
 */
import { type IpAddress, parseAddress } from "../net/address.ts";
import { type Prefix, prefixOf } from "../net/prefix.ts";
import { JsonFields } from "./json_fields.ts";

/** One address on an interface, with the network it makes directly connected. */
export interface InterfaceAddress {
  readonly address: IpAddress;
  readonly prefix: Prefix;
  /** `global`, `link` or `host`. */
  readonly scope: string;
}

/** An interface and its addresses. */
export interface AddressedLink {
  readonly ifindex: number;
  readonly ifname: string;
  readonly mtu: number;
  /** Administratively up (`UP` flag). */
  readonly up: boolean;
  readonly addresses: readonly InterfaceAddress[];
}

/**
 * Parses the output of `ip -j addr`.
 *
 * @example
 * ```ts
 * const links = parseAddresses(text);
 * links.find((l) => l.ifname === "cni0")?.addresses[0].prefix; // 1.1.1.0/24
 * ```
 */
export function parseAddresses(text: string): AddressedLink[] {
  return JsonFields.list(text, "address").map((f) => ({
    ifindex: f.number("ifindex"),
    ifname: f.string("ifname"),
    mtu: f.number("mtu"),
    up: f.strings("flags").includes("UP"),
    addresses: f.objects("addr_info").flatMap((a): InterfaceAddress[] => {
      // Entries without "local" (e.g. a lifetime-only update) carry no address.
      if (!a.has("local")) return [];
      const address = parseAddress(a.string("local"));
      return [{
        address,
        prefix: prefixOf(address, a.number("prefixlen")),
        scope: a.optionalString("scope") ?? "global",
      }];
    }),
  }));
}
