/**
 * hg's commands as `hg --help` lists them, without loading any of them: a start that runs one
 * command loads that command's module alone (cli/program.ts), and help, an unknown command's
 * suggestion and `--version` load none. A unit test holds this table equal to the real commands
 * (tests/unit/cli/command_table_test.ts).
 *
 * @module
 */

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

/** The global flags that take no value: they may come before the command's name. */
const GLOBAL_FLAGS = new Set(["--json", "--dry-run", "-v", "--verbose", "-q", "--quiet"]);

/** Flags that end the parse before any command runs: help and version need no command. */
const ENDING_FLAGS = new Set(["-h", "--help", "-V", "--version"]);

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
    if (GLOBAL_FLAGS.has(arg) || /^-[vq]+$/.test(arg)) continue;
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
