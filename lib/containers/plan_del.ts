import { InputError } from "../errors.ts";
import { ipStep, type Plan } from "../plan/step.ts";
import { netnsContainers } from "./list.ts";
import type { HostLinks } from "./observe.ts";

/**
 * Plans `hg netns del NAME`: the container's namespace goes, and with it both ends of its veth.
 * Only containers hg made can be deleted.
 *
 * @example
 * ```ts
 * import type { HostLinks } from "./observe.ts";
 * declare const state: HostLinks; // hg's container web1 on bridge cni0
 * planNetnsDel(state, "web1", true); // [ip netns del web1]
 * ```
 */
export function planNetnsDel(host: HostLinks, name: string, netnsExists: boolean): Plan {
  const entry = netnsContainers(host).find((c) => c.name === name);
  if (!entry) {
    throw new InputError(
      `unknown container ${JSON.stringify(name)}: "hg netns ls" lists this host's containers`,
    );
  }
  // The host-side veth goes with the namespace; delete it explicitly only when the namespace is gone.
  return netnsExists ? [ipStep(["netns", "del", name])] : [ipStep(["link", "del", entry.hostVeth])];
}
