import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hg, pings, withLab } from "./harness.ts";

describe("three-host lab (e2e, root)", () => {
  it("every host's container reaches every other host's container", async () => {
    await withLab(3, (lab) => {
      for (let from = 1; from <= 3; from++) {
        for (let to = 1; to <= 3; to++) {
          if (from === to) continue;
          assert.ok(pings(`${lab}-h${from}-c1`, `1.1.${to}.2`), `h${from} -> h${to}`);
        }
      }
      const status = hg(["--json", "lab", "status", "--name", lab]);
      assert.equal(status.code, 0, status.stderr);
      const doc = JSON.parse(status.stdout);
      assert.equal(doc.hosts.length, 3);
      assert.equal(doc.reachability.length, 6);
      assert.ok(doc.reachability.every((r: { ok: boolean }) => r.ok));
    });
  });
});
