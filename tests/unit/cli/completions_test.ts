import { skipUnlessInstalled } from "../../support/tools.ts";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Argument, Command, Option } from "commander";
import { buildProgram } from "../../../cli/program.ts";
import {
  type CompletionCommand,
  completionScript,
  type Shell,
  SHELLS,
} from "../../../cli/completions.ts";

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

const skipBash = skipUnlessInstalled("bash", ["-c", "exit 0"], "apt-get install bash");
const skipZsh = skipUnlessInstalled("zsh", ["-c", "exit 0"], "apt-get install zsh");
const skipFish = skipUnlessInstalled("fish", ["-c", "exit 0"], "apt-get install fish");

const dir = mkdtempSync(join(tmpdir(), "hg-completions-"));
const scripts = new Map<Shell, string>();
for (const shell of SHELLS) {
  const path = join(dir, `hg.${shell}`);
  writeFileSync(path, completionScript(shell, sampleProgram()));
  scripts.set(shell, path);
}
const script = (shell: Shell) => scripts.get(shell)!;

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, ...env },
    timeout: 30_000,
  });
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.status, 0, `${cmd} failed:\n${result.stderr}`);
  return result.stdout;
}

/**
 * Completes in bash as readline would: COMP_WORDS are `words` (the last is being completed) and
 * the function registered by `complete -F` for hg runs. Returns COMPREPLY, sorted.
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
  const out = run("bash", ["--norc", "--noprofile", "-c", driver, script("bash"), ...words]);
  return out.split("\n").filter(Boolean).sort();
}

/** What `complete -C line` lists in fish after sourcing the script: candidates only, sorted. */
function fishComplete(line: string): string[] {
  const out = run("fish", ["-c", `source ${script("fish")}; complete -C ${JSON.stringify(line)}`]);
  return out.split("\n").filter(Boolean).map((l) => l.split("\t")[0]).sort();
}

// Real zsh completion needs zle, so an interactive zsh runs on a pseudo-terminal (zsh/zpty): it
// types each line and a TAB, and a compadd wrapper prints what the completion system would add.
const ZSH_INIT = `
PROMPT= RPROMPT= PS2=
[[ -n $HG_FPATH ]] && fpath=($HG_FPATH $fpath)
autoload -Uz compinit && compinit -u -d $HG_DUMP
[[ -n $HG_SCRIPT ]] && source $HG_SCRIPT
bindkey '^I' complete-word
zstyle ':completion:*' insert-tab false
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits
  builtin compadd -A hits "$@"
  local hit
  for hit in $hits; do print -r -- "<<$IPREFIX$hit>>"; done
}
hg_done() { print -r -- "<<END>>"; exit }
comppostfuncs=(hg_done)
`;
const ZSH_DRIVER = `
zmodload zsh/zpty || exit 3
for buffer in "$@"; do
  zpty z zsh -f -i
  # The markers are built so that the terminal's echo of the command never matches them.
  zpty -w z "source \${(q)HG_INIT}; print -r -- \\"<<\\"READY\\">>\\""
  while zpty -r z line; do [[ $line == '<<READY>>'* ]] && break; done
  zpty -w z "$buffer"$'\\t'
  out=()
  while zpty -r z line; do
    [[ $line == *'<<END>>'* ]] && break
    [[ $line == *'<<'*'>>'* ]] && out+=("\${\${line#*<<}%%>>*}")
  done
  zpty -d z
  print -r -- "\${(j: :)out}"
done
`;

/**
 * Completes each line in a real interactive zsh, the script loaded with `source` or from $fpath.
 * Returns, per line, the candidates sorted.
 */
function zshComplete(load: "source" | "fpath", ...lines: string[]): string[][] {
  const init = join(dir, "zsh-init.zsh");
  writeFileSync(init, ZSH_INIT);
  const env: Record<string, string> = { HG_INIT: init, HG_DUMP: join(dir, `zcompdump-${load}`) };
  if (load === "source") env.HG_SCRIPT = script("zsh");
  else {
    const fpath = join(dir, "zsh-functions");
    mkdirSync(fpath, { recursive: true });
    writeFileSync(join(fpath, "_hg"), completionScript("zsh", sampleProgram()));
    env.HG_FPATH = fpath;
  }
  const out = run("zsh", ["-f", "-c", ZSH_DRIVER, "zsh", ...lines], env);
  const results = out.split("\n").slice(0, lines.length);
  assert.equal(results.length, lines.length, `zsh printed:\n${out}`);
  return results.map((l) => l.split(" ").filter(Boolean).sort());
}

