/**
 * The command tree of hg: global flags, every subcommand, help and version. Parsing and
 * validation only; the work happens in lib/.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { agentCommand } from "./commands/agent.ts";
import { cniCommand } from "./commands/cni.ts";
import { completionsCommand } from "./commands/completions.ts";
import { labCommand } from "./commands/lab.ts";
import { netnsCommand } from "./commands/netns.ts";
import { peerCommand } from "./commands/peer.ts";
import { setupCommand } from "./commands/setup.ts";
import { statusCommand } from "./commands/status.ts";
import { doctorCommand, snapshotCommand } from "./commands/doctor.ts";
import { subnetCommand } from "./commands/subnet.ts";
import { teardownCommand } from "./commands/teardown.ts";
import { describeError, errorDocument } from "./exit_code.ts";
import { Output } from "./output.ts";
import { VERSION } from "./version.ts";

/**
 * Builds the `hg` program. Errors are thrown (exitOverride), never printed by commander, so
 * `cli/exit_code.ts` decides every exit code.
 */
export function buildProgram(): CommandUnknownOpts {
  const program = new Command("hg")
    .description("routed container networking for hosts on one L2 segment (host-gw), with a doctor")
    .version(VERSION, "-V, --version", "print the version")
    .option("--json", "print results as JSON (stable schemas, see README)")
    .option("--dry-run", "print the ip commands a change would run, change nothing")
    .option("-v, --verbose", "print each command as it is applied")
    .option("-q, --quiet", "print only results and errors")
    .showSuggestionAfterError()
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  const output = () => {
    const o = program.opts();
    return new Output({
      json: !!o.json,
      dryRun: !!o.dryRun,
      verbose: !!o.verbose,
      quiet: !!o.quiet,
    });
  };
  const commands = [
    setupCommand(output),
    netnsCommand(output),
    subnetCommand(output),
    peerCommand(output),
    agentCommand(output),
    statusCommand(output),
    doctorCommand(output),
    snapshotCommand(),
    teardownCommand(output),
    labCommand(output),
    cniCommand(output),
    completionsCommand(() => program),
  ];
  for (const command of commands) program.addCommand(command);
  // Subcommands inherit the error handling; unknown flags and missing arguments stay usage errors.
  const inherit = (cmd: CommandUnknownOpts) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput({ outputError: () => {} }).showSuggestionAfterError();
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/**
 * Runs hg with `args` (without the program name) and returns its exit code. Every error becomes
 * one line on stderr; with `--json` also a JSON document on stdout, unless the command already
 * printed its result there (doctor's diagnosis comes with exit 1 or 3).
 *
 * @example
 * ```ts
 * process.exitCode = await runProgram(["status", "--json"]);
 * ```
 */
export async function runProgram(args: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (error) {
    const { code, message } = describeError(error);
    if (message === undefined) return code;
    process.stderr.write(message + "\n");
    const end = args.indexOf("--");
    const json = (end < 0 ? args : args.slice(0, end)).includes("--json");
    if (json && !Output.printedResult) {
      process.stdout.write(JSON.stringify(errorDocument(code, message), null, 2) + "\n");
    }
    return code;
  }
}
