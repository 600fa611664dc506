/**
 * Typed errors shared by every part of hg. The CLI maps them to exit codes in one
 * place (`cli/exit_code.ts`): {@link InputError} is bad usage or input (exit 2),
 * {@link UndecidedError} an answer that could not be decided (exit 3), everything else is a
 * failure of the job or the environment (exit 1).
 *
 * @module
 */

/** A failure of the job or of the environment (not root, `ip` missing, a command failed). Exit 1. */
export class HgError extends Error {
  /** Set the name from the concrete class so messages and logs say which kind of error it is. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Bad usage or input: a value that cannot be parsed or is out of range. Exit 2, nothing changed.
 *
 * @example
 * ```ts
 * throw new InputError('"1.1.1.0/33" is not a valid prefix: length must be 0-32');
 * ```
 */
export class InputError extends HgError {}

/**
 * The answer could not be decided: doctor found no error, but something it cannot evaluate (a
 * rule match it does not model, a registry it cannot read) may stop traffic. Exit 3.
 *
 * @example
 * ```ts
 * throw new UndecidedError("doctor: undecided: a rule doctor cannot evaluate decides");
 * ```
 */
export class UndecidedError extends HgError {}

/** The host is not in a state the command can work with (no bridge, no root, no `ip`). Exit 1. */
export class EnvironmentError extends HgError {}
