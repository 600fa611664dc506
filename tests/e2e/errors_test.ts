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

const BAD_INPUT: readonly (readonly string[])[] = [
  ["setup", "--subnet", "1.1.1.0/33"],
  ["setup", "--subnet", "1.1.1.5/24"],
  ["setup", "--subnet", "1.1.1"],
  ["setup", "--subnet", "fd00::/64"],
  ["setup", "--subnet", "1.1.1.0/24", "--mtu", "10"],
  ["setup", "--subnet", "10.0.0.0/8"],
  ["peer", "add", "1.1.2.0/24", "--via", "300.1.1.1"],
  ["peer", "add", "1.1.2.0/24", "--via", "fd00:12::7"],
  ["peer", "add", "1.1.2.0/24"],
  ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12", "--dev", "bad/dev"],
  ["peer", "rm", "1.1.7.0/24"],
  ["netns", "add", "bad name"],
  ["netns", "add", "x".repeat(33)],
  ["netns", "add", "web1", "--ip", "1.1.9.9"],
  ["netns", "add", "web1", "--ip", "01.1.1.9"],
  ["netns", "del", "nosuch"],
  ["netns", "frobnicate"],
  ["status", "--bogus"],
  ["completions", "powershell"],
];

describe("bad input and a bad environment (e2e, root)", () => {
  it("bad input: one line, exit 2, nothing changed", async () => {
    await withLab(1, (lab) => {
      const host = `${lab}-h1`;
      const before = netState(host);
      for (const args of BAD_INPUT) {
        const r = hgInWith(host, [], args);
        assert.equal(r.code, 2, `hg ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, `hg ${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /^hg: /);
        assert.equal(r.stdout, "");
      }
      assert.equal(netState(host), before);
    });
  });

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

  it("help and version exit 0; an unknown command exits 2", () => {
    assert.equal(hg(["--help"]).code, 0);
    assert.match(hg(["peer", "add", "--help"]).stdout, /--via <address>/);
    assert.match(hg(["--version"]).stdout, /^\d+\.\d+\.\d+/);
    const r = hg(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });
});
