/**
 * The one place that runs iproute2: typed parsers of `ip -j` output, safe batch lines, and
 * the reads and batch writes themselves.
 *
 * @module
 */
export * from "./addr.ts";
export * from "./exec.ts";
export * from "./link.ts";
export * from "./neigh.ts";
export * from "./op.ts";
export * from "./output_error.ts";
export * from "./protocol.ts";
export * from "./read.ts";
export * from "./route.ts";
export * from "./session.ts";
