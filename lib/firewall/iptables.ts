/**
 * Runs iptables (the nft-backed one on Debian) for hg's masquerade rules.
 *
 * @module
 */
import { EnvironmentError, HgError } from "../errors.ts";
import { runProcess } from "../exec/run.ts";

/** Lists the rules of one chain as `iptables -S` prints them, one rule a line. */
export async function listRules(table: string, chain: string): Promise<string[]> {
  const result = await runProcess("iptables", ["-w", "-t", table, "-S", chain]);
  if (result.code !== 0) {
    throw new HgError(`iptables -t ${table} -S ${chain} failed: ${result.stderr.trim()}`);
  }
  return result.stdout.split("\n").filter((line) => line.startsWith("-A "));
}

/**
 * The nat POSTROUTING rules, or none where iptables is not installed: hg cannot have added a rule
 * there, and a change that needs one fails where it applies.
 */
export async function natPostroutingRules(): Promise<string[]> {
  return await listRules("nat", "POSTROUTING").catch((e) => {
    if (e instanceof EnvironmentError) return [];
    throw e;
  });
}

/** Runs one iptables change. */
export async function runIptables(args: readonly string[]): Promise<void> {
  const result = await runProcess("iptables", ["-w", ...args]);
  if (result.code !== 0) {
    throw new HgError(`iptables ${args.join(" ")} failed: ${result.stderr.trim()}`);
  }
}
