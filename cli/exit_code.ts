/**
 * The one place that turns an error into an exit code and one line on stderr.
 *
 * 0: fine. 1: the job failed or the environment is not fit (HgError and anything unexpected).
 * 2: bad usage or input (InputError, unknown flags, missing arguments).
 * 3: the answer could not be decided (UndecidedError: doctor without a probe, when something it
 * cannot evaluate may stop traffic).
 *
 * @module
 */
import { CommanderError } from "@commander-js/extra-typings";
import { HgError, InputError, UndecidedError } from "../lib/errors.ts";
import { redactStoreUrl } from "../lib/store/url_credentials.ts";

/** Exit codes of hg. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNDECIDED = 3;

/** The exit code for `error` and the one line to print (undefined: print nothing). */
export function describeError(error: unknown): { code: number; message?: string } {
  if (error instanceof CommanderError) {
    if (
      error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
      error.code === "commander.help"
    ) {
      return { code: EXIT_OK };
    }
    // commander puts its suggestion on a second line: "(Did you mean status?)".
    const text = error.message.replace(/^error: /, "").replace(
      /\n\(Did you mean (.*)\)$/,
      " (did you mean $1)",
    );
    return { code: EXIT_USAGE, message: `hg: ${oneLine(text)} (see --help)` };
  }
  if (error instanceof InputError) return { code: EXIT_USAGE, message: line(error.message) };
  if (error instanceof UndecidedError) {
    return { code: EXIT_UNDECIDED, message: line(error.message) };
  }
  if (error instanceof HgError) return { code: EXIT_FAILED, message: line(error.message) };
  const text = error instanceof Error ? error.message : String(error);
  return { code: EXIT_FAILED, message: `hg: internal error: ${text.split("\n")[0]}` };
}

/**
 * `text` as one line: an error is always exactly one line on stderr, whatever it quotes; a URL
 * it quotes (commander repeats a bad value) never shows its credentials.
 */
function oneLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).join("; ")
    .replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]*/gi, redactStoreUrl);
}

const line = (text: string) => `hg: ${oneLine(text)}`;

/**
 * The JSON document `--json` prints on stdout for an error (the line still goes to stderr):
 * `{"schema": 1, "error": {"exitCode": 2, "message": "..."}}`, the message without "hg: ".
 *
 * @example
 * ```ts
 * errorDocument(2, 'hg: "1.1.1.0/33" is not a valid prefix');
 * ```
 */
export function errorDocument(code: number, message: string): Record<string, unknown> {
  return { schema: 1, error: { exitCode: code, message: message.replace(/^hg: /, "") } };
}
