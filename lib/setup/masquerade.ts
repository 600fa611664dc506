import type { Prefix } from "../net/prefix.ts";
import { formatPrefix } from "../net/prefix.ts";

/** The comment that marks hg's firewall rules, so teardown removes exactly those. */
export const RULE_COMMENT = "hg";

/**
 * The nat POSTROUTING rule (as `iptables -S` prints it, without `-A POSTROUTING`) that masquerades
 * traffic from `subnet` to anywhere outside the cluster `network`.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "../net/prefix.ts";
 * masqueradeRule(parsePrefix("1.1.1.0/24"), parsePrefix("1.1.0.0/16"));
 * // ["-s", "1.1.1.0/24", "!", "-d", "1.1.0.0/16", "-m", "comment", "--comment", "hg", "-j", "MASQUERADE"]
 * ```
 */
export function masqueradeRule(subnet: Prefix, network: Prefix): string[] {
  return [
    "-s",
    formatPrefix(subnet),
    "!",
    "-d",
    formatPrefix(network),
    "-m",
    "comment",
    "--comment",
    RULE_COMMENT,
    "-j",
    "MASQUERADE",
  ];
}

/** The hg rules among `iptables -t nat -S POSTROUTING` lines, as rule arguments without `-A CHAIN`. */
export function hgRules(lines: readonly string[]): string[][] {
  return lines
    .map((line) => line.trim().split(/\s+/))
    .filter((words) => words[0] === "-A" && words.join(" ").includes(`--comment ${RULE_COMMENT} `))
    .map((words) => words.slice(2));
}
