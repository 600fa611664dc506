/**
 * The shared JSON file's format: the network config and the leases, with a revision number that
 * grows with every write, marked so that hg never mistakes (or overwrites) a file of someone
 * else's.
 *
 * ```json
 * {"kind":"hg-subnet-registry","version":1,"revision":3,
 *  "config":{"Network":"1.1.0.0/16","SubnetLen":24,...},
 *  "leases":{"1.1.1.0-24":{"attrs":{"PublicIP":"10.0.12.11",...},"expiration":"2026-11-26T10:00:00.000Z"}}}
 * ```
 *
 * @module
 */
import { HgError } from "../../errors.ts";

/** The kind marker of hg's registry files. */
export const FILE_KIND = "hg-subnet-registry";

/** One lease as stored: flannel's lease value and when it runs out. */
export interface StoredLease {
  readonly attrs: Record<string, unknown>;
  readonly expiration: string;
}

/** The whole file. */
export interface RegistryFile {
  readonly kind: typeof FILE_KIND;
  readonly version: 1;
  readonly revision: number;
  readonly config: Record<string, unknown> | null;
  readonly leases: Readonly<Record<string, StoredLease>>;
}

/** A registry file that is not valid or not hg's: reported, never overwritten. */
export class RegistryFileError extends HgError {}

/** An empty registry (a file that does not exist yet). */
export function emptyRegistry(): RegistryFile {
  return { kind: FILE_KIND, version: 1, revision: 0, config: null, leases: {} };
}

/**
 * Parses the file's text; throws {@link RegistryFileError} for anything that is not an hg
 * registry, naming the file and what is wrong with it.
 */
export function parseRegistryFile(text: string, path: string): RegistryFile {
  const refuse = (why: string) =>
    new RegistryFileError(`${path} ${why}: refusing to use or overwrite it`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw refuse("is not valid JSON");
  }
  const v = data as Partial<RegistryFile> | null;
  if (typeof v !== "object" || v === null || Array.isArray(v) || v.kind !== FILE_KIND) {
    throw refuse(`is not an hg subnet registry (no "kind": "${FILE_KIND}")`);
  }
  if (v.version !== 1) {
    throw refuse(`has version ${JSON.stringify(v.version)}, this hg reads version 1`);
  }
  if (!Number.isSafeInteger(v.revision) || (v.revision as number) < 0) {
    throw refuse("has no valid revision");
  }
  if (v.config !== null && (typeof v.config !== "object" || Array.isArray(v.config))) {
    throw refuse("has a config that is not an object");
  }
  if (typeof v.leases !== "object" || v.leases === null || Array.isArray(v.leases)) {
    throw refuse("has no leases object");
  }
  for (const key in v.leases) {
    if (!Object.hasOwn(v.leases, key)) continue;
    const lease = v.leases[key];
    if (
      typeof lease !== "object" || lease === null || typeof lease.attrs !== "object" ||
      lease.attrs === null || typeof lease.expiration !== "string"
    ) {
      throw refuse(`has a lease ${JSON.stringify(key)} without attrs and expiration`);
    }
  }
  return v as RegistryFile;
}
