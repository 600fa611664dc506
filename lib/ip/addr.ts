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
  /** `global`, `site`, `link`, `host` or `nowhere` (`ip -N` prints numbers; they are named here). */
  readonly scope: string;
  /** The IPv4 address label (`cni0`, `cni0:hg`); IPv6 addresses have none. */
  readonly label?: string;
  /**
   * IPv6 duplicate address detection's flags, as `ip -j addr` prints them: `tentative` (DAD
   * still runs: the kernel does not use the address yet), `dadfailed` (another node has it:
   * never used), `optimistic`, `nodad`, `deprecated`. Absent when there are none.
   */
  readonly flags?: readonly AddressFlag[];
}

/** The address flags hg reads (see {@link InterfaceAddress.flags}). */
export type AddressFlag = "tentative" | "dadfailed" | "optimistic" | "nodad" | "deprecated";

const ADDRESS_FLAGS: readonly AddressFlag[] = [
  "tentative",
  "dadfailed",
  "optimistic",
  "nodad",
  "deprecated",
];

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
 * const text = JSON.stringify([{
 *   ifindex: 3, ifname: "cni0", mtu: 1500, flags: ["UP"],
 *   addr_info: [{ family: "inet", local: "1.1.1.1", prefixlen: 24, scope: "global" }],
 * }]);
 * const links = parseAddresses(text);
 * links.find((l) => l.ifname === "cni0")?.addresses[0].prefix; // 1.1.1.0/24
 * ```
 */
export function parseAddresses(text: string | readonly unknown[]): AddressedLink[] {
  return JsonFields.list(text, "address").map((f) => ({
    ifindex: f.number("ifindex"),
    ifname: f.string("ifname"),
    mtu: f.number("mtu"),
    up: f.strings("flags").includes("UP"),
    addresses: f.objects("addr_info").flatMap((a): InterfaceAddress[] => {
      // Entries without "local" (e.g. a lifetime-only update) carry no address.
      if (!a.has("local")) return [];
      const address = parseAddress(a.string("local"));
      // ip prints each flag as a key set to true.
      const flags = ADDRESS_FLAGS.filter((flag) => a.raw(flag) === true);
      return [{
        address,
        prefix: prefixOf(address, a.number("prefixlen")),
        scope: scopeName(a.optionalString("scope") ?? "global"),
        ...(a.has("label") ? { label: a.string("label") } : {}),
        ...(flags.length > 0 ? { flags } : {}),
      }];
    }),
  }));
}

const SCOPE_NAMES: Readonly<Record<string, string>> = {
  "0": "global",
  "200": "site",
  "253": "link",
  "254": "host",
  "255": "nowhere",
};

function scopeName(scope: string): string {
  return SCOPE_NAMES[scope] ?? scope;
}
