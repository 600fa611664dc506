import { formatIpCommand } from "../ip/op.ts";
import { sysctlCommand } from "../sysctl/sysctl.ts";
import type { Plan, Step } from "./step.ts";

/**
 * The shell command equivalent to one step, as `--dry-run` prints it.
 *
 * @example
 * ```ts
 * renderStep({ kind: "sysctl", key: "net.ipv4.ip_forward", value: "1" }); // "sysctl -w net.ipv4.ip_forward=1"
 * ```
 */
export function renderStep(step: Step): string {
  switch (step.kind) {
    case "ip":
      return formatIpCommand(step);
    case "bridge":
      return formatIpCommand(step, "bridge");
    case "sysctl":
      return sysctlCommand(step.key, step.value);
    case "iptables":
      return ["iptables", ...step.args].join(" ");
  }
}

/** Every step of a plan, one command a line. */
export function renderPlan(plan: Plan): string[] {
  return plan.map(renderStep);
}
