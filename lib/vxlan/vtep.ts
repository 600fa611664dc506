/**
 * A host's VXLAN endpoint (VTEP) as flannel lays it out, so that hg and flanneld hosts share a
 * registry: the device `flannel.<VNI>` on UDP port 8472, holding the host subnet's network
 * address as a /32, with a MAC address that the host's lease carries (`BackendData.VtepMAC`).
 *
 * @module
 */
import { InputError } from "../errors.ts";
import type { IpAddress } from "../net/address.ts";

/** VXLAN options of the network config (flannel's `Backend.VNI` and `Backend.Port`). */
export interface VxlanOptions {
  readonly vni: number;
  readonly port: number;
}

/** flannel's defaults: VNI 1, UDP port 8472 (the Linux kernel's historic VXLAN port). */
export const DEFAULT_VXLAN: VxlanOptions = { vni: 1, port: 8472 };

/** Bytes VXLAN adds to each packet over IPv4: outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

/**
 * The VXLAN device's name for a VNI, as flannel names it.
 *
 * @example
 * ```ts
 * vxlanDeviceName(1); // "flannel.1"
 * ```
 */
export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

/**
 * The MAC address hg gives its VTEP: `0e:56:` and the bytes of the host's public IPv4 address.
 * It is the same every time the device is made again (peers' fdb and neighbour entries stay
 * right after a re-creation), distinct for distinct hosts, and known before the device exists,
 * so a lease or a hand-written `hg peer add --vtep-mac` can name it.
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * vtepMac(parseAddress("10.0.12.11")); // "0e:56:0a:00:0c:0b"
 * ```
 */
export function vtepMac(publicIp: IpAddress): string {
  const bytes = [24, 16, 8, 0].map((s) => Number((publicIp.value >> BigInt(s)) & 0xffn));
  return ["0e", "56", ...bytes.map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/**
 * The MTU of a VXLAN device on an uplink of MTU `uplinkMtu`.
 *
 * @example
 * ```ts
 * vxlanMtu(1500); // 1450
 * ```
 */
export function vxlanMtu(uplinkMtu: number): number {
  return uplinkMtu - VXLAN_OVERHEAD;
}

/**
 * A unicast Ethernet address in the canonical form (`0e:56:0a:00:0c:0b`), or an InputError
 * naming `role`: multicast and all-zero addresses cannot be a VTEP.
 *
 * @example
 * ```ts
 * parseMac("--vtep-mac", "0E:56:0A:00:0C:0B"); // "0e:56:0a:00:0c:0b"
 * parseMac("--vtep-mac", "ff:ff:ff:ff:ff:ff"); // throws InputError
 * ```
 */
export function parseMac(role: string, text: string): string {
  const match = /^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$/.exec(text);
  if (!match) {
    throw new InputError(
      `${role} ${
        JSON.stringify(text)
      } is not a MAC address: expected six hex pairs, 0e:56:0a:00:0c:0b`,
    );
  }
  const mac = text.toLowerCase().replaceAll("-", ":");
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new InputError(`${role} ${mac} is a multicast address: a VTEP needs a unicast one`);
  }
  if (mac === "00:00:00:00:00:00") {
    throw new InputError(`${role} ${mac} is all zeros: a VTEP needs a real address`);
  }
  return mac;
}

/** Why a VNI from the network config or a flag is not one (24 bits), or undefined. */
export function vniError(role: string, value: unknown): InputError | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffff) {
    return undefined;
  }
  return new InputError(`${role} ${JSON.stringify(value)} is not a VNI: expected 0-16777215`);
}

/** Why a UDP port from the network config or a flag is not one, or undefined. */
export function portError(role: string, value: unknown): InputError | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535) {
    return undefined;
  }
  return new InputError(`${role} ${JSON.stringify(value)} is not a UDP port: expected 1-65535`);
}
