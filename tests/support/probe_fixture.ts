/**
 * A probe's result and the snapshots doctor took beside it, as one JSON document: what
 * `tests/fixtures/probe/capture_probe.ts` writes from real labs and the unit tests replay through
 * the pure half of doctor (path view, cause, verdict). The result's Maps are kept as entry lists.
 *
 * @module
 */
import type { ProbeResult } from "../../lib/probe/probe.ts";

/** The captured document. */
export interface ProbeFixture {
  /** What was broken, in words. */
  readonly fault: string;
  readonly from: string;
  readonly to: string;
  readonly peerNetns: string;
  /** `hg snapshot` of this host and of the peer host (the peer's with this host's registry). */
  readonly here: unknown;
  readonly peer: unknown;
  readonly result: unknown;
}

/** JSON.stringify's replacer for Maps and bigints (addresses hold their value as one). */
export function mapsAsEntries(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  return value instanceof Map ? { $map: [...value] } : value;
}

/** JSON.parse's reviver for {@link mapsAsEntries}. */
function entriesAsMaps(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null && "$map" in value) {
    return new Map((value as { $map: [unknown, unknown][] }).$map);
  }
  if (typeof value === "object" && value !== null && "$bigint" in value) {
    return BigInt((value as { $bigint: string }).$bigint);
  }
  return value;
}

/** Reads a captured fixture back, its probe result with its Maps. */
export function readProbeFixture(text: string): ProbeFixture & { result: ProbeResult } {
  return JSON.parse(text, entriesAsMaps);
}
