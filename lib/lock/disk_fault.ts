/**
 * File system refusals (full disk, quota, read-only mount, permissions) in words a person can
 * act on, for the lock files and the files they protect. Node's own messages ("ENOSPC: no space
 * left on device, write") name neither the file nor what to do.
 *
 * @module
 */

/** The errno code of a file system error (`"ENOSPC"`), if it has one. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Who hg runs as, for permission errors: whether to fix the file's mode or run as another user. */
function uidText(): string {
  const uid = process.getuid?.();
  return uid === undefined ? "" : ` (hg runs as uid ${uid})`;
}

/**
 * What went wrong, in words: the errors a full, limited, read-only or forbidden disk gives have
 * their own wording; any other error keeps its own message.
 *
 * @example
 * ```ts
 * diskFaultWords(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
 * // "no space left on device"
 * ```
 */
export function diskFaultWords(error: unknown): string {
  switch (errnoOf(error)) {
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "the file system is mounted read-only";
    case "EACCES":
    case "EPERM":
      return `permission denied${uidText()}`;
    default: {
      const text = error instanceof Error ? error.message : String(error);
      return text.split("\n")[0];
    }
  }
}
