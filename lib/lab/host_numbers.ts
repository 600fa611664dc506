/**
 * Which host numbers a lab has used: hosts are numbered after the highest number ever used, and
 * a host taken out with `lab rm-node` never comes back under its old number (its name, address
 * and subnet would otherwise be a different host's, in logs, leases and other hosts' routes).
 * Remembered in `<lab dir>/hosts.json`, which goes with the lab, together with the backend the
 * lab was built with when it is not host-gw and its address families when they are not IPv4
 * alone (its hosts' commands depend on both).
 *
 * @module
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { labDir } from "./registry.ts";
import type { LabBackend, LabFamily } from "./topology.ts";

/** A lab's used host numbers. */
export interface HostNumbers {
  /** The highest host number ever used in the lab (0 before the first host). */
  readonly highest: number;
  /** Hosts removed for good: `lab up` does not build them again. */
  readonly removed: readonly number[];
  /** The lab's backend when it is VXLAN (absent: host-gw, also in labs made by an older hg). */
  readonly backend?: "vxlan";
  /** The lab's address families when it has IPv6 (absent: IPv4, also in older labs). */
  readonly family?: "ipv6" | "dual-stack";
}

/**
 * Host numbers in the order hosts.json holds them, `backend` only when it is VXLAN and `family`
 * only when it is not IPv4 (so an IPv4 host-gw lab's file is what it always was, and equal
 * records compare equal as text).
 *
 * @example
 * ```ts
 * hostNumbers(2, [], "host-gw"); // { highest: 2, removed: [] }
 * hostNumbers(2, [], "vxlan"); // { highest: 2, removed: [], backend: "vxlan" }
 * hostNumbers(2, [], "host-gw", "ipv6"); // { highest: 2, removed: [], family: "ipv6" }
 * ```
 */
export function hostNumbers(
  highest: number,
  removed: readonly number[],
  backend: LabBackend | undefined,
  family?: LabFamily,
): HostNumbers {
  return {
    highest,
    removed,
    ...(backend === "vxlan" ? { backend } : {}),
    ...(family === "ipv6" || family === "dual-stack" ? { family } : {}),
  };
}

/**
 * What the lab remembers, reconciled with the hosts it has now (`present`, their numbers): a
 * lab made before hg remembered anything, or whose file is gone, counts what it sees.
 *
 * @example
 * ```ts
 * await readHostNumbers("hglab", [1, 3]); // { highest: 3, removed: [] } for a lab without hosts.json
 * ```
 */
export async function readHostNumbers(
  name: string,
  present: readonly number[],
): Promise<HostNumbers> {
  const text = await readFile(hostsFile(name), "utf8").catch(() => undefined);
  return reconcileHostNumbers(text === undefined ? undefined : parseHostNumbers(text), present);
}

/**
 * What the lab remembers (`known`, undefined when nothing) reconciled with the hosts it has now.
 *
 * @example
 * ```ts
 * reconcileHostNumbers(undefined, [1, 3]); // { highest: 3, removed: [] }
 * reconcileHostNumbers({ highest: 4, removed: [2] }, [1, 3]); // { highest: 4, removed: [2] }
 * ```
 */
export function reconcileHostNumbers(
  known: HostNumbers | undefined,
  present: readonly number[],
): HostNumbers {
  return hostNumbers(
    Math.max(known?.highest ?? 0, ...present),
    known?.removed ?? [],
    known?.backend,
    known?.family,
  );
}

/**
 * Records the lab's used host numbers (atomically enough for one lab command at a time).
 *
 * @example
 * ```ts
 * await writeHostNumbers("hglab", { highest: 4, removed: [2] });
 * ```
 */
export async function writeHostNumbers(name: string, numbers: HostNumbers): Promise<void> {
  await mkdir(labDir(name), { recursive: true });
  await writeFile(hostsFile(name), JSON.stringify(numbers));
}

/**
 * The number of the next host: one more than the highest ever used.
 *
 * @example
 * ```ts
 * nextHostNumber({ highest: 4, removed: [2, 4] }); // 5
 * ```
 */
export function nextHostNumber(numbers: HostNumbers): number {
  return numbers.highest + 1;
}

/**
 * The numbers after building hosts 1..`nodes` (`lab up`): removed hosts stay removed.
 *
 * @example
 * ```ts
 * afterUp({ highest: 4, removed: [2] }, 3); // { highest: 4, removed: [2] }
 * ```
 */
export function afterUp(numbers: HostNumbers, nodes: number): HostNumbers {
  return hostNumbers(
    Math.max(numbers.highest, nodes),
    numbers.removed,
    numbers.backend,
    numbers.family,
  );
}

/**
 * The hosts `lab up --nodes N` builds or checks: 1..N without the removed ones.
 *
 * @example
 * ```ts
 * hostsToBuild({ highest: 4, removed: [2] }, 3); // [1, 3]
 * ```
 */
export function hostsToBuild(numbers: HostNumbers, nodes: number): number[] {
  return Array.from({ length: nodes }, (_, i) => i + 1).filter((i) => !numbers.removed.includes(i));
}

/**
 * The numbers after host `index` left for good (`lab rm-node`).
 *
 * @example
 * ```ts
 * afterRemove({ highest: 3, removed: [] }, 2); // { highest: 3, removed: [2] }
 * ```
 */
export function afterRemove(numbers: HostNumbers, index: number): HostNumbers {
  return hostNumbers(
    Math.max(numbers.highest, index),
    [...new Set([...numbers.removed, index])].sort((a, b) => a - b),
    numbers.backend,
    numbers.family,
  );
}

/** Where a lab remembers its host numbers. */
export const hostsFile = (name: string): string => `${labDir(name)}/hosts.json`;

/**
 * A hosts.json written by hg; anything else counts as nothing remembered.
 *
 * @example
 * ```ts
 * parseHostNumbers('{"highest":3,"removed":[2]}'); // { highest: 3, removed: [2] }
 * parseHostNumbers('{"highest":3,"removed":[],"backend":"vxlan"}'); // { ..., backend: "vxlan" }
 * parseHostNumbers('{"highest":3,"removed":[],"family":"ipv6"}'); // { ..., family: "ipv6" }
 * ```
 */
export function parseHostNumbers(text: string): HostNumbers | undefined {
  try {
    const value = JSON.parse(text) as Partial<HostNumbers>;
    const whole = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
    if (
      !whole(value.highest) || !Array.isArray(value.removed) || !value.removed.every(whole) ||
      (value.backend !== undefined && value.backend !== "vxlan") ||
      (value.family !== undefined && value.family !== "ipv6" && value.family !== "dual-stack")
    ) {
      return undefined;
    }
    return hostNumbers(value.highest, value.removed, value.backend, value.family);
  } catch {
    return undefined;
  }
}
