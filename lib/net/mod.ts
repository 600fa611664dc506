/**
 * Pure IPv4 and IPv6 address and prefix math: strict parsing, canonical formatting,
 * containment, overlap and subnetting. No dependencies, no I/O.
 *
 * @example
 * ```ts
 * import { formatPrefix, nthSubnet, parsePrefix } from "./mod.ts";
 * formatPrefix(nthSubnet(parsePrefix("10.1.0.0/16"), 24, 7)); // "10.1.7.0/24"
 * ```
 *
 * @module
 */

export * from "./address.ts";
export * from "./prefix.ts";
export * from "./interval.ts";
