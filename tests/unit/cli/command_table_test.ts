/**
 * hg loads only the command it runs (cli/command_table.ts, cli/program.ts): the light table
 * must stay equal to the real commands (what help lists and what commander suggests come from
 * it), each run must get the real command it names, and help, suggestions and `--json` before
 * the command must work as with the whole tree loaded.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Help } from "commander";
import { COMMANDS, commandsFor } from "../../../cli/command_table.ts";
import { buildProgram, runProgram, STDOUT_STREAM_COMMANDS } from "../../../cli/program.ts";

/** What `hg ARGS` printed and its exit code, run in this process. */
async function hg(args: readonly string[]) {
  const saved = { log: console.log, error: console.error };
  let stdout = "";
  let stderr = "";
  console.log = (text: string) => (stdout += text + "\n");
  console.error = (text: string) => (stderr += text + "\n");
  try {
    const code = await runProgram(args);
    return { code, stdout, stderr };
  } finally {
    Object.assign(console, saved);
  }
}

const ALL = COMMANDS.map((c) => c.name);

describe("the command table", () => {
  it("equals the real commands: names, aliases, descriptions and help's terms, in order", async () => {
    const full = await buildProgram();
    const real = full.commands.map((cmd) => ({
      name: cmd.name(),
      aliases: cmd.aliases(),
      description: cmd.description(),
      term: new Help().subcommandTerm(cmd as never),
    }));
    assert.deepEqual(
      COMMANDS.map(({ name, aliases, description, term }) => ({
        name,
        aliases,
        description,
        term,
      })),
      real,
    );
    // Help lists the description, not a summary (the table has none).
    for (const cmd of full.commands) assert.equal(cmd.summary(), "", cmd.name());
  });

  it("gives hg --help exactly the help of the whole tree, with no command loaded", async () => {
    const light = await buildProgram([]);
    const full = await buildProgram();
    assert.equal(light.helpInformation(), full.helpInformation());
    assert.match(light.helpInformation(), /completions <shell> +print a shell completion/);
    for (const cmd of light.commands) assert.equal(cmd.commands.length, 0, cmd.name());
    const printed = await hg(["--help"]);
    assert.equal(printed.code, 0);
    assert.equal(printed.stdout, full.helpInformation());
    assert.deepEqual(await hg(["help"]), printed);
  });
});

describe("commandsFor: the command a run names", () => {
  it("is the first word after the global flags", () => {
    assert.deepEqual(commandsFor(["status", "--json"]), ["status"]);
    assert.deepEqual(commandsFor(["--json", "status"]), ["status"]);
    assert.deepEqual(commandsFor(["-q", "--dry-run", "-v", "peer", "add", "--json"]), ["peer"]);
    // Short flags combined, as commander reads them.
    assert.deepEqual(commandsFor(["-vq", "netns", "add", "web1"]), ["netns"]);
    // A command's name later on is an operand, not a second command.
    assert.deepEqual(commandsFor(["netns", "add", "status"]), ["netns"]);
    assert.deepEqual(commandsFor(["snapshot"]), ["snapshot"]);
  });

  it("is none for version, help of the program and unknown names", () => {
    for (const args of [[], ["--version"], ["-V"], ["--json", "--version"], ["--help"], ["-h"]]) {
      assert.deepEqual(commandsFor(args), [], args.join(" "));
    }
    assert.deepEqual(commandsFor(["help"]), []);
    assert.deepEqual(commandsFor(["statsu"]), []);
    assert.deepEqual(commandsFor(["-h", "status"]), []);
  });

  it("is the command help is asked about", () => {
    assert.deepEqual(commandsFor(["help", "netns"]), ["netns"]);
    assert.deepEqual(commandsFor(["help", "--json", "lab"]), ["lab"]);
    assert.deepEqual(commandsFor(["netns", "--help"]), ["netns"]);
    // Help of completions needs no tree; completions itself prints the whole tree.
    assert.deepEqual(commandsFor(["help", "completions"]), ["completions"]);
    assert.deepEqual(commandsFor(["completions", "bash"]), ALL);
    assert.deepEqual(commandsFor(["--json", "completions", "zsh"]), ALL);
  });

  it("is every command when the words before the name are not plain global flags", () => {
    assert.deepEqual(commandsFor(["--bogus", "status"]), ALL);
    assert.deepEqual(commandsFor(["--", "status"]), ALL);
    assert.deepEqual(commandsFor(["--json=1", "status"]), ALL);
    assert.deepEqual(commandsFor(["-x", "status"]), ALL);
  });
});

