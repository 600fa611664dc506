/**
 * Doctor's answer for people: the verdict first, then the packet's way, then each finding with
 * what was read and the commands that fix it.
 *
 * @module
 */
import type { Diagnosis } from "./diagnose.ts";

/**
 * The diagnosis as lines of text.
 *
 * @example
 * ```ts
 * console.log(renderDiagnosis(diagnose(observation)).join("\n"));
 * ```
 */
export function renderDiagnosis(d: Diagnosis): string[] {
  const lines = [`${d.ok ? "OK  " : "FAIL"}  ${d.verdict}`];
  if (d.path) {
    lines.push("", `path${d.from ? ` from ${d.from}` : ""} to ${d.to}:`);
    for (const step of d.path) lines.push(`  ${step.ok ? "ok  " : "FAIL"}  ${step.text}`);
  }
  for (const f of d.findings) {
    lines.push("", `${f.severity.toUpperCase().padEnd(7)}  ${f.id}: ${f.summary}`);
    if (f.explanation) lines.push(`         why:  ${f.explanation}`);
    for (const e of f.evidence) lines.push(`         seen: ${e}`);
    for (const fix of f.fix) lines.push(`         fix:  ${fix}`);
  }
  return lines;
}
