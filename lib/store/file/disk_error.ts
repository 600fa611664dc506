/**
 * The registry file's directory refused a step (full disk, quota, read-only mount, permissions):
 * one line that names the registry, the step and what is wrong, and says that nothing changed.
 *
 * @module
 */
import { HgError } from "../../errors.ts";
import { diskFaultWords, errnoOf } from "../../lock/disk_fault.ts";

/** What the file store was doing: reading, taking the lock, writing the new copy, renaming it. */
export type RegistryStep = "read" | "lock" | "write" | "replace";

/**
 * The message for a refused `step` on the registry `registry`; `lockFile` names the lock file
 * when locking failed.
 *
 * @example
 * ```ts
 * registryDiskMessage("/x/subnets.json", "write", Object.assign(new Error(), { code: "ENOSPC" }));
 * // "cannot write the registry /x/subnets.json: no space left on device; the registry is unchanged"
 * ```
 */
export function registryDiskMessage(
  registry: string,
  step: RegistryStep,
  cause: unknown,
  lockFile?: string,
): string {
  const words = diskFaultWords(cause);
  switch (step) {
    case "read":
      return `cannot read the registry ${registry}: ${words}`;
    case "lock":
      return `cannot lock the registry ${registry} (lock file ${
        lockFile ?? `${registry}.lock`
      }): ${words}; the registry is unchanged`;
    case "write":
      return `cannot write the registry ${registry}: ${words}; the registry is unchanged`;
    case "replace":
      return `cannot replace the registry ${registry}: ${words}; the registry is unchanged`;
  }
}

/**
 * The file system refused a step on the registry file; nothing was changed and no temporary or
 * lock file of this writer is left. Exit code 1, like every {@link HgError}.
 *
 * @example
 * ```ts
 * throw new RegistryDiskError("/x/subnets.json", "write", Object.assign(new Error(), { code: "ENOSPC" }));
 * ```
 */
export class RegistryDiskError extends HgError {
  constructor(
    readonly registry: string,
    readonly step: RegistryStep,
    cause: unknown,
    lockFile?: string,
  ) {
    super(registryDiskMessage(registry, step, cause, lockFile), { cause });
  }

  /** The errno code (`"ENOSPC"`), if the file system gave one. */
  get code(): string | undefined {
    return errnoOf(this.cause);
  }
}
