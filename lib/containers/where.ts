/**
 * How to reach a container's network namespace: hg's own by name under `/run/netns` (`ip -n`),
 * a runtime's by the path CNI_NETNS gave (`nsenter --net=PATH`), and the commands a person types
 * for each.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { addressEquals, parseAddress } from "../net/address.ts";
import type { ContainerEntry } from "./list.ts";

/**
 * The namespace reference hg runs `ip` and other programs in for `c` (a name or a path), or
 * undefined for a runtime container whose path hg could not record.
 *
 * @example
 * ```ts
 * import type { ContainerEntry } from "./list.ts";
 * declare const c: ContainerEntry; // hg's container web1
 * containerNetns(c); // "web1" or "/run/netns/netns-1f2e..."
 * ```
 */
export function containerNetns(c: ContainerEntry): string | undefined {
  return c.kind === "netns" ? c.name : c.netns;
}

/**
 * The command line that runs `command` (an `ip` command without "ip") inside `c`.
 *
 * @example
 * ```ts
 * import type { ContainerEntry } from "./list.ts";
 * declare const c: ContainerEntry; // hg's container web1
 * containerIpCommand(c, "route flush cache"); // "ip -n web1 route flush cache"
 * ```
 */
export function containerIpCommand(c: ContainerEntry, command: string): string {
  return c.kind === "netns" ? `ip -n ${c.name} ${command}` : `${enter(c)} ip ${command}`;
}

/**
 * The command line that runs any program inside `c`.
 *
 * @example
 * ```ts
 * import type { ContainerEntry } from "./list.ts";
 * declare const c: ContainerEntry; // hg's container web1
 * containerExecCommand(c, "sysctl -w net/ipv4/icmp_echo_ignore_all=0"); // "ip netns exec web1 sysctl ..."
 * ```
 */
export function containerExecCommand(c: ContainerEntry, command: string): string {
  return c.kind === "netns" ? `ip netns exec ${c.name} ${command}` : `${enter(c)} ${command}`;
}

function enter(c: ContainerEntry): string {
  return `nsenter --net=${c.netns ?? `<netns of container ${c.containerId}>`}`;
}

/**
 * The container `text` names: a name (hg's namespace, or the runtime's name for its
 * container; a pod's name without its Kubernetes namespace), a runtime's container id or a
 * unique prefix of one (at least 4 characters), or an address.
 *
 * @example
 * ```ts
 * import type { ContainerEntry } from "./list.ts";
 * declare const containers: ContainerEntry[];
 * findContainer(containers, "web1"); findContainer(containers, "3f2a9c"); findContainer(containers, "1.1.1.5");
 * ```
 */
export function findContainer<C extends ContainerEntry>(
  containers: readonly C[],
  text: string,
): C {
  const address = (() => {
    try {
      return parseAddress(text);
    } catch {
      return undefined;
    }
  })();
  const exact = containers.filter((c) => c.name === text || c.containerId === text);
  // Each way of naming, tried in turn: the first that names anything decides.
  const ways: C[][] = [
    exact,
    // A Kubernetes pod is named NAMESPACE/POD; its pod name alone names it too.
    text.includes("/") ? [] : containers.filter((c) => c.name.endsWith(`/${text}`)),
    address ? containers.filter((c) => addressEquals(c.address, address)) : [],
    text.length >= 4 ? containers.filter((c) => c.containerId?.startsWith(text)) : [],
  ];
  const named = ways.find((w) => w.length > 0);
  if (!named) {
    throw new InputError(
      `no container ${text} on this host (name, container id or address; "hg netns ls" lists ` +
        "them; a runtime's container whose veth was deleted is off hg's network: restart it " +
        "with its runtime)",
    );
  }
  if (named.length === 1) return named[0];
  // One container with several interfaces on hg: its eth0, else its first.
  if (
    named[0].containerId !== undefined && named.every((c) => c.containerId === named[0].containerId)
  ) {
    return [...named].sort((a, b) =>
      Number(b.ifname === "eth0") - Number(a.ifname === "eth0") || a.ifname.localeCompare(b.ifname)
    )[0];
  }
  throw new InputError(
    `${text} names ${named.length} containers (${
      named.map((c) => c.containerId ?? c.name).join(", ")
    }): give more of a container id, or an address`,
  );
}
