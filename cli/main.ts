/**
 * The hg executable's entry point: run the program, map any error to one line and an exit code.
 * No top-level await and no exports, so `bun build --compile --bytecode` can take it.
 *
 * @module
 */
import { runProgram } from "./program.ts";

// A reader that goes away (`hg status | head`) is not an error of hg's.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
});

runProgram(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
