/**
 * Where the CLI writes: results on stdout (human text or one JSON document), notes on stderr.
 *
 * Through console.log and console.error, not process.stdout/stderr: under Bun the first use of
 * a process stream sets it up for about 3 ms of CPU, more than `hg status` spends on its own
 * work. console.log writes a lone string as it is, in both runtimes, and a reader that goes
 * away (`hg status | head`) costs it nothing.
 *
 * @module
 */

/** The global flags every command sees. */
export interface GlobalOptions {
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly verbose: boolean;
  readonly quiet: boolean;
}

/**
 * Writes `text` and a newline to stdout.
 *
 * @example
 * ```ts
 * printOut("0.1.0");
 * ```
 */
export function printOut(text: string): void {
  console.log(text);
}

/**
 * Writes `text` and a newline to stderr.
 *
 * @example
 * ```ts
 * printErr("hg: something went wrong");
 * ```
 */
export function printErr(text: string): void {
  console.error(text);
}

/**
 * Writes `text` to stdout exactly as it is (help, a completion script: text that carries its
 * own last newline).
 *
 * @example
 * ```ts
 * writeOut("Usage: hg [options] [command]\n");
 * ```
 */
export function writeOut(text: string): void {
  if (text.endsWith("\n")) printOut(text.slice(0, -1));
  else process.stdout.write(text);
}

/** Writes `text` to stderr exactly as it is. */
export function writeErr(text: string): void {
  if (text.endsWith("\n")) printErr(text.slice(0, -1));
  else process.stderr.write(text);
}

/** Writes a command's output according to the global flags. */
export class Output {
  /** Whether a JSON result went to stdout in this process (an error then prints no second one). */
  static printedResult = false;

  constructor(readonly options: GlobalOptions) {}

  /** A line of the human result (not printed with --json). */
  line(text: string): void {
    if (!this.options.json) printOut(text);
  }

  /** A progress or summary note on stderr (not printed with --quiet or --json). */
  note(text: string): void {
    if (!this.options.quiet && !this.options.json) printErr(text);
  }

  /** Detail printed only with --verbose. */
  detail(text: string): void {
    if (this.options.verbose && !this.options.json) printErr(text);
  }

  /** The JSON result (only with --json). */
  json(value: unknown): void {
    if (!this.options.json) return;
    printOut(JSON.stringify(value, null, 2));
    Output.printedResult = true;
  }
}
