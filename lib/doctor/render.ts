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
 * import { diagnose } from "./diagnose.ts";
 * import type { Observation } from "./observation.ts";
 * declare const observation: Observation; // a host as doctor read it
 * console.log(renderDiagnosis(diagnose(observation)).join("\n"));
 * ```
 */
export function renderDiagnosis(d: Diagnosis): string[] {
  const mark = d.status === "ok" ? "OK  " : d.status === "undecided" ? "????" : "FAIL";
  const lines = [`${mark}  ${d.verdict}`];
  if (d.path) {
    lines.push("", `path${d.from ? ` from ${d.from}` : ""} to ${d.to}:`);
    for (const step of d.path) lines.push(`  ${step.ok ? "ok  " : "FAIL"}  ${step.text}`);
  }
  if (d.probe) {
    const p = d.probe;
    lines.push(
      "",
      `probe: ${p.answered} of ${p.sent} echoes answered` +
        (p.large ? `; ${p.large.answered} of ${p.large.sent} of ${p.large.size} bytes` : "") +
        ` (${p.elapsedMs} ms)`,
    );
    if (p.stoppedAt) lines.push(`  stopped: ${p.stoppedAt}`);
    for (const w of p.watched) {
      lines.push(
        `  watched: ${w.role}${w.netns ? ` ${w.netns}` : ""}${w.error ? ` (not: ${w.error})` : ""}`,
      );
    }
  }
  for (const f of d.findings) {
    const where = f.where ? ` [${f.where}]` : "";
    lines.push("", `${f.severity.toUpperCase().padEnd(7)}  ${f.id}${where}: ${f.summary}`);
    if (f.explanation) lines.push(`         why:  ${f.explanation}`);
    for (const e of f.evidence) lines.push(`         seen: ${e}`);
    for (const fix of f.fix) lines.push(`         fix:  ${fix}`);
  }
  return lines;
}
