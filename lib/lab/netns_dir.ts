import { readdir } from "node:fs/promises";

/** The names of the named network namespaces (`/run/netns`), like `ip netns list`. */
export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir("/run/netns")).sort();
  } catch {
    return [];
  }
}
