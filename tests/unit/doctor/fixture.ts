/**
 * The doctor snapshots captured from the e2e labs, for unit tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseSnapshot } from "../../../lib/doctor/snapshot.ts";
import { hostAt } from "../../../lib/net/prefix.ts";

/** A captured snapshot document, as JSON (to change before parsing). */
export function fixtureDocument(name: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(new URL(`../../fixtures/doctor/${name}.json`, import.meta.url), "utf8"),
  );
}

/** A captured snapshot, parsed. */
export function fixture(name: string) {
  return parseSnapshot(
    JSON.parse(
      readFileSync(new URL(`../../fixtures/doctor/${name}.json`, import.meta.url), "utf8"),
    ),
  );
}

/** The container address of the lab's host h2, from the registry in the snapshot. */
export function h2Container(obs: ReturnType<typeof fixture>) {
  const registry = obs.registry;
  assert.ok(registry && "entries" in registry);
  const lease = registry.entries.flatMap((e) => "lease" in e ? [e.lease] : [])
    .find((l) => l.attrs.node === "lab-h2");
  assert.ok(lease);
  return hostAt(lease.subnet, 2);
}

// deno-lint-ignore no-explicit-any
export type Doc = Record<string, any>;

/**
 * A captured snapshot after `change` to its document, parsed; table main in the listing of
 * every table follows the change to `host.route`.
 */
export function changedFixture(name: string, change: (doc: Doc) => void) {
  const doc = fixtureDocument(name) as Doc;
  change(doc);
  if (doc.host.routeTables) {
    doc.host.routeTables = [
      ...doc.host.routeTables.filter((r: Doc) => r.table !== "254"),
      ...doc.host.route.map((r: Doc) => ({ ...r, table: "254" })),
    ];
  }
  return parseSnapshot(doc);
}
