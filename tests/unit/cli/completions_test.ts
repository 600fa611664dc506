import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Argument, Command, Option } from "commander";
import { Command as TypedCommand } from "@commander-js/extra-typings";
import { completionScript, type Shell, SHELLS } from "../../../cli/completions.ts";

/** A small hg-like tree: global flags, nested subcommands, choices, an alias, a hidden command. */
function sampleProgram(): Command {
  const program = new Command("hg")
    .description("routed container networking")
    .option("--json", "print results as JSON")
    .option("-n, --dry-run", "print what would run, change nothing");
  const peer = program.command("peer").description("manage peer routes");
  peer.command("add").description("route a subnet via a peer").argument("<subnet>")
    .requiredOption("--via <ip>", "the peer's address")
    .option("-d, --dev <if>", "the link to route over");
  peer.command("rm").alias("remove").description("remove a peer route").argument("<subnet>");
  peer.command("ls").description("list peer routes")
    .addOption(new Option("--format <fmt>", "output format").choices(["table", "json"]));
  const netns = program.command("netns").description("manage network namespaces");
  netns.command("add").description("create a namespace").argument("<name>");
  netns.command("del").description("delete a namespace").argument("<name>");
  program.command("completions").description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS));
  program.command("debug", { hidden: true }).description("internal");
  return program;
}

/** The same tree built with extra-typings, as cli/program.ts does. */
function typedSampleProgram(): TypedCommand {
  const program = new TypedCommand("hg")
    .description("routed container networking")
    .option("--json", "print results as JSON")
    .option("-n, --dry-run", "print what would run, change nothing");
  const peer = program.command("peer").description("manage peer routes");
  peer.command("add").description("route a subnet via a peer").argument("<subnet>")
    .requiredOption("--via <ip>", "the peer's address")
    .option("-d, --dev <if>", "the link to route over");
  peer.command("rm").alias("remove").description("remove a peer route").argument("<subnet>");
  peer.command("ls").description("list peer routes")
    .addOption(new Option("--format <fmt>", "output format").choices(["table", "json"]));
  const netns = program.command("netns").description("manage network namespaces");
  netns.command("add").description("create a namespace").argument("<name>");
  netns.command("del").description("delete a namespace").argument("<name>");
  program.command("completions").description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS));
  program.command("debug", { hidden: true }).description("internal");
  return program;
}

function has(shell: string): boolean {
  return spawnSync(shell, ["-c", "exit 0"], { stdio: "ignore" }).status === 0;
}

const hasBash = has("bash");
const hasZsh = has("zsh");
const hasFish = has("fish");

/** Writes each shell's script to a temp dir once; returns its path. */
const scripts = (() => {
  const dir = mkdtempSync(join(tmpdir(), "hg-completions-"));
  const paths = new Map<Shell, string>();
  for (const shell of SHELLS) {
    const path = join(dir, `hg.${shell}`);
    writeFileSync(path, completionScript(shell, sampleProgram()));
    paths.set(shell, path);
  }
  // A leftover temp dir is harmless; node:test has no after() under every runner we use.
  return { dir, path: (shell: Shell) => paths.get(shell)! };
})();

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.status, 0, `${cmd} failed:\n${result.stderr}`);
  return result.stdout;
}

/**
 * Completes in bash as readline would: COMP_WORDS are `words` (the last one is being completed),
 * and the function registered with `complete -F hg` runs. Returns COMPREPLY, sorted.
 */
function bashComplete(...words: string[]): string[] {
  const driver = `
    source "$0" || exit 1
    spec=$(complete -p hg) || exit 1
    fn=\${spec#*-F }
    fn=\${fn%% *}
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=\${#COMP_LINE}
    "$fn" hg "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\\n' "\${COMPREPLY[@]}"
  `;
  const out = run("bash", ["--norc", "--noprofile", "-c", driver, scripts.path("bash"), ...words]);
  return out.split("\n").filter(Boolean).sort();
}

/** What `complete -C line` prints in fish: the candidates, without descriptions, sorted. */
function fishComplete(line: string): string[] {
  const home = join(scripts.dir, "fish-home");
  const command = `source ${scripts.path("fish")}; complete -C ${JSON.stringify(line)}`;
  const out = run("fish", ["-c", command], {
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
  });
  return out.split("\n").filter(Boolean).map((l) => l.split("\t")[0]).sort();
}

const skipBash = hasBash ? false : "bash is not installed";
const skipZsh = hasZsh ? false : "zsh is not installed (apt-get install zsh)";
const skipFish = hasFish ? false : "fish is not installed (apt-get install fish)";

