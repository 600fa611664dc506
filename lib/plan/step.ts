/**
 * A plan: the list of operations that close the gap between what a host has and what a command
 * wants. Pure data: planners build it, `apply.ts` runs it, `render.ts` prints it for `--dry-run`.
 *
 * @module
 */
import type { IpOp } from "../ip/op.ts";

/** One operation of a plan. */
export type Step =
  | ({ readonly kind: "ip" } & IpOp)
  /** A `bridge` command (fdb entries of a VXLAN device), run after the namespace's `ip` steps. */
  | ({ readonly kind: "bridge" } & IpOp)
  | { readonly kind: "sysctl"; readonly key: string; readonly value: string }
  | { readonly kind: "iptables"; readonly args: readonly string[] };

/** The operations a command will run, in order. Empty means nothing to do. */
export type Plan = readonly Step[];

/**
 * An `ip` step.
 *
 * @example
 * ```ts
 * ipStep(["link", "set", "lo", "up"], "c1"); // { kind: "ip", netns: "c1", args: [...] }
 * ```
 */
export function ipStep(args: readonly string[], netns?: string): Step {
  return netns === undefined ? { kind: "ip", args } : { kind: "ip", netns, args };
}

/**
 * A `bridge` step.
 *
 * @example
 * ```ts
 * bridgeStep(["fdb", "replace", "0e:56:0a:00:14:0b", "dev", "flannel.1", "dst", "10.0.20.11", "self", "permanent"]);
 * ```
 */
export function bridgeStep(args: readonly string[], netns?: string): Step {
  return netns === undefined ? { kind: "bridge", args } : { kind: "bridge", netns, args };
}
