import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hgIn, run, withLab } from "./harness.ts";

const natRules = (host: string) =>
  run("nsenter", [`--net=/run/netns/${host}`, "iptables", "-w", "-t", "nat", "-S", "POSTROUTING"])
    .stdout.split("\n").filter((l) => l.startsWith("-A "));

describe("masquerade (e2e, root)", () => {
  it("adds one marked rule, plans nothing the second time, and teardown removes it", async () => {
    await withLab(1, (lab) => {
      const host = `${lab}-h1`;
      const args = [
        "--json",
        "setup",
        "--subnet",
        "1.1.1.0/24",
        "--masquerade",
        "--network",
        "1.1.0.0/16",
      ];
      const first = JSON.parse(hgIn(host, args).stdout);
      assert.deepEqual(first.commands, [
        "iptables -t nat -A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
      ]);
      assert.deepEqual(natRules(host), [
        "-A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
      ]);
      assert.deepEqual(JSON.parse(hgIn(host, args).stdout).commands, []);
      assert.equal(hgIn(host, ["teardown"]).code, 0);
      assert.deepEqual(natRules(host), []);
    });
  });

  it("refuses --masquerade without --network (exit 2)", async () => {
    await withLab(1, (lab) => {
      const r = hgIn(`${lab}-h1`, ["setup", "--subnet", "1.1.1.0/24", "--masquerade"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--masquerade needs --network/);
      assert.deepEqual(natRules(`${lab}-h1`), []);
    });
  });
});