describe("completionScript", () => {
  it("lists the shells it supports", () => {
    assert.deepEqual([...SHELLS], ["bash", "zsh", "fish"]);
  });

  it("names the program from program.name() and covers every visible command", () => {
    const program = sampleProgram().name("hgx");
    const bash = completionScript("bash", program);
    assert.match(bash, /^complete -F \S+ hgx$/m);
    const zsh = completionScript("zsh", program);
    assert.match(zsh, /^#compdef hgx\n/);
    assert.match(zsh, /compdef _hgx hgx/);
    const fish = completionScript("fish", program);
    assert.match(fish, /^complete -c hgx -n '__hgx_comp_operand 0 hgx peer' -a add -d /m);
    for (const script of [bash, zsh, fish]) {
      for (const word of ["peer", "netns", "completions", "via", "dev", "dry-run"]) {
        assert.ok(script.includes(word), `${word} missing`);
      }
      assert.ok(!script.includes("debug"), "hidden commands stay hidden");
    }
  });

  it("accepts extra-typings commands and gives the same scripts", () => {
    for (const shell of SHELLS) {
      assert.equal(
        completionScript(shell, typedSampleProgram()),
        completionScript(shell, sampleProgram()),
      );
    }
  });

  it("is pure: the same tree gives the same script", () => {
    const program = sampleProgram();
    for (const shell of SHELLS) {
      assert.equal(completionScript(shell, program), completionScript(shell, sampleProgram()));
    }
  });
});

describe("bash completion", { skip: skipBash }, () => {
  it("completes subcommands at every depth", () => {
    assert.deepEqual(bashComplete("hg", "pe"), ["peer"]);
    assert.deepEqual(bashComplete("hg", ""), ["completions", "help", "netns", "peer"]);
    assert.deepEqual(bashComplete("hg", "peer", ""), ["add", "help", "ls", "rm"]);
    assert.deepEqual(bashComplete("hg", "netns", "d"), ["del"]);
    assert.deepEqual(bashComplete("hg", "--json", "-n", "netns", ""), ["add", "del", "help"]);
  });

  it("completes a command's own options plus the global ones", () => {
    const options = bashComplete("hg", "peer", "add", "--");
    for (const option of ["--via", "--dev", "--json", "--dry-run", "--help"]) {
      assert.ok(options.includes(option), `${option} not in ${options}`);
    }
    assert.ok(!options.includes("--format"), "--format belongs to peer ls");
    assert.deepEqual(bashComplete("hg", "peer", "add", "-"), [
      "--dev",
      "--dry-run",
      "--help",
      "--json",
      "--via",
      "-d",
      "-h",
      "-n",
    ]);
    assert.deepEqual(bashComplete("hg", "--"), ["--dry-run", "--help", "--json"]);
  });

  it("offers argument and option choices", () => {
    assert.deepEqual(bashComplete("hg", "completions", ""), ["bash", "fish", "zsh"]);
    assert.deepEqual(bashComplete("hg", "completions", "z"), ["zsh"]);
    assert.deepEqual(bashComplete("hg", "completions", "zsh", ""), []);
    assert.deepEqual(bashComplete("hg", "peer", "ls", "--format", ""), ["json", "table"]);
    // --format= as split by the default COMP_WORDBREAKS, and unsplit.
    assert.deepEqual(bashComplete("hg", "peer", "ls", "--format", "=", ""), ["json", "table"]);
    assert.deepEqual(bashComplete("hg", "peer", "ls", "--format", "=", "j"), ["json"]);
    assert.deepEqual(bashComplete("hg", "peer", "ls", "--format=t"), ["--format=table"]);
    assert.deepEqual(bashComplete("hg", "help", "n"), ["netns"]);
  });

  it("skips option values and follows aliases when finding the command", () => {
    // 10.0.0.1 is the value of --via, not an operand; `ls` there is a value, not a subcommand.
    assert.ok(bashComplete("hg", "peer", "add", "--via", "10.0.0.1", "-").includes("--dev"));
    assert.deepEqual(bashComplete("hg", "peer", "add", "--dev", "ls", "--v"), ["--via"]);
    assert.deepEqual(bashComplete("hg", "peer", "add", "--via", ""), []);
    assert.ok(bashComplete("hg", "peer", "remove", "--").includes("--json"));
    assert.deepEqual(bashComplete("hg", "netns", "add", "peer", ""), []);
  });
});

describe("zsh completion", { skip: skipZsh }, () => {
  it("passes zsh -n", () => {
    run("zsh", ["-n", scripts.path("zsh")]);
  });

  it("registers with compdef when sourced after compinit", () => {
    const home = join(scripts.dir, "zsh-home");
    const out = run("zsh", [
      "-f",
      "-c",
      `autoload -Uz compinit && compinit -u -d ${home}.zcompdump && source "$1" && ` +
      `print -r -- $_comps[hg]`,
      "zsh",
      scripts.path("zsh"),
    ]);
    assert.equal(out.trim(), "_hg");
  });
});

describe("fish completion", { skip: skipFish }, () => {
  it("passes fish --no-execute", () => {
    run("fish", ["--no-execute", scripts.path("fish")]);
  });

  it("completes subcommands, options and choices", () => {
    assert.deepEqual(fishComplete("hg pe"), ["peer"]);
    assert.deepEqual(fishComplete("hg peer "), ["add", "help", "ls", "rm"]);
    const options = fishComplete("hg peer add --");
    for (const option of ["--via", "--dev", "--json", "--dry-run", "--help"]) {
      assert.ok(options.includes(option), `${option} not in ${options}`);
    }
    assert.deepEqual(fishComplete("hg completions "), ["bash", "fish", "zsh"]);
    assert.deepEqual(fishComplete("hg peer ls --format "), ["json", "table"]);
    assert.deepEqual(fishComplete("hg netns add peer "), []);
  });
});

it("cleans up", () => {
  rmSync(scripts.dir, { recursive: true, force: true });
});
