/**
 * The hg executable's entry point: run the program, map any error to one line and an exit code.
 * No top-level await and no exports, so `bun build --compile --bytecode` can take it.
 *
 * @module
 */
import { describeError } from "./exit_code.ts";
import { buildProgram } from "./program.ts";

// A reader that goes away (`hg status | head`) is not an error of hg's.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
});

buildProgram()
  .parseAsync(process.argv.slice(2), { from: "user" })
  .then(() => 0, (error: unknown) => {
    const { code, message } = describeError(error);
    if (message) process.stderr.write(message + "\n");
    return code;
  })
  .then((code) => {
    process.exitCode = code;
  });
