/**
 * Containers that ignore pings: `net.ipv4.icmp_echo_ignore_all=1` in a container's namespace
 * makes its kernel drop every echo request (the ping fails though the path works).
 *
 * @module
 */
import { containerExecCommand } from "../../containers/where.ts";
import { sysctlCommand } from "../../sysctl/sysctl.ts";
import type { Container } from "../context.ts";
import type { Finding } from "../finding.ts";

/**
 * The container does not answer pings.
 *
 * @example
 * ```ts
 * import type { Container } from "../context.ts";
 * declare const container: Container;
 * checkEcho(container)[0]?.id; // "echo-ignored"
 * ```
 */
export function checkEcho(c: Container): Finding[] {
  const value = c.observed?.sysctl?.get("net.ipv4.icmp_echo_ignore_all");
  if (value === undefined || value.trim() === "0") return [];
  return [{
    id: "echo-ignored",
    severity: "error",
    stage: "container",
    summary: `container ${c.name} ignores pings (net.ipv4.icmp_echo_ignore_all = ${value}): ` +
      "echo requests reach it and get no answer",
    explanation: "Other traffic to the container is not affected; only ICMP echo is dropped.",
    evidence: [`${c.name}: net.ipv4.icmp_echo_ignore_all = ${value}`],
    fix: [containerExecCommand(c, sysctlCommand("net.ipv4.icmp_echo_ignore_all", "0"))],
  }];
}
