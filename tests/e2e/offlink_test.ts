import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hgIn, netState, withLab } from "./harness.ts";

describe("off-link gateway (e2e, root)", () => {
  it("is refused with the L2 message, exit 2, and nothing changes", async () => {
    await withLab(1, (lab) => {
      const host = `${lab}-h1`;
      const before = netState(host);
      const r = hgIn(host, ["peer", "add", "1.1.9.0/24", "--via", "10.0.16.7"]);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /gateway 10\.0\.16\.7 is not on a directly connected network: host-gw needs the hosts to share an L2 segment/,
      );
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
      assert.equal(netState(host), before);
    });
  });
});
