/**
 * The command tree of hg: global flags, every subcommand, help and version. Parsing and
 * validation only; the work happens in lib/.
 *
 * A run loads the module of the command it names and no other (each module loads much of lib/).
 * A run that names none (help, an unknown command) gets stand-ins from cli/command_table.ts
 * that carry what help and commander's suggestions read.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Help } from "@commander-js/extra-typings";
import { type CommandName, COMMANDS, commandsFor, GLOBAL_FLAGS } from "./command_table.ts";
import { describeError, errorDocument } from "./exit_code.ts";
import { type GlobalOptions, Output, printErr, printOut, writeErr, writeOut } from "./output.ts";
import { VERSION } from "./version.ts";

/** Builds one real command, given the global flags' Output and the whole program. */
type Build = (output: () => Output, program: () => CommandUnknownOpts) => CommandUnknownOpts;

/** Each command's module, loaded when it is needed (static specifiers: bundlers keep them). */
const LOADERS: Readonly<Record<CommandName, () => Promise<Build>>> = {
  setup: () => import("./commands/setup.ts").then((m) => m.setupCommand),
  netns: () => import("./commands/netns.ts").then((m) => m.netnsCommand),
  subnet: () => import("./commands/subnet.ts").then((m) => m.subnetCommand),
  peer: () => import("./commands/peer.ts").then((m) => m.peerCommand),
  agent: () => import("./commands/agent.ts").then((m) => m.agentCommand),
  status: () => import("./commands/status.ts").then((m) => m.statusCommand),
  doctor: () => import("./commands/doctor.ts").then((m) => m.doctorCommand),
  snapshot: () => import("./commands/doctor.ts").then((m) => () => m.snapshotCommand()),
  teardown: () => import("./commands/teardown.ts").then((m) => m.teardownCommand),
  lab: () => import("./commands/lab.ts").then((m) => m.labCommand),
  cni: () => import("./commands/cni.ts").then((m) => m.cniCommand),
  completions: () =>
    import("./commands/completions.ts").then((m) => (_output, program) =>
      m.completionsCommand(program)
    ),
};

/**
 * The commands whose modules write to process.stdout themselves rather than through Output
 * (console.log): only their runs set up the stream, which costs milliseconds under Bun, and
 * with it the handler for a reader that goes away. A unit test keeps this list complete.
 */
export const STDOUT_STREAM_COMMANDS: ReadonlySet<CommandName> = new Set([
  "doctor",
  "snapshot",
  "cni",
]);

/** Help and errors go through console, like Output; commander's own errors are thrown. */
const OUTPUT = { writeOut, writeErr, outputError: () => {} };

/**
 * Builds the `hg` program with the real commands `load` names (default: all of them); with
 * none, with stand-ins for every command, which is all that help and suggestions read. Errors are thrown
 * (exitOverride), never printed by commander, so `cli/exit_code.ts` decides every exit code.
 *
 * @example
 * ```ts
 * const program = await buildProgram(["status"]);
 * await program.parseAsync(["status", "--json"], { from: "user" });
 * ```
 */
export async function buildProgram(
  load: readonly CommandName[] = COMMANDS.map((c) => c.name),
): Promise<CommandUnknownOpts> {
  const builds = await Promise.all(load.map((name) => LOADERS[name]()));
  const built = new Map(load.map((name, k) => [name, builds[k]]));
  // A stand-in's help line comes from the table; a real command's from commander, as before.
  const standInTerms = new Map<CommandUnknownOpts, string>();
  const program = new Command("hg")
    .description("routed container networking for hosts on one L2 segment (host-gw), with a doctor")
    .version(VERSION, "-V, --version", "print the version");
  for (const flag of GLOBAL_FLAGS) program.option(flag.flags, flag.description);
  program
    .showSuggestionAfterError()
    .configureHelp({
      subcommandTerm: (cmd) => standInTerms.get(cmd) ?? new Help().subcommandTerm(cmd),
    })
    .configureOutput(OUTPUT)
    .exitOverride();
  const output = () => {
    // Each flag's key is commander's name for it (`--dry-run` is dryRun).
    const o: Record<string, unknown> = program.opts();
    const on = (key: keyof GlobalOptions) => !!o[key];
    return new Output({
      json: on("json"),
      dryRun: on("dryRun"),
      verbose: on("verbose"),
      quiet: on("quiet"),
    });
  };
  for (const entry of COMMANDS) {
    const build = built.get(entry.name);
    if (build) {
      program.addCommand(build(output, () => program));
      continue;
    }
    // With a command loaded, commander dispatches to it and never lists or suggests the others.
    if (load.length > 0) continue;
    const standIn = new Command(entry.name).description(entry.description)
      .aliases(entry.aliases);
    standInTerms.set(standIn, entry.term);
    program.addCommand(standIn);
  }
  // Subcommands inherit the error handling; unknown flags and missing arguments stay usage errors.
  const inherit = (cmd: CommandUnknownOpts) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput(OUTPUT).showSuggestionAfterError();
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
  try {
    const load = commandsFor(args);
    if (load.some((name) => STDOUT_STREAM_COMMANDS.has(name))) {
      // A reader that goes away (`hg doctor | head`) is not an error of hg's.
      process.stdout.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      });
    }
    const program = await buildProgram(load);
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (error) {
    return reportFailure(error, args);
  }
}

/**
 * Prints what `error` means for a run of hg with `args` and returns its exit code: one line on
 * stderr and, with `--json`, a JSON document on stdout, unless the command already printed its
 * result there (doctor's diagnosis comes with exit 1 or 3). Every run's errors end here, a run
 * parsed without commander's too.
 *
 * @example
 * ```ts
 * process.exitCode = reportFailure(new Error("boom"), ["status"]); // 1
 * ```
 */
export function reportFailure(error: unknown, args: readonly string[]): number {
  const { code, message } = describeError(error);
  if (message === undefined) return code;
  printErr(message);
  const end = args.indexOf("--");
  const json = (end < 0 ? args : args.slice(0, end)).includes("--json");
  if (json && !Output.printedResult) {
    printOut(JSON.stringify(errorDocument(code, message), null, 2));
  }
  return code;
}
