/**
 * The hg executable's entry point. With CNI_COMMAND set, a container runtime runs it as a CNI
 * plugin; otherwise it is the command line: run the program, map any error to one line and an
 * exit code. Each mode loads only its own modules (a plugin's start is on every container's
 * path). No top-level await and no exports, so `bun build --compile --bytecode` can take it.
 *
 * @module
 */

const run = process.env.CNI_COMMAND
  ? import("./cni_plugin.ts").then((m) => m.runCniPlugin(process.env))
  : import("./program.ts").then((m) => {
    // A reader that goes away (`hg status | head`) is not an error of hg's.
    process.stdout.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    });
    return m.runProgram(process.argv.slice(2));
  });
run.then((code) => {
  process.exitCode = code;
});
