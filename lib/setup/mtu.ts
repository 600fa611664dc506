/**
 * The bridge MTU against the uplink's: containers' full-size packets to other hosts leave
 * through the uplink, so a bridge MTU above it is refused where it enters (setup, agent).
 *
 * @module
 */
import { InputError } from "../errors.ts";

/** The interface other hosts are reached through, as `uplinkOf` finds it. */
export interface Uplink {
  readonly ifname: string;
  readonly mtu: number;
}

/**
 * The error for a bridge MTU the uplink cannot carry (undefined: it can, or nothing was asked).
 *
 * @example
 * ```ts
 * bridgeMtuError(9000, { ifname: "eth0", mtu: 1500 })?.message;
 * // "--mtu 9000 is above the MTU 1500 of the uplink eth0: ..."
 * ```
 */
export function bridgeMtuError(
  mtu: number | undefined,
  uplink: Uplink | undefined,
): InputError | undefined {
  if (mtu === undefined || uplink === undefined || mtu <= uplink.mtu) return undefined;
  return new InputError(
    `--mtu ${mtu} is above the MTU ${uplink.mtu} of the uplink ${uplink.ifname}: ` +
      `containers' full-size packets to other hosts could not leave it`,
  );
}
