import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hg, hgArgv, netState, run, withLab } from "./harness.ts";

/** hg run inside a lab host with extra options for nsenter's child. */
function hgInWith(
  host: string,
  prefix: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
) {
  return run("/usr/bin/nsenter", [
    `--net=/run/netns/${host}`,
    "--",
    ...prefix,
    ...hgArgv(),
    ...args,
  ], env);
}

// Bad input (exit 2, one line, nothing changed) is the table of tests/binary/bad_input_test.ts.
describe("a bad environment (e2e, root)", () => {
  it("not root, or no `ip`: one line, exit 1, nothing changed", async () => {
    await withLab(1, (lab) => {
      const host = `${lab}-h1`;
      const before = netState(host);
      const asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const notRoot = hgInWith(
        host,
        asNobody,
        ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"],
        {
          HOME: "/tmp",
          DENO_DIR: process.env.HG_TEST_DENO_DIR ?? "/tmp/hg-test-deno-dir",
        },
      );
      assert.equal(notRoot.code, 1, notRoot.stderr);
      // From source, deno as nobody first fetches its npm cache into DENO_DIR and says so.
      const said = notRoot.stderr.split("\n").filter((l) => l && !l.includes("Download"));
      assert.deepEqual(said, [
        "hg: hg must run as root to change links, routes and namespaces (try sudo)",
      ]);
      const noIp = hgInWith(host, [], ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12"], {
        PATH: "/nonexistent",
      });
      assert.equal(noIp.code, 1, noIp.stderr);
      assert.match(
        noIp.stderr,
        /^hg: "ip" was not found in PATH: install it \(Debian package iproute2\)/,
      );
      assert.equal(netState(host), before);
    });
  });

  it("help and version exit 0", () => {
    assert.equal(hg(["--help"]).code, 0);
    assert.match(hg(["peer", "add", "--help"]).stdout, /--via <address>/);
    assert.match(hg(["--version"]).stdout, /^\d+\.\d+\.\d+/);
  });
});
