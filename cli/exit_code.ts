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

/** Exit codes of hg. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNDECIDED = 3;

/** The exit code for `error` and the line to print (undefined: print nothing). */
export function describeError(error: unknown): { code: number; message?: string } {
  if (error instanceof CommanderError) {
    if (
      error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
      error.code === "commander.help"
    ) {
      return { code: EXIT_OK };
    }
    const text = error.message.replace(/^error: /, "");
    return { code: EXIT_USAGE, message: `hg: ${text} (see --help)` };
  }
  if (error instanceof InputError) return { code: EXIT_USAGE, message: `hg: ${error.message}` };
  if (error instanceof UndecidedError) {
    return { code: EXIT_UNDECIDED, message: `hg: ${error.message}` };
  }
  if (error instanceof HgError) return { code: EXIT_FAILED, message: `hg: ${error.message}` };
  const text = error instanceof Error ? error.message : String(error);
  return { code: EXIT_FAILED, message: `hg: internal error: ${text.split("\n")[0]}` };
}
