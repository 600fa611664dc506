/**
 * The file store's temp files: named for the registry and the writer, recognised only when they
 * are this registry's, and removed only when their writer is gone (real files, a stand-in
 * kernel for which PIDs are alive).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import type { ProcessState } from "../../../lib/exec/process_state.ts";
import { thisProcess } from "../../../lib/exec/process_state.ts";
import {
  removeOrphanTemps,
  tempPathFor,
  tempWriterOf,
} from "../../../lib/store/file/temp_files.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-temps-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("file store temp files", () => {
  it("are named for the registry and this process, beside the registry", () => {
    const path = tempPathFor("/var/lib/hg/subnets.json");
    assert.equal(dirname(path), "/var/lib/hg");
    const me = thisProcess();
    assert.deepEqual(tempWriterOf("subnets.json", basename(path)), {
      pid: me.pid,
      startTime: me.startTime,
    });
    assert.notEqual(tempPathFor("/var/lib/hg/subnets.json"), path, "random part");
  });

  it("are told apart from other registries' temp files and anything else", () => {
    assert.deepEqual(tempWriterOf("a.json", ".a.json.12.345.0123456789ab.tmp"), {
      pid: 12,
      startTime: "345",
    });
    assert.deepEqual(tempWriterOf("a.json", ".a.json.12.-.0123456789ab.tmp"), { pid: 12 });
    for (
      const name of [
        ".a.json.12.345.0123456789ab.tmp.x",
        ".ab.json.12.345.0123456789ab.tmp", // another registry
        ".a.json.x.12.345.0123456789ab.tmp", // the temp file of registry "a.json.x"
        ".aXjson.12.345.0123456789ab.tmp", // "." in the name is not a wildcard
        ".0123456789ab.tmp", // the older unattributed name: not provably this registry's
        "a.json",
        ".a.json.0.345.0123456789ab.tmp",
      ]
    ) {
      assert.equal(tempWriterOf("a.json", name), undefined, name);
    }
  });

  it("of dead writers and reused PIDs are removed; live writers', other registries' and other files stay", async () => {
    const registry = join(dir, "subnets.json");
    const alive: Record<number, string> = { 100: "5000", 200: "6000" };
    const kernel = (pid: number): ProcessState =>
      pid in alive ? { alive: true, startTime: alive[pid] } : { alive: false };
    const files = {
      dead: ".subnets.json.300.7000.0123456789ab.tmp",
      reused: ".subnets.json.200.1234.0123456789ab.tmp",
      live: ".subnets.json.100.5000.0123456789ab.tmp",
      liveNoStart: ".subnets.json.100.-.0123456789ab.tmp",
      otherRegistry: ".other.json.300.7000.0123456789ab.tmp",
      older: ".0123456789ab.tmp",
      registry: "subnets.json",
      unrelated: "notes.txt",
    };
    for (const name of Object.values(files)) writeFileSync(join(dir, name), "x");
    const removed = await removeOrphanTemps(registry, kernel);
    assert.deepEqual(removed.map((p) => basename(p)).sort(), [files.dead, files.reused].sort());
    assert.deepEqual(
      readdirSync(dir).sort(),
      [
        files.live,
        files.liveNoStart,
        files.otherRegistry,
        files.older,
        files.registry,
        files.unrelated,
      ]
        .sort(),
    );
  });

  it("a directory that cannot be listed removes nothing and throws nothing", async () => {
    assert.deepEqual(await removeOrphanTemps(join(dir, "missing", "subnets.json")), []);
  });
});
