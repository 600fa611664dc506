/**
 * A test that needs a tool hg does not ship is skipped on a developer's machine without it, and
 * fails the run under CI, which installs it (tests/support/tools.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { skipUnlessInstalled } from "../../support/tools.ts";

describe("tools the tests need", () => {
  it("missing: a skip with the reason off CI, an error under CI", () => {
    assert.equal(
      skipUnlessInstalled("hg-no-such-tool", ["--version"], "apt-get install x", {}),
      "hg-no-such-tool is not installed (apt-get install x)",
    );
    for (const env of [{ CI: "true" }, { HG_CI: "1" }]) {
      assert.throws(
        () => skipUnlessInstalled("hg-no-such-tool", ["--version"], "apt-get install x", env),
        /hg-no-such-tool is not installed .*CI does not skip tests/,
      );
    }
  });

  it("present: no skip, under CI or not", () => {
    assert.equal(skipUnlessInstalled("sh", ["-c", "exit 0"], "", { CI: "true" }), false);
    assert.equal(skipUnlessInstalled("sh", ["-c", "exit 0"], "", {}), false);
  });
});
