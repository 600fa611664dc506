import { HgError } from "../errors.ts";

/** `ip -j` printed something that does not have the shape hg expects. */
export class IpOutputError extends HgError {}
