/**
 * `hg lab doctor`: `hg doctor` in every lab host (the whole host), then for every ordered pair
 * of containers (`--to` the other container `--from` this one, on this container's host, with
 * the other host as `--peer-netns` so that the probe watches the whole path), with the lab's
 * registry when it has one. A big lab checks the same sample of pairs as its pings
 * (`checkedPairs`): at 50 hosts every pair would be 2,450 doctor runs.
 *
 * @module
 */
import { HgError } from "../errors.ts";
import type { Diagnosis } from "../doctor/diagnose.ts";
import type { HgInHost } from "./apply.ts";
import { HG_JOBS, inParallel } from "./parallel.ts";
import { checkedPairs } from "./reach.ts";
import { readLabRegistry } from "./registry.ts";

/** One doctor run of the lab. */
export interface LabDiagnosis {
  readonly host: string;
  readonly from?: string;
  readonly to?: string;
  readonly ok: boolean;
  readonly verdict: string;
  /** The ids of the findings, in doctor's order. */
  readonly findings: readonly string[];
}

/** A lab host and its containers' names and addresses. */
export interface LabHostContainers {
  readonly netns: string;
  readonly containers: readonly { readonly name: string; readonly address: string }[];
}

/**
 * Runs doctor across the lab.
 *
 * @example
 * ```ts
 * import { runInNetns } from "../exec/netns.ts";
 * const hgInHost = (netns: string, args: readonly string[]) => runInNetns(netns, ["hg", ...args]);
 * const hosts = [{ netns: "hglab-h1", containers: [{ name: "hglab-h1-c1", address: "1.1.1.2" }] }];
 * const results = await labDoctor("hglab", hosts, hgInHost);
 * results.every((r) => r.ok);
 * ```
 */
export async function labDoctor(
  name: string,
  hosts: readonly LabHostContainers[],
  hg: HgInHost,
): Promise<LabDiagnosis[]> {
  const registry = await readLabRegistry(name);
  const store = registry ? ["--store", registry.url] : [];
  const run = async (host: string, args: string[]) => {
    const r = await hg(host, ["doctor", "--json", "--node", host, ...store, ...args]);
    if (r.code !== 0 && r.code !== 1 && r.code !== 3) {
      throw new HgError(`hg doctor in ${host} failed: ${r.stderr.trim().split("\n")[0]}`);
    }
    const d = JSON.parse(r.stdout) as Diagnosis;
    return { ok: d.ok, verdict: d.verdict, findings: d.findings.map((f) => f.id) };
  };
  const all = hosts.flatMap((h) => h.containers.map((c) => ({ ...c, host: h.netns })));
  const jobs: (() => Promise<LabDiagnosis>)[] = [
    ...hosts.map((h) => async () => ({ host: h.netns, ...(await run(h.netns, [])) })),
    ...checkedPairs(all.length).map(([a, b]) => async () => ({
      host: all[a].host,
      from: all[a].name,
      to: all[b].name,
      ...(await run(all[a].host, [
        "--from",
        all[a].name,
        "--to",
        all[b].address,
        // The other host is a namespace here: the probe watches it and its container too.
        ...(all[b].host === all[a].host ? [] : ["--peer-netns", all[b].host]),
      ])),
    })),
  ];
  return await inParallel(jobs, HG_JOBS, (job) => job());
}
