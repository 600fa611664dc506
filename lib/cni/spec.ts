/**
 * What hg takes from the CNI specification (1.1.0): the versions it answers, and the error codes
 * a runtime understands.
 *
 * @module
 */

/** The spec versions hg answers; results are written in the config's version. */
export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;

/** One of {@link SUPPORTED_VERSIONS}. */
export type CniVersion = typeof SUPPORTED_VERSIONS[number];

/** The newest version hg answers. */
export const LATEST_VERSION: CniVersion = "1.1.0";

/** The spec's well-known error codes (1-99) and hg's own (100 and up). */
export const CNI_ERROR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  containerUnknown: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  notAvailableDamaged: 51,
  /** hg could not change the host or the container (an `ip` command failed). */
  configureFailed: 100,
  /** CHECK found the attachment different from what ADD made. */
  checkFailed: 101,
  /** ADD for an attachment that exists already (the spec: an existing interface is an error). */
  attachmentExists: 102,
} as const;

/**
 * The answer to VERSION: the config's version (the newest without one) and all hg answers.
 *
 * @example
 * ```ts
 * versionAnswer("1.0.0"); // { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] }
 * ```
 */
export function versionAnswer(version?: string): {
  cniVersion: string;
  supportedVersions: readonly CniVersion[];
} {
  return { cniVersion: version ?? LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS };
}

/** Whether `version` is one hg answers. */
export function isSupportedVersion(version: string): version is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}
