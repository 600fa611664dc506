/**
 * Shell completion scripts for bash, zsh and fish, generated from the commander command tree so
 * that completions always match `--help`: the same subcommands at any depth, the same options
 * (long and short), the same argument and option choices.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { completionScript } from "./completions.ts";
 *
 * const program = new Command("hg").option("--json");
 * program.command("completions").argument("<shell>").action(() => {});
 * console.log(completionScript("bash", program));
 * ```
 *
 * @module
 */
import type { Command } from "commander";

/** A shell that {@link completionScript} can write a completion script for. */
export type Shell = "bash" | "zsh" | "fish";

/**
 * Every supported shell, in the order shown to users.
 *
 * @example
 * ```ts
 * import { Argument } from "@commander-js/extra-typings";
 * new Argument("<shell>").choices(SHELLS);
 * ```
 */
export const SHELLS: readonly Shell[] = Object.freeze(["bash", "zsh", "fish"] as const);

/** The parts of a commander `Option` that completions read. */
export interface CompletionOption {
  readonly flags: string;
  readonly long?: string;
  readonly short?: string;
  readonly description: string;
  readonly required: boolean;
  readonly optional: boolean;
  readonly variadic?: boolean;
  readonly hidden?: boolean;
  readonly argChoices?: readonly string[];
}

/** The parts of a commander `Argument` that completions read. */
export interface CompletionArgument {
  name(): string;
  readonly required: boolean;
  readonly variadic: boolean;
  readonly argChoices?: readonly string[];
}

/** The parts of a commander `Help` that completions read, to list exactly what help lists. */
export interface CompletionHelp {
  visibleCommands(cmd: CompletionCommand): readonly CompletionCommand[];
  visibleOptions(cmd: CompletionCommand): readonly CompletionOption[];
}

/**
 * The parts of a commander `Command` that completions read. Both `Command` from "commander" and
 * from "@commander-js/extra-typings" satisfy it (the latter is not assignable to the former).
 */
export interface CompletionCommand {
  name(): string;
  description(): string;
  readonly commands: readonly CompletionCommand[];
  readonly options: readonly CompletionOption[];
  readonly registeredArguments: readonly CompletionArgument[];
  summary?(): string;
  aliases?(): readonly string[];
  createHelp?(): CompletionHelp;
}

/**
 * The completion script for `shell`, covering every subcommand at any depth and every option
 * (long and short) of each, plus the options of its ancestors (commander accepts program options
 * after a subcommand). Choices of arguments and options are offered as their values.
 *
 * @example
 * ```ts
 * // bash: source <(hg completions bash)
 * // zsh:  source <(hg completions zsh), or save as `_hg` in a directory on $fpath
 * // fish: hg completions fish | source
 * import { buildProgram } from "./program.ts";
 * process.stdout.write(completionScript("zsh", await buildProgram()));
 * ```
 */
export function completionScript(shell: Shell, program: Command | CompletionCommand): string {
  const root = commandSpec(program, [], [], undefined);
  switch (shell) {
    case "bash":
      return bashScript(root);
    case "zsh":
      return zshScript(root);
    case "fish":
      return fishScript(root);
  }
}

// ---------------------------------------------------------------------------------------------
// The command tree, reduced to what the shells need.

interface OptionSpec {
  readonly long?: string;
  readonly short?: string;
  readonly description: string;
  readonly takesValue: boolean;
  readonly variadic: boolean;
  readonly valueName: string;
  readonly choices: readonly string[];
}

interface ArgumentSpec {
  readonly name: string;
  readonly required: boolean;
  readonly variadic: boolean;
  readonly choices: readonly string[];
}

interface CommandSpec {
  /** Canonical names from the program down, e.g. `["hg", "peer", "add"]`. */
  readonly path: readonly string[];
  readonly name: string;
  readonly aliases: readonly string[];
  readonly description: string;
  /** Own options first, then inherited ones that no own option shadows. */
  readonly options: readonly OptionSpec[];
  readonly arguments: readonly ArgumentSpec[];
  readonly subcommands: readonly CommandSpec[];
}

