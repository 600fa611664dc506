/**
 * hg's commands as `hg --help` lists them, without loading any of them: a start that runs one
 * command loads that command's module alone (cli/program.ts), and help, an unknown command's
 * suggestion and `--version` load none. A unit test holds this table equal to the real commands
 * (tests/unit/cli/command_table_test.ts).
 *
 * @module
 */
import type { GlobalOptions } from "./output.ts";

/** The names of hg's commands, in the order help lists them. */
export type CommandName =
  | "setup"
  | "netns"
  | "subnet"
  | "peer"
  | "agent"
  | "status"
  | "doctor"
  | "snapshot"
  | "teardown"
  | "lab"
  | "cni"
  | "completions";

/** What help shows of a command before its module is loaded. */
export interface CommandEntry {
  readonly name: CommandName;
  /** Other names commander accepts for it. */
  readonly aliases: readonly string[];
  /** Its description, exactly as the command's module sets it. */
  readonly description: string;
  /** Help's left column for it, as commander writes it: name, `[options]`, arguments. */
  readonly term: string;
}

/**
 * Every command of hg, in help's order.
 *
 * @example
 * ```ts
 * COMMANDS.map((c) => c.name); // ["setup", "netns", ...]
 * ```
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "setup",
    aliases: [],
    description: "create the container bridge with this host's subnet and turn forwarding on",
    term: "setup [options]",
  },
  {
    name: "netns",
    aliases: [],
    description: "add, remove and list containers (network namespaces)",
    term: "netns",
  },
  {
    name: "subnet",
    aliases: [],
    description: "the subnet registry: network config and host leases",
    term: "subnet",
  },
  {
    name: "peer",
    aliases: [],
    description: "add, remove and list routes to other hosts' subnets",
    term: "peer",
  },
  {
    name: "agent",
    aliases: [],
    description:
      "lease this host's subnet and keep its routes equal to the registry (like flanneld)",
    term: "agent [options]",
  },
  {
    name: "status",
    aliases: [],
    description: "show this host's bridge, subnet, forwarding, containers and hg routes",
    term: "status [options]",
  },
  {
    name: "doctor",
    aliases: [],
    description: "explain why traffic between containers fails, with the commands that fix it",
    term: "doctor [options]",
  },
  {
    name: "snapshot",
    aliases: [],
    description: "write everything doctor reads about this host as one JSON document",
    term: "snapshot [options]",
  },
  {
    name: "teardown",
    aliases: [],
    description:
      "remove what hg created on this host (containers, routes, bridge, rules), nothing else",
    term: "teardown [options]",
  },
  {
    name: "lab",
    aliases: [],
    description: "build a lab of hosts as network namespaces on one machine",
    term: "lab",
  },
  {
    name: "cni",
    aliases: [],
    description:
      "hg as a CNI plugin: put runtime containers (podman, containerd, Kubernetes) on hg's bridge",
    term: "cni",
  },
  {
    name: "completions",
    aliases: [],
    description: "print a shell completion script (bash: source <(hg completions bash))",
    term: "completions <shell>",
  },
];

/** A flag as commander declares it (`--json`, `-v, --verbose`, `--bridge <name>`) and its help. */
export interface FlagEntry {
  readonly flags: string;
  readonly description: string;
}

/** A flag that takes a value: its parser (which throws on a bad one) and its default. */
export interface ValueFlagEntry extends FlagEntry {
  readonly parse: (text: string) => unknown;
  readonly defaultValue: string;
}

/**
 * hg's global flags, the one definition that the program's options (cli/program.ts), the
 * search for the command a run names and the plain parse below read; `key` is the
 * {@link GlobalOptions} switch each one sets.
 */
export const GLOBAL_FLAGS: readonly (FlagEntry & { readonly key: keyof GlobalOptions })[] = [
  {
    flags: "--json",
    description: "print results as JSON (stable schemas, see README)",
    key: "json",
  },
  {
    flags: "--dry-run",
    description: "print the ip commands a change would run, change nothing",
    key: "dryRun",
  },
  { flags: "-v, --verbose", description: "print each command as it is applied", key: "verbose" },
  { flags: "-q, --quiet", description: "print only results and errors", key: "quiet" },
];

/** Flags that end the parse before any command runs: help and version need no command. */
const ENDING_FLAGS = new Set(["-h", "--help", "-V", "--version"]);

/** A flag's spellings: `-v, --verbose` is `-v` and `--verbose`. */
const spellings = (flags: string) => flags.split(/[ ,|]+/).filter((w) => w.startsWith("-"));

/** Each global flag's key by its spellings, and by its letter for short ones (`-vq`). */
const GLOBAL_BY_SPELLING: ReadonlyMap<string, keyof GlobalOptions> = new Map(
  GLOBAL_FLAGS.flatMap((f) => spellings(f.flags).map((s) => [s, f.key] as const)),
);