after(() => rmSync(dir, { recursive: true, force: true }));

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
    for (const text of [bash, zsh, fish]) {
      for (const word of ["peer", "netns", "completions", "via", "dev", "dry-run"]) {
        assert.ok(text.includes(word), `${word} missing`);
      }
      assert.ok(!text.includes("debug"), "hidden commands stay hidden");
    }
  });

  it("covers every command and long option of hg's own program", async () => {
    // Seen through the generator's own interface: checking the whole typed tree against
    // commander's class would cost the type checker minutes.
    const program: CompletionCommand = await buildProgram();
    const walk = (cmd: CompletionCommand): string[] => [
      cmd.name(),
      ...cmd.options.flatMap((o) => o.long ? [o.long.replace(/^--/, "")] : []),
      ...cmd.commands.flatMap(walk),
    ];
    const words = walk(program);
    assert.ok(words.includes("via") && words.includes("teardown"));
    for (const shell of SHELLS) {
      const text = completionScript(shell, program);
      for (const word of words) assert.ok(text.includes(word), `${shell}: ${word} missing`);
    }
  });

  it("is pure: the same tree gives the same script", () => {
    const program = sampleProgram();
    for (const shell of SHELLS) {
      assert.equal(completionScript(shell, program), completionScript(shell, sampleProgram()));
    }
  });
});

describe("bash completion", () => {
  it("passes bash -n", { skip: skipBash }, () => {
    run("bash", ["-n", script("bash")]);
  });

  it("completes subcommands at every depth", { skip: skipBash }, () => {
    assert.deepEqual(bashComplete("hg", "pe"), ["peer"]);
    assert.deepEqual(bashComplete("hg", ""), ["completions", "help", "netns", "peer"]);
    assert.deepEqual(bashComplete("hg", "peer", ""), ["add", "help", "ls", "rm"]);
    assert.deepEqual(bashComplete("hg", "netns", "d"), ["del"]);
    assert.deepEqual(bashComplete("hg", "--json", "-n", "netns", ""), ["add", "del", "help"]);
  });

  it("completes a command's own options plus the global ones", { skip: skipBash }, () => {
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

  it("offers argument and option choices", { skip: skipBash }, () => {
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

  it("skips option values and follows aliases to find the command", { skip: skipBash }, () => {
    // 10.0.0.1 is the value of --via, not an operand; `ls` there is a value, not a subcommand.
    assert.ok(bashComplete("hg", "peer", "add", "--via", "10.0.0.1", "-").includes("--dev"));
    assert.deepEqual(bashComplete("hg", "peer", "add", "--dev", "ls", "--v"), ["--via"]);
    assert.deepEqual(bashComplete("hg", "peer", "add", "--via", ""), []);
    assert.ok(bashComplete("hg", "peer", "remove", "--").includes("--json"));
    assert.deepEqual(bashComplete("hg", "netns", "add", "peer", ""), []);
  });
});

describe("zsh completion", () => {
  it("passes zsh -n", { skip: skipZsh }, () => {
    run("zsh", ["-n", script("zsh")]);
  });

  it("completes in an interactive zsh after `source`", { skip: skipZsh, timeout: 60_000 }, () => {
    const [pe, peer, add, shells, format, value, global, help] = zshComplete(
      "source",
      "hg pe",
      "hg peer ",
      "hg peer add --",
      "hg completions ",
      "hg peer ls --format=",
      "hg peer add --via ",
      "hg --json -n netns ",
      "hg help ",
    );
    assert.deepEqual(pe, ["peer"]);
    assert.deepEqual(peer, ["add", "help", "ls", "rm"]);
    assert.deepEqual(add, ["--dev", "--dry-run", "--help", "--json", "--via"]);
    assert.deepEqual(shells, ["bash", "fish", "zsh"]);
    assert.deepEqual(format, ["--format=json", "--format=table"]);
    assert.deepEqual(value, []);
    assert.deepEqual(global, ["add", "del", "help"]);
    assert.deepEqual(help, ["completions", "netns", "peer"]);
  });

  it("completes in an interactive zsh when autoloaded from $fpath", {
    skip: skipZsh,
    timeout: 60_000,
  }, () => {
    const [root, netns] = zshComplete("fpath", "hg ", "hg netns add -");
    assert.deepEqual(root, ["completions", "help", "netns", "peer"]);
    assert.deepEqual(netns, ["--dry-run", "--help", "--json", "-h", "-n"]);
  });
});

describe("fish completion", () => {
  it("passes fish --no-execute", { skip: skipFish }, () => {
    run("fish", ["--no-execute", script("fish")]);
  });

  it("completes subcommands, options and choices", { skip: skipFish }, () => {
    assert.deepEqual(fishComplete("hg pe"), ["peer"]);
    assert.deepEqual(fishComplete("hg peer "), ["add", "help", "ls", "rm"]);
    const options = fishComplete("hg peer add --");
    for (const option of ["--via", "--dev", "--json", "--dry-run", "--help"]) {
      assert.ok(options.includes(option), `${option} not in ${options}`);
    }
    assert.deepEqual(fishComplete("hg completions "), ["bash", "fish", "zsh"]);
    assert.deepEqual(fishComplete("hg peer ls --format "), ["json", "table"]);
    assert.deepEqual(fishComplete("hg peer add --via 10.0.0.1 --dev eth0 10.1.0.0/16 -"), [
      "--dev",
      "--dry-run",
      "--help",
      "--json",
      "--via",
      "-d",
      "-h",
      "-n",
    ]);
    assert.deepEqual(fishComplete("hg netns add peer "), []);
  });
});
