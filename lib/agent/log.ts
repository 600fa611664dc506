/**
 * The agent's log: one line per event, as plain text for people or JSON for log collectors.
 *
 * @module
 */

/** How bad a log line is. */
export type Level = "info" | "warn" | "error";

/** Writes log lines. */
export type Logger = (level: Level, message: string, fields?: Record<string, unknown>) => void;

/**
 * A logger writing to `write` (stderr by default) in `format`.
 *
 * @example
 * ```ts
 * const log = makeLogger("json");
 * log("info", "route add 1.1.3.0/24 via 10.0.12.13 (node3)", { subnet: "1.1.3.0/24" });
 * // {"time":"2026-11-25T17:00:00.000Z","level":"info","msg":"route add 1.1.3.0/24 via 10.0.12.13 (node3)","subnet":"1.1.3.0/24"}
 * ```
 */
export function makeLogger(
  format: "text" | "json",
  write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): Logger {
  return (level, message, fields = {}) => {
    const time = new Date().toISOString();
    if (format === "json") write(JSON.stringify({ time, level, msg: message, ...fields }));
    else write(`${time} ${level.toUpperCase().padEnd(5)} ${message}`);
  };
}