function commandSpec(
  cmd: CompletionCommand,
  parentPath: readonly string[],
  inherited: readonly OptionSpec[],
  helpTargets: readonly string[] | undefined,
): CommandSpec {
  const help = cmd.createHelp?.();
  const visibleOptions = help?.visibleOptions(cmd) ?? cmd.options.filter((o) => !o.hidden);
  const visibleCommands = help?.visibleCommands(cmd) ?? cmd.commands;
  const path = [...parentPath, cmd.name()];
  const own = visibleOptions.map(optionSpec);
  // The help option stays with its command: a subcommand answers -h with its own help.
  const passedDown = merge(
    visibleOptions.filter((o) => cmd.options.includes(o)).map(optionSpec),
    inherited,
  );
  const names = visibleCommands.filter((c) => cmd.commands.includes(c)).map((c) => c.name());
  const args = cmd.registeredArguments.map((arg, index): ArgumentSpec => ({
    name: arg.name(),
    required: arg.required,
    variadic: arg.variadic,
    // The implicit `help [command]` (not in `commands`) takes a sibling's name.
    choices: arg.argChoices ?? (index === 0 ? helpTargets ?? [] : []),
  }));
  return {
    path,
    name: cmd.name(),
    aliases: cmd.aliases?.() ?? [],
    description: firstLine(cmd.summary?.() || cmd.description()),
    options: merge(own, inherited),
    arguments: args,
    subcommands: visibleCommands.map((sub) =>
      commandSpec(sub, path, passedDown, cmd.commands.includes(sub) ? undefined : names)
    ),
  };
}

function optionSpec(option: CompletionOption): OptionSpec {
  const takesValue = option.required || option.optional;
  const valueName = /[<[]([^>\]]*)[>\]]/.exec(option.flags)?.[1]?.replace(/\.\.\.$/, "");
  return {
    long: option.long,
    short: option.short,
    description: firstLine(option.description),
    takesValue,
    variadic: option.variadic ?? false,
    valueName: valueName || "value",
    choices: option.argChoices ?? [],
  };
}

function merge(own: readonly OptionSpec[], inherited: readonly OptionSpec[]): OptionSpec[] {
  const taken = new Set(own.flatMap(flagsOf));
  return [...own, ...inherited.filter((o) => !flagsOf(o).some((flag) => taken.has(flag)))];
}

function flagsOf(option: OptionSpec): string[] {
  return [option.long, option.short].filter((flag): flag is string => flag !== undefined);
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0].trim();
}

function allCommands(cmd: CommandSpec): CommandSpec[] {
  return [cmd, ...cmd.subcommands.flatMap(allCommands)];
}

function key(cmd: CommandSpec): string {
  return cmd.path.join(" ");
}

/** Shell function names derived from command paths, made unique. */
function functionNames(root: CommandSpec, prefix: string): Map<CommandSpec, string> {
  const names = new Map<CommandSpec, string>();
  const used = new Set<string>();
  for (const cmd of allCommands(root)) {
    const base = prefix + cmd.path.slice(1).map((part) => "_" + identifier(part)).join("");
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}${n}`;
    used.add(name);
    names.set(cmd, name);
  }
  return names;
}

function identifier(text: string): string {
  return text.replace(/[^A-Za-z0-9_]/g, "_");
}

/** Single-quotes for bash and zsh, unless the word needs no quoting. */
function sq(text: string): string {
  return /^[A-Za-z0-9_.,:\/@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------
// bash

function bashScript(root: CommandSpec): string {
  const prog = root.name;
  const fn = `__${identifier(prog)}_comp`;
  const commands = allCommands(root);
  const lines = (items: string[]) => items.map((line) => `    ${line}`).join("\n");
  const caseOf = (subject: string, arms: string[], fallback: string) =>
    arms.length === 0
      ? `  ${fallback}`
      : `  case ${subject} in\n${lines(arms)}\n    *) ${fallback} ;;\n  esac`;

  const childArms = commands.flatMap((cmd) =>
    cmd.subcommands.map((sub) => {
      const patterns = [sub.name, ...sub.aliases].map((n) => sq(`${key(cmd)} ${n}`));
      return `${patterns.join(" | ")}) cmd=${sq(key(sub))} ;;`;
    })
  );
  const valueArms = commands.flatMap((cmd) => {
    const flags = cmd.options.filter((o) => o.takesValue).flatMap(flagsOf);
    return flags.length
      ? [`${flags.map((f) => sq(`${key(cmd)} ${f}`)).join(" | ")}) return 0 ;;`]
      : [];
  });
  const choiceArms = commands.flatMap((cmd) =>
    cmd.options.filter((o) => o.takesValue && o.choices.length).map((o) =>
      `${flagsOf(o).map((f) => sq(`${key(cmd)} ${f}`)).join(" | ")}) cands=(${
        o.choices.map(sq).join(" ")
      }) ;;`
    )
  );
  const wordArms = commands.map((cmd) => {
    const subs = cmd.subcommands.map((sub) => sq(sub.name)).join(" ");
    const opts = cmd.options.flatMap(flagsOf).map(sq).join(" ");
    return `${sq(key(cmd))}) subs=(${subs}) opts=(${opts}) ;;`;
  });
  const operandArms = commands.flatMap((cmd) => {
    const args = cmd.arguments;
    if (!args.some((a) => a.choices.length)) return [];
    const arms = args.map((a, i) =>
      `${a.variadic ? "*" : i}) cands+=(${a.choices.map(sq).join(" ")}) ;;`
    );
    return [
      `${sq(key(cmd))})\n      case $2 in\n${
        arms.map((arm) => `        ${arm}`).join("\n")
      }\n      esac\n      ;;`,
    ];
  });

  return `# bash completion for ${prog}, generated from its command tree (regenerate, do not edit).
