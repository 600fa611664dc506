/**
 * The hg executable's entry point. With CNI_COMMAND set, a container runtime runs it as a CNI
 * plugin; otherwise it is the command line: run the program, map any error to one line and an
 * exit code. Each mode loads only its own modules (a plugin's start is on every container's
 * path), and `hg --version` alone loads none: it prints what commander would print for it.
 * A plain run of `hg status` (a script's `hg status --json`) is parsed without commander, from
 * the same flag definitions (cli/command_table.ts); anything else about it goes to commander.
 * The plugin's path does not even read process.argv (under Bun, a few milliseconds).
 * No top-level await and no exports, so `bun build --compile --bytecode` can take it.
 *
 * @module
 */
import { VERSION } from "./version.ts";

const run = process.env.CNI_COMMAND
  ? import("./cni_plugin.ts").then((m) => m.runCniPlugin(process.env))
  : commandLine(process.argv.slice(2));
run.then((code) => {
  process.exitCode = code;
});

/** Runs hg with `args`; resolves with the exit code. */
function commandLine(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    console.log(VERSION);
    return Promise.resolve(0);
  }
  const program = () => import("./program.ts").then((m) => m.runProgram(args));
  // Imported here, not at the top: the plugin's path and --version's would pay ~1 ms for it.
  return import("./command_table.ts").then(({ commandsFor }) =>
    commandsFor(args)[0] === "status"
      ? import("./commands/status.ts").then((m) => m.runPlainStatus(args) ?? program())
      : program()
  );
}
