/**
 * The file a registry path really names, through symbolic links: `/var/lib/hg/subnets.json` may
 * be a link to `/srv/shared/subnets.json` on shared storage. Writers replace the registry by
 * renaming a temp file over it, and a rename over the link would replace the link itself with a
 * local copy (other hosts would silently stop seeing this host's changes), so the temp file, the
 * rename and the lock all happen beside the real file instead. Two hosts reaching one file
 * through different link paths then share one lock.
 *
 * @module
 */
import { lstatSync, readlinkSync, realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { HgError } from "../../errors.ts";
import { diskFaultWords, errnoOf } from "../../lock/disk_fault.ts";

/** Links followed at most, as the kernel does (its MAXSYMLINKS is 40). */
const MAX_LINKS = 40;

/**
 * The registry path cannot be followed to a file: a symlink loop, a link into a directory that
 * does not exist, or a directory on the way that cannot be read. Exit code 1: the path is fine as
 * input, the file system around it is not.
 */
export class RegistryPathError extends HgError {}

/** Where a registry path leads: the real file, and the links followed to get there. */
export interface RegistryTarget {
  /** Absolute path of the file itself (it may not exist yet). */
  readonly real: string;
  /** The path as given, then each link target in turn; one element when no link was followed. */
  readonly chain: readonly string[];
}

const chainText = (chain: readonly string[]) => chain.join(" -> ");

/**
 * Follows `path` through symbolic links, in its directories and in the file itself, to the file
 * it names. A link whose target does not exist yet (a registry about to be created through the
 * link) leads to that target, which is then created there; a plain path whose directory does not
 * exist is left as it is (the directory is created with the lock, as always).
 *
 * @throws {RegistryPathError} on a symlink loop, or a link whose target's directory is missing
 * (shared storage not mounted?), or a directory on the way that cannot be read.
 *
 * @example
 * ```ts
 * registryTarget("/var/lib/hg/subnets.json");
 * // { real: "/srv/shared/subnets.json",
 * //   chain: ["/var/lib/hg/subnets.json", "/srv/shared/subnets.json"] }
 * ```
 */
export function registryTarget(path: string): RegistryTarget {
  const chain = [resolve(path)];
  let at = chain[0];
  for (let links = 0; links <= MAX_LINKS; links++) {
    let dir: string;
    try {
      dir = realpathSync(dirname(at));
    } catch (e) {
      if (errnoOf(e) === "ENOENT" && links === 0) return { real: at, chain };
      throw pathError(chain, dirname(at), e);
    }
    const here = join(dir, basename(at));
    let isLink: boolean;
    try {
      isLink = lstatSync(here).isSymbolicLink();
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return { real: here, chain };
      throw pathError(chain, here, e);
    }
    if (!isLink) return { real: here, chain };
    let target: string;
    try {
      target = readlinkSync(here);
    } catch (e) {
      throw pathError(chain, here, e);
    }
    // A relative target is relative to the directory that holds the link.
    at = resolve(dir, target);
    const again = chain.includes(at);
    chain.push(at);
    if (again) {
      throw new RegistryPathError(
        `cannot follow the registry path ${chain[0]}: symlink loop (${chainText(chain)})`,
      );
    }
  }
  throw new RegistryPathError(
    `cannot follow the registry path ${chain[0]}: more than ${MAX_LINKS} symlinks (${
      chainText(chain.slice(0, 3))
    } -> ...)`,
  );
}

/** The one-line error for a step of following `chain` that failed at `where`. */
function pathError(chain: readonly string[], where: string, cause: unknown): RegistryPathError {
  const via = chain.length > 1 ? ` (${chainText(chain)})` : "";
  switch (errnoOf(cause)) {
    case "ELOOP":
      return new RegistryPathError(
        `cannot follow the registry path ${chain[0]}${via}: symlink loop at ${where}`,
        { cause },
      );
    case "ENOENT":
      return new RegistryPathError(
        `the registry ${chain[0]} is a symlink to ${chain.at(-1)}, whose directory ${where} ` +
          `does not exist (is the shared storage mounted?); nothing was created`,
        { cause },
      );
    default:
      return new RegistryPathError(
        `cannot follow the registry path ${chain[0]}${via} at ${where}: ${diskFaultWords(cause)}`,
        { cause },
      );
  }
}