# Load it with: source <(${prog} completions bash)

# If command path $1 has a subcommand (or alias) $2, sets cmd to its path.
${fn}_child() {
${caseOf('"$1 $2"', childArms, "return 1")}
}

# Succeeds if option $2 of command path $1 takes a value.
${fn}_takes_value() {
${caseOf('"$1 $2"', valueArms, "return 1")}
}

# Sets cands to the choices for the value of option $2 of command path $1.
${fn}_option_values() {
${caseOf('"$1 $2"', choiceArms, "return 0")}
}

# Adds to cands the choices for operand $2 (counting from 0) of command path $1.
${fn}_operand_values() {
${caseOf("$1", operandArms, "return 0")}
}

# Sets subs and opts to the subcommands and options of command path $1.
${fn}_words() {
${caseOf("$1", wordArms, "return 0")}
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev= cmd=${sq(prog)} word prefix=
  local -i i=1 nargs=0 ended=0
  local -a cands=() subs=() opts=()
  COMPREPLY=()
  ((COMP_CWORD > 0)) && prev=\${COMP_WORDS[COMP_CWORD - 1]}
  # Walk the words before the cursor to find the command path and how many operands it has.
  while ((i < COMP_CWORD)); do
    word=\${COMP_WORDS[i]}
    i+=1
    if ((ended)); then
      nargs+=1
      continue
    fi
    case $word in
      --) ended=1 ;;
      # COMP_WORDBREAKS splits --opt=value into --opt, =, value: skip the value.
      =) i+=1 ;;
      -?*) ${fn}_takes_value "$cmd" "$word" && [[ \${COMP_WORDS[i]} != = ]] && i+=1 ;;
      *) if ((nargs > 0)) || ! ${fn}_child "$cmd" "$word"; then nargs+=1; fi ;;
    esac
  done
  if ((ended)); then
    ${fn}_operand_values "$cmd" "$nargs"
  elif [[ $cur == --*=* ]]; then
    prefix=\${cur%%=*}=
    cur=\${cur#*=}
    ${fn}_option_values "$cmd" "\${prefix%=}"
  elif [[ $cur == = && $prev == --* ]]; then
    cur=
    ${fn}_option_values "$cmd" "$prev"
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
    ${fn}_option_values "$cmd" "\${COMP_WORDS[COMP_CWORD - 2]}"
  elif [[ $prev == -?* ]] && ${fn}_takes_value "$cmd" "$prev"; then
    ${fn}_option_values "$cmd" "$prev"
  elif [[ $cur == -* ]]; then
    ${fn}_words "$cmd"
    cands=("\${opts[@]}")
  else
    ${fn}_words "$cmd"
    ((nargs == 0)) && cands=("\${subs[@]}")
    ${fn}_operand_values "$cmd" "$nargs"
  fi
  for word in "\${cands[@]}"; do
    [[ $word == "$cur"* ]] || continue
    printf -v word %q "$word"
    COMPREPLY+=("$prefix$word")
  done
  return 0
}

