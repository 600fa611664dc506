import { Argument, Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { completionScript, SHELLS } from "../completions.ts";
import { writeOut } from "../output.ts";

/** `hg completions bash|zsh|fish`: a completion script generated from the command tree. */
export function completionsCommand(root: () => CommandUnknownOpts) {
  return new Command("completions")
    .description("print a shell completion script (bash: source <(hg completions bash))")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .action((shell) => {
      writeOut(completionScript(shell, root()));
    });
}
