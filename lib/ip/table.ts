/**
 * Routing table ids: the numbers the kernel uses, from the names or numbers iproute2 prints.
 *
 * @module
 */
import { IpOutputError } from "./output_error.ts";

/** The local table: this host's own and broadcast addresses (rule 0 looks here first). */
export const TABLE_LOCAL = 255;
/** The main table: where `ip route` adds routes, and hg's. */
export const TABLE_MAIN = 254;
/** The default table (rule 32767), usually empty. */
export const TABLE_DEFAULT = 253;

const NAMED: Readonly<Record<string, number>> = {
  unspec: 0,
  default: TABLE_DEFAULT,
  main: TABLE_MAIN,
  local: TABLE_LOCAL,
};

/**
 * The number of a table as `ip -j` printed it (a number, a decimal string, or one of the
 * kernel's own names; `ip -N` always prints numbers). A name from a local rt_tables file
 * cannot be known here and is refused.
 *
 * @example
 * ```ts
 * tableNumber("main"); // 254
 * tableNumber("100"); // 100
 * ```
 */
export function tableNumber(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === "string") {
    if (/^\d+$/.test(value)) return Number(value);
    const named = NAMED[value];
    if (named !== undefined) return named;
  }
  throw new IpOutputError(
    `ip printed a routing table ${JSON.stringify(value)} that is not a number: run it with -N`,
  );
}

/**
 * A table as `ip` names it in commands (`main`, `local`, `default`, or its number).
 *
 * @example
 * ```ts
 * tableName(254); // "main"
 * ```
 */
export function tableName(table: number): string {
  return Object.entries(NAMED).find(([, n]) => n === table)?.[0] ?? String(table);
}