describe("a run with one command loaded", () => {
  it("gets the real command it names and no other", async () => {
    const program = await buildProgram(commandsFor(["--json", "netns", "ls"]));
    assert.deepEqual(program.commands.map((c) => c.name()), ["netns"]);
    assert.deepEqual(program.commands[0].commands.map((c) => c.name()), ["add", "del", "ls"]);
    // Two, as doctor's module builds doctor and snapshot: in the table's order.
    const two = await buildProgram(["snapshot", "doctor"]);
    assert.deepEqual(two.commands.map((c) => c.name()), ["doctor", "snapshot"]);
  });

  it("parses global flags before the command as the whole tree does", async () => {
    const program = await buildProgram(commandsFor(["--json", "--dry-run", "status"]));
    // Parse up to the command without running it: its action is replaced.
    const status = program.commands.find((c) => c.name() === "status")!;
    let ran = false;
    status.action(() => {
      ran = true;
    });
    await program.parseAsync(["--json", "--dry-run", "status", "--bridge", "br9"], {
      from: "user",
    });
    assert.ok(ran);
    assert.deepEqual(program.opts(), { json: true, dryRun: true });
    assert.deepEqual(status.opts(), { bridge: "br9" });
  });

  it("prints a command's help as the whole tree does", async () => {
    const full = await buildProgram();
    const netns = full.commands.find((c) => c.name() === "netns")!;
    const add = netns.commands.find((c) => c.name() === "add")!;
    assert.equal((await hg(["netns", "--help"])).stdout, netns.helpInformation());
    assert.equal((await hg(["help", "netns"])).stdout, netns.helpInformation());
    assert.equal((await hg(["--json", "netns", "add", "--help"])).stdout, add.helpInformation());
  });

  it("answers an unknown command with exit 2 and commander's suggestion", async () => {
    const printed = await hg(["statsu"]);
    assert.equal(printed.code, 2);
    assert.equal(printed.stdout, "");
    assert.equal(
      printed.stderr,
      "hg: unknown command 'statsu' (did you mean status?) (see --help)\n",
    );
    // With --json the error is also a document on stdout.
    const json = await hg(["--json", "tardown"]);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), {
      schema: 1,
      error: {
        exitCode: 2,
        message: "unknown command 'tardown' (did you mean teardown?) (see --help)",
      },
    });
    // Far from every name: no suggestion, still exit 2.
    const far = await hg(["xyzzy"]);
    assert.equal(far.code, 2);
    assert.equal(far.stderr, "hg: unknown command 'xyzzy' (see --help)\n");
  });

  it("still refuses an unknown flag of the command it loaded, with a suggestion", async () => {
    const printed = await hg(["--json", "status", "--jsno"]);
    assert.equal(printed.code, 2);
    assert.match(printed.stderr, /unknown option '--jsno' \(did you mean --json\?\)/);
  });
});

describe("writers of process.stdout", () => {
  /** The commands each module of cli/commands builds; a new module must be added here. */
  const BUILT_BY: Record<string, readonly string[]> = {
    "agent.ts": ["agent"],
    "cni.ts": ["cni"],
    "completions.ts": ["completions"],
    "doctor.ts": ["doctor", "snapshot"],
    "lab.ts": ["lab"],
    "netns.ts": ["netns"],
    "peer.ts": ["peer"],
    "setup.ts": ["setup"],
    "status.ts": ["status"],
    "subnet.ts": ["subnet"],
    "teardown.ts": ["teardown"],
  };
  /** A module's code lines (doc comments may show process.stdout in examples). */
  const source = (path: string) =>
    readFileSync(new URL(path, import.meta.url), "utf8").split("\n")
      .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join("\n");

  it("are listed, so that their runs handle a reader that goes away", () => {
    const dir = new URL("../../../cli/commands/", import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
    assert.deepEqual(files, Object.keys(BUILT_BY).sort());
    assert.deepEqual(Object.values(BUILT_BY).flat().sort(), [...ALL].sort());
    const writers = files.filter((f) =>
      source(`../../../cli/commands/${f}`).includes("process.stdout")
    ).flatMap((f) => BUILT_BY[f]);
    assert.deepEqual([...STDOUT_STREAM_COMMANDS].sort(), writers.sort());
  });

  it("are none in lib/ and in the rest of cli/ (they print through cli/output.ts)", () => {
    const walk = (rel: string): string[] =>
      readdirSync(new URL(rel, import.meta.url), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? walk(`${rel}${e.name}/`)
          : e.name.endsWith(".ts")
          ? [`${rel}${e.name}`]
          : []
      );
    const files = [
      ...walk("../../../lib/"),
      ...readdirSync(new URL("../../../cli/", import.meta.url)).filter((f) => f.endsWith(".ts"))
        .filter((f) => f !== "output.ts" && f !== "program.ts")
        .map((f) => `../../../cli/${f}`),
    ];
    assert.ok(files.length > 50);
    const writing = files.filter((f) => /process\.stdout\.write/.test(source(f)));
    assert.deepEqual(writing, []);
  });
});