complete -F ${fn} ${sq(prog)}
`;
}

// ---------------------------------------------------------------------------------------------
// zsh

/** Escapes text for the inside of a `[description]` in an _arguments spec. */
function zshBracket(text: string): string {
  return text.replace(/[\\\[\]]/g, "\\$&");
}

/** Escapes text for a colon-separated field (message, _describe name). */
function zshField(text: string): string {
  return text.replace(/[\\:]/g, "\\$&");
}

/** An _arguments action offering `choices`, or only showing the message. */
function zshAction(choices: readonly string[]): string {
  if (choices.length === 0) return " ";
  return `(${choices.map((c) => c.replace(/[^A-Za-z0-9_.,\/@+-]/g, "\\$&")).join(" ")})`;
}

function zshOptionSpecs(option: OptionSpec): string[] {
  const flags = flagsOf(option);
  // Without `*` zsh offers an option once; commander collects a variadic option's repeats.
  const exclusive = option.variadic ? "*" : flags.length > 1 ? `(${flags.join(" ")})` : "";
  const value = option.takesValue
    ? `:${zshField(option.valueName)}:${zshAction(option.choices)}`
    : "";
  const spec = (flag: string) => {
    const suffix = !option.takesValue ? "" : flag.startsWith("--") ? "=" : "+";
    return sq(`${exclusive}${flag}${suffix}[${zshBracket(option.description)}]${value}`);
  };
  return flags.map(spec);
}

function zshArgumentSpecs(cmd: CommandSpec): string[] {
  return cmd.arguments.map((arg, i) => {
    const position = arg.variadic ? "*" : `${i + 1}${arg.required ? "" : ":"}`;
    return sq(`${position}:${zshField(arg.name)}:${zshAction(arg.choices)}`);
  });
}

function zshScript(root: CommandSpec): string {
  const prog = root.name;
  const names = functionNames(root, `__${identifier(prog)}`);
  names.set(root, `_${identifier(prog)}`);
  const main = names.get(root)!;
  const continued = (specs: string[]) => specs.map((s) => ` \\\n    ${s}`).join("");

  const functions = allCommands(root).map((cmd) => {
    const fn = names.get(cmd)!;
    const optionSpecs = cmd.options.flatMap(zshOptionSpecs);
    // Like commander, a command with subcommands takes its first operand as one of them.
    if (cmd.subcommands.length === 0) {
      const specs = [...optionSpecs, ...zshArgumentSpecs(cmd)];
      const body = specs.length
        ? `  _arguments -s -S${continued(specs)}`
        : `  _message 'no more arguments'`;
      return `${fn}() {\n${body}\n}`;
    }
    const described = cmd.subcommands.map((sub) =>
      `      ${sq(zshField(sub.name) + (sub.description ? `:${sub.description}` : ""))}`
    );
    const dispatch = cmd.subcommands.map((sub) =>
      `        ${[sub.name, ...sub.aliases].map(sq).join("|")}) ${names.get(sub)} && ret=0 ;;`
    );
    const specs = [...optionSpecs, `'(-): :->command'`, `'(-)*:: :->argument'`];
    return `${fn}() {
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  _arguments -C -s -S${continued(specs)} && ret=0
  case $state in
    command)
      local -a commands=(
${described.join("\n")}
      )
      _describe -t commands ${sq(`${key(cmd)} command`)} commands && ret=0
      ;;
    argument)
      curcontext=\${curcontext%:*:*}:${sq(cmd.path.join("-"))}-$words[1]:
      case $words[1] in
${dispatch.join("\n")}
      esac
      ;;
  esac
  return ret
}`;
  });

  return `#compdef ${prog}
# zsh completion for ${prog}, generated from its command tree (regenerate, do not edit).
# Load it with \`source <(${prog} completions zsh)\` (after compinit), or save it as
# \`${main}\` in a directory on $fpath.

${functions.join("\n\n")}

# Autoloaded from $fpath, this file is the body of ${main}: complete now. Sourced: register.
if [[ $funcstack[1] == ${main} ]]; then
  ${main} "$@"
elif (( $+functions[compdef] )); then
  compdef ${main} ${sq(prog)}
fi
`;
}

// ---------------------------------------------------------------------------------------------
// fish

/** A fish word: backslash escapes, which also keep `*` and `?` literal in `case` patterns. */
function fishWord(text: string): string {
  return text.replace(/[^A-Za-z0-9_.,:\/@+=-]/g, "\\$&");
}

/** A single-quoted fish string. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, "\\$&")}'`;
}

