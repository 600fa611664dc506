/**
 * Parsers for flag and argument values: each turns text into a typed value or throws an
 * InputError naming the flag, the value and what is expected.
 *
 * @module
 */
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
  if (!/^[A-Za-z0-9_.@:+-]{1,15}$/.test(text) || text === "." || text === "..") {
    throw new InputError(
      `${JSON.stringify(text)} is not a valid interface name: 1-15 letters, digits or _.-@:+`,
    );
  }
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
