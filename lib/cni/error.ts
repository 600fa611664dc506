/**
 * CNI errors: what a plugin prints on stdout (`{"cniVersion","code","msg","details"}`) with a
 * non-zero exit, and the one place that maps hg's typed errors to the spec's codes.
 *
 * @module
 */
import { EnvironmentError, HgError, InputError } from "../errors.ts";
import { CNI_ERROR, LATEST_VERSION } from "./spec.ts";

/** An error with a CNI code. */
export class CniError extends HgError {
  constructor(readonly code: number, message: string, readonly details?: string) {
    super(message);
  }
}

/** The error document a plugin prints. */
export interface CniErrorDocument {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/**
 * The error document for anything thrown while answering a runtime: a CniError keeps its code;
 * bad input is an invalid config (7); a host not ready (no bridge) is "try again later" (11),
 * since the agent may be about to make it; a failed change is hg's 100.
 *
 * @example
 * ```ts
 * cniErrorDocument(new CniError(4, "CNI_IFNAME is empty"), "1.0.0"); // { cniVersion: "1.0.0", code: 4, msg: "hg: CNI_IFNAME is empty" }
 * ```
 */
export function cniErrorDocument(
  error: unknown,
  cniVersion: string = LATEST_VERSION,
): CniErrorDocument {
  const msg = error instanceof Error ? error.message.split("\n")[0] : String(error);
  const code = error instanceof CniError
    ? error.code
    : error instanceof InputError
    ? CNI_ERROR.invalidConfig
    : error instanceof EnvironmentError
    ? CNI_ERROR.tryAgainLater
    : CNI_ERROR.configureFailed;
  const details = error instanceof CniError ? error.details : undefined;
  return { cniVersion, code, msg: `hg: ${msg}`, ...(details ? { details } : {}) };
}
