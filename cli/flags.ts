/**
 * Parsers for flag and argument values: each turns text into a typed value or throws an
 * InputError naming the flag, the value and what is expected.
 *
 * @module
 */
import { interfaceNameError } from "../lib/host/interface_name.ts";
import { validateName } from "../lib/containers/name.ts";
import { InputError } from "../lib/errors.ts";
import { type IpAddress, parseAddress } from "../lib/net/address.ts";
import { parsePrefix, type Prefix } from "../lib/net/prefix.ts";

/** A prefix such as 1.1.1.0/24 (host bits must be zero). */
export function prefixValue(text: string): Prefix {
  return parsePrefix(text);
}

/** An IPv4 or IPv6 address. */
export function addressValue(text: string): IpAddress {
  return parseAddress(text);
}

/** A container name. */
export function nameValue(text: string): string {
  return validateName(text);
}

/** An interface name: 1-15 characters, no "/", whitespace or quotes. */
export function interfaceValue(text: string): string {
  const error = interfaceNameError(text);
  if (error) throw new InputError(error);
  return text;
}

/** A whole number within [min, max]. */
export function integerValue(what: string, min: number, max: number): (text: string) => number {
  return (text: string) => {
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new InputError(
        `${what} ${JSON.stringify(text)} is not valid: expected a whole number ${min}-${max}`,
      );
    }
    return Number(text);
  };
}

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration such as 90s, 30m, 24h, 1d or plain seconds, in whole seconds (1 s to 365 d). */
export function durationValue(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text);
  const seconds = match ? Number(match[1]) * UNITS[match[2] || "s"] : NaN;
  if (!(seconds >= 1 && seconds <= 365 * 86400)) {
    throw new InputError(
      `duration ${JSON.stringify(text)} is not valid: expected e.g. 90s, 30m, 24h or 1d (1s-365d)`,
    );
  }
  return seconds;
}

/** A node name: 1-64 of A-Za-z0-9_.- (it is stored in leases). */
export function nodeValue(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(text)) {
    throw new InputError(
      `node name ${JSON.stringify(text)} is not valid: 1-64 letters, digits or _.-`,
    );
  }
  return text;
}

/**
 * A container as `--from` names it: hg's container name, a runtime's name for its container
 * (Kubernetes: NAMESPACE/POD), a container id or a prefix of one, or an address.
 */
export function containerRefValue(text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:\/-]{0,159}$/.test(text)) {
    throw new InputError(
      `${JSON.stringify(text)} is not a container name, id or address: ` +
        "1-160 letters, digits or _.:/-",
    );
  }
  return text;
}

/** `--backend`: host-gw or vxlan. */
export function backendValue(text: string): "host-gw" | "vxlan" {
  if (text === "host-gw" || text === "vxlan") return text;
  throw new InputError(`--backend ${JSON.stringify(text)} is not valid: expected host-gw or vxlan`);
}
