/**
 * Where the CLI writes: results on stdout (human text or one JSON document), notes on stderr.
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

/** Writes a command's output according to the global flags. */
export class Output {
  /** Whether a JSON result went to stdout in this process (an error then prints no second one). */
  static printedResult = false;

  constructor(readonly options: GlobalOptions) {}

  /** A line of the human result (not printed with --json). */
  line(text: string): void {
    if (!this.options.json) process.stdout.write(text + "\n");
  }

  /** A progress or summary note on stderr (not printed with --quiet or --json). */
  note(text: string): void {
    if (!this.options.quiet && !this.options.json) process.stderr.write(text + "\n");
  }

  /** Detail printed only with --verbose. */
  detail(text: string): void {
    if (this.options.verbose && !this.options.json) process.stderr.write(text + "\n");
  }

  /** The JSON result (only with --json). */
  json(value: unknown): void {
    if (!this.options.json) return;
    process.stdout.write(JSON.stringify(value, null, 2) + "\n");
    Output.printedResult = true;
  }
}