function fishScript(root: CommandSpec): string {
  const prog = root.name;
  const fn = `__${identifier(prog)}_comp`;
  const commands = allCommands(root);
  const complete = (condition: string, rest: string) =>
    `complete -c ${fishWord(prog)} -n ${fishQuote(condition)} ${rest}`;
  const words = (cmd: CommandSpec) => cmd.path.map(fishWord).join(" ");
  const at = (cmd: CommandSpec, operand?: string) =>
    operand === undefined ? `${fn}_at ${words(cmd)}` : `${fn}_operand ${operand} ${words(cmd)}`;
  const choices = (values: readonly string[]) => fishQuote(values.map(fishWord).join(" "));
  const described = (text: string) => (text ? ` -d ${fishQuote(text)}` : "");

  const childArms = commands.flatMap((cmd) =>
    cmd.subcommands.map((sub) =>
      `        case ${[sub.name, ...sub.aliases].map((n) => fishWord(`${key(cmd)} ${n}`)).join(" ")}
            echo ${fishWord(key(sub))}`
    )
  );
  const valueFlags = commands.flatMap((cmd) =>
    cmd.options.filter((o) => o.takesValue).flatMap(flagsOf).map((f) =>
      fishWord(`${key(cmd)} ${f}`)
    )
  );

  const rules = commands.flatMap((cmd) => {
    const out: string[] = [`# ${key(cmd)}`];
    for (const sub of cmd.subcommands) {
      out.push(complete(at(cmd, "0"), `-a ${fishWord(sub.name)}${described(sub.description)}`));
    }
    for (const option of cmd.options) {
      const flags = [
        option.short &&
        (option.short.length === 2 ? "-s " : "-o ") + fishWord(option.short.slice(1)),
        option.long && `-l ${fishWord(option.long.slice(2))}`,
      ].filter(Boolean).join(" ");
      const value = !option.takesValue
        ? ""
        : option.choices.length
        ? ` -x -a ${choices(option.choices)}`
        : " -x";
      out.push(complete(at(cmd), `${flags}${value}${described(option.description)}`));
    }
    cmd.arguments.forEach((arg, i) => {
      if (arg.choices.length === 0) return;
      const operand = arg.variadic ? `${i}+` : `${i}`;
      out.push(complete(at(cmd, operand), `-a ${choices(arg.choices)}`));
    });
    return out;
  });

  return `# fish completion for ${prog}, generated from its command tree (regenerate, do not edit).
# Load it with \`${prog} completions fish | source\`, or save it as
# ~/.config/fish/completions/${prog}.fish.

# If command path $argv[1] has a subcommand (or alias) $argv[2], prints that command's path.
function ${fn}_child
    switch "$argv[1] $argv[2]"
${childArms.join("\n")}
        case '*'
            return 1
    end
end

# Succeeds if option $argv[2] of command path $argv[1] takes a value.
function ${fn}_takes_value
${
    valueFlags.length
      ? `    switch "$argv[1] $argv[2]"\n        case ${
        valueFlags.join(" ")
      }\n            return 0\n    end\n`
      : ""
  }    return 1
end

# Prints the command path before the cursor (e.g. \`${prog} peer add\`) and its operand count.
# Unlike __fish_seen_subcommand_from, this follows the tree, so a subcommand name given as an
# option value or operand, or shared by two commands, is not mistaken for the command.
function ${fn}_state
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmd ${fishWord(prog)}
    set -l nargs 0
    set -l skip 0
    set -l ended 0
    set -l child
    for token in $tokens
        if test $skip = 1
            set skip 0
        else if test $ended = 1
            set nargs (math $nargs + 1)
        else if test "$token" = --
            set ended 1
        else if string match -q -- '-?*' $token
            ${fn}_takes_value $cmd $token; and set skip 1
        else if test $nargs = 0; and set child (${fn}_child $cmd $token)
            set cmd $child
        else
            set nargs (math $nargs + 1)
        end
    end
    printf '%s\\n' $cmd $nargs
end

# Succeeds if the cursor is in the command whose path is $argv.
function ${fn}_at
    set -l state (${fn}_state)
    test "$state[1]" = "$argv"
end

# Succeeds if the cursor is at operand $argv[1] (from 0; \`N+\` is N or later) of the command
# whose path is $argv[2..].
function ${fn}_operand
    set -l state (${fn}_state)
    test "$state[1]" = "$argv[2..-1]"; or return 1
    switch $argv[1]
        case '*+'
            test $state[2] -ge (string trim -r -c + -- $argv[1])
        case '*'
            test $state[2] -eq $argv[1]
    end
end

complete -c ${fishWord(prog)} -e
complete -c ${fishWord(prog)} -f
${rules.join("\n")}
`;
}