/** The global flags' keys a word sets: one flag, or short ones combined; undefined for others. */
function globalKeys(word: string): (keyof GlobalOptions)[] | undefined {
  const one = GLOBAL_BY_SPELLING.get(word);
  if (one) return [one];
  if (!/^-[A-Za-z]{2,}$/.test(word)) return undefined;
  const keys = [...word.slice(1)].map((letter) => GLOBAL_BY_SPELLING.get(`-${letter}`));
  return keys.every((k) => k !== undefined) ? keys as (keyof GlobalOptions)[] : undefined;
}

/**
 * The commands `hg ARGS` needs loaded, found the way commander finds the command: the first
 * operand after the global flags (`hg --json status` runs status; `hg help netns` shows
 * netns's help). Empty when none runs (help, version, an unknown name: commander answers from
 * the table); every command when the words before the name are not plain global flags (then
 * commander decides, as before), and for `completions`, which reads the whole tree.
 *
 * @example
 * ```ts
 * commandsFor(["--json", "status"]); // ["status"]
 * commandsFor(["--version"]); // []
 * ```
 */
export function commandsFor(args: readonly string[]): readonly CommandName[] {
  const all = COMMANDS.map((c) => c.name);
  let helpAsked = false;
  for (const arg of args) {
    if (globalKeys(arg)) continue;
    if (ENDING_FLAGS.has(arg)) return [];
    if (arg.startsWith("-")) return all;
    if (arg === "help" && !helpAsked) {
      helpAsked = true;
      continue;
    }
    const entry = COMMANDS.find((c) => c.name === arg || c.aliases.includes(arg));
    if (entry === undefined) return [];
    return entry.name === "completions" && !helpAsked ? all : [entry.name];
  }
  return [];
}

/** A run parsed without commander: the global switches and the command's flag values. */
export interface PlainRun {
  readonly globals: GlobalOptions;
  /** Each value flag's parsed value (its default when not given), by commander's name for it. */
  readonly values: Readonly<Record<string, unknown>>;
}

/**
 * `hg ARGS` parsed without commander, for a command whose start is on scripts' paths
 * (`hg status --json`), when each word is one that the definitions name plainly: global flags
 * anywhere, `command`'s name first among the rest, and `flags` after it (`--bridge NAME`,
 * `--bridge=NAME`), each value accepted by its parser. Anything else (help, `--`, an unknown or
 * misspelt flag, an operand, a missing or bad value) gives undefined: commander then parses the
 * run, with its help, suggestions and errors, from the same definitions. What both parse, they
 * parse alike (tests/unit/cli/plain_run_test.ts holds them equal).
 *
 * @example
 * ```ts
 * const flags = [{ flags: "--bridge <name>", description: "bridge name", parse: String, defaultValue: "cni0" }];
 * parsePlainRun(["--json", "status"], "status", flags)?.values; // { bridge: "cni0" }
 * parsePlainRun(["status", "--help"], "status", flags); // undefined
 * ```
 */
export function parsePlainRun(
  args: readonly string[],
  command: CommandName,
  flags: readonly ValueFlagEntry[],
): PlainRun | undefined {
  const globals = { json: false, dryRun: false, verbose: false, quiet: false };
  const byName = new Map(flags.map((f) => [spellings(f.flags)[0], f]));
  const values: Record<string, unknown> = {};
  const entry = COMMANDS.find((c) => c.name === command)!;
  let named = false;
  try {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      const keys = globalKeys(arg);
      if (keys) {
        for (const key of keys) globals[key] = true;
        continue;
      }
      if (!named) {
        if (arg !== entry.name && !entry.aliases.includes(arg)) return undefined;
        named = true;
        continue;
      }
      const eq = arg.indexOf("=");
      const flag = byName.get(eq < 0 ? arg : arg.slice(0, eq));
      // A value that looks like a flag is commander's to read (it may take it, or a global).
      const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (!flag || value === undefined || (eq < 0 && value.startsWith("-"))) return undefined;
      values[optionName(flag.flags)] = flag.parse(value);
    }
    if (!named) return undefined;
    for (const flag of flags) {
      const name = optionName(flag.flags);
      // commander takes a default as it is, not through the parser.
      if (!(name in values)) values[name] = flag.defaultValue;
    }
  } catch {
    return undefined; // a value its parser refuses: commander reports it
  }
  return { globals, values };
}

/** commander's name for a flag's value: `--bridge <name>` is `bridge`, `--subnet-len` `subnetLen`. */
function optionName(flags: string): string {
  const long = spellings(flags).find((s) => s.startsWith("--")) ?? spellings(flags)[0];
  return long.replace(/^-+/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
