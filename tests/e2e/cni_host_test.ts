/**
 * The host side of hg's CNI mode, as an operator meets it: `hg cni install` (idempotent, dry run,
 * bad input), the installed file answering a runtime, and runtime containers next to hg's own in
 * `netns ls`, `status` and `teardown` (refused while they run, `--force` cuts them off, nothing
 * else of the host goes). Each test uses namespaces and directories of its own.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hg, hgIn, netState, pings, run } from "./harness.ts";

/** A "host" namespace with hg's bridge (hg setup), a scratch dir, and a private lock dir. */
async function withHost(body: (host: string, dir: string) => void | Promise<void>) {
  const host = `hgch${Math.random().toString(36).slice(2, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), "hg-cni-host-"));
  const pods = [`${host}-p1`, `${host}-p2`];
  try {
    for (const ns of [host, ...pods]) assert.equal(run("ip", ["netns", "add", ns]).code, 0);
    const setup = hgIn(host, ["setup", "--subnet", "1.1.1.0/24"], env(dir));
    assert.equal(setup.code, 0, setup.stderr);
    await body(host, dir);
  } finally {
    for (const ns of [...pods, `${host}-c1`, host]) run("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const env = (dir: string) => ({ HG_RUN_DIR: join(dir, "run") });

/** Runs the installed plugin in `host` as a runtime would (`more`: network config fields). */
function plugin(
  host: string,
  dir: string,
  command: string,
  pod: string,
  name: string,
  more: Record<string, unknown> = {},
) {
  return spawnSync("nsenter", [`--net=/run/netns/${host}`, join(dir, "bin", "hg")], {
    input: JSON.stringify({ cniVersion: "1.0.0", name: "hg", type: "hg", ...more }),
    encoding: "utf8",
    cwd: "/",
    env: {
      ...process.env,
      ...env(dir),
      CNI_COMMAND: command,
      CNI_CONTAINERID: `${pod}0123456789abcdef`.replace(/[^a-z0-9]/g, "0"),
      CNI_NETNS: `/run/netns/${pod}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin",
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${name}`,
    },
  });
}

describe("hg cni install and runtime containers on the host (e2e, root)", () => {
  it("install writes the plugin and the conflist once; a dry run and bad input write nothing", async () => {
    await withHost((_host, dir) => {
      const bin = join(dir, "bin");
      const conf = join(dir, "net.d");
      const args = ["cni", "install", "--bin-dir", bin, "--conf-dir", conf];
      const dry = hg(["--dry-run", ...args]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /would write .*\/bin\/hg/);
      assert.ok(!existsSync(bin) && !existsSync(conf), "a dry run writes nothing");
      for (
        const bad of [
          ["--bin-dir", "relative/bin"],
          ["--name", "no spaces"],
          ["--bridge", "a/b"],
          ["--cni-version", "0.3.1"],
        ]
      ) {
        const r = hg(["cni", "install", "--conf-dir", conf, "--bin-dir", bin, ...bad]);
        assert.equal(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.ok(!existsSync(conf), `${bad.join(" ")} wrote nothing`);
      }
      const first = hg(["--json", ...args]);
      assert.equal(first.code, 0, first.stderr);
      const report = JSON.parse(first.stdout);
      assert.equal(report.changed, true);
      assert.equal(report.writes.length, 2);
      assert.equal(report.conflist, join(conf, "10-hg.conflist"));
      const list = JSON.parse(readFileSync(report.conflist, "utf8"));
      assert.equal(list.name, "hg");
      assert.deepEqual(list.plugins[0], { type: "hg", bridge: "cni0" });
      // Debian's plugins are installed for the tests: portmap follows hg in the chain.
      assert.equal(list.plugins[1]?.type, "portmap");
      assert.deepEqual(list, JSON.parse(hg(["cni", "conflist"]).stdout), "conflist prints it");
      assert.ok((statSync(join(bin, "hg")).mode & 0o111) !== 0, "the plugin is executable");
      const again = hg(["--json", ...args]);
      assert.equal(JSON.parse(again.stdout).changed, false, "a second install writes nothing");
      const version = spawnSync(join(bin, "hg"), [], {
        input: '{"cniVersion":"1.0.0"}',
        encoding: "utf8",
        env: { ...process.env, CNI_COMMAND: "VERSION" },
      });
      assert.equal(version.status, 0, version.stderr);
      assert.ok(JSON.parse(version.stdout).supportedVersions.includes("1.1.0"));
    });
  });

  it("runtime containers are listed beside hg's own; teardown refuses them, --force cuts them off", async () => {
    await withHost((host, dir) => {
      assert.equal(
        hg(["cni", "install", "--bin-dir", join(dir, "bin"), "--conf-dir", dir]).code,
        0,
      );
      // hg's own container named like a runtime's: the two never mix up.
      assert.equal(hgIn(host, ["netns", "add", `${host}-c1`], env(dir)).code, 0);
      for (const [pod, name] of [[`${host}-p1`, "web"], [`${host}-p2`, `${host}-c1`]]) {
        const r = plugin(host, dir, "ADD", pod, name);
        assert.equal(r.status, 0, r.stdout + r.stderr);
      }
      const ls = JSON.parse(hgIn(host, ["--json", "netns", "ls"], env(dir)).stdout) as {
        kind: string;
        name: string;
        address: string;
        containerId: string | null;
        netns: string | null;
      }[];
      assert.deepEqual(ls.map((c) => [c.kind, c.name]), [
        ["netns", `${host}-c1`],
        ["cni", `${host}-c1`],
        ["cni", "web"],
      ]);
      assert.equal(new Set(ls.map((c) => c.address)).size, 3, "three addresses");
      assert.equal(ls[2].netns, `/run/netns/${host}-p1`);
      const text = hgIn(host, ["netns", "ls"], env(dir)).stdout;
      assert.match(text, /RUNTIME ID/);
      const before = netState(host);
      const refused = hgIn(host, ["teardown"], env(dir));
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /2 runtime containers \(.*web\) still use hg's network/);
      assert.equal(netState(host), before, "a refused teardown changes nothing");
      assert.ok(pings(`${host}-p1`, "1.1.1.1"), "the runtime's container still works");
      const forced = hgIn(host, ["teardown", "--force"], env(dir));
      assert.equal(forced.code, 0, forced.stderr);
      const links = run("ip", ["-n", host, "-o", "link"]).stdout;
      assert.ok(!/hgc|hgv|cni0/.test(links), links);
      assert.ok(!run("ip", ["netns", "list"]).stdout.includes(`${host}-c1 `), "hg's own went");
      // The runtime's namespaces are the runtime's: they stay, without hg's interface.
      assert.equal(
        run("ip", ["-n", `${host}-p1`, "-o", "link"]).stdout.split("\n").filter(Boolean).length,
        1,
      );
      // The runtime's DEL afterwards finds nothing and succeeds.
      const del = plugin(host, dir, "DEL", `${host}-p1`, "web");
      assert.equal(del.status, 0, del.stdout);
    });
  });

  it("ipMasq adds hg's one masquerade rule for the subnet, hairpinMode sets the port's hairpin", async () => {
    await withHost((host, dir) => {
      assert.equal(
        hg(["cni", "install", "--bin-dir", join(dir, "bin"), "--conf-dir", dir]).code,
        0,
      );
      const nat = () =>
        run("nsenter", [`--net=/run/netns/${host}`, "iptables", "-t", "nat", "-S", "POSTROUTING"])
          .stdout.split("\n").filter((l) => l.includes("--comment hg"));
      const more = { ipMasq: true, hairpinMode: true };
      for (const [pod, name] of [[`${host}-p1`, "web"], [`${host}-p2`, "db"]]) {
        const r = plugin(host, dir, "ADD", pod, name, more);
        assert.equal(r.status, 0, r.stdout + r.stderr);
      }
      assert.deepEqual(nat(), [
        "-A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.1.0/24 -m comment --comment hg -j MASQUERADE",
      ]);
      const ports = JSON.parse(
        run("ip", ["-n", host, "-d", "-j", "link", "show", "master", "cni0"])
          .stdout,
      ) as { ifname: string; linkinfo?: { info_slave_data?: { hairpin?: boolean } } }[];
      assert.equal(ports.length, 2);
      assert.ok(ports.every((p) => p.linkinfo?.info_slave_data?.hairpin === true), "hairpin on");
      // DEL leaves the host's rule to the other containers; teardown removes it.
      assert.equal(plugin(host, dir, "DEL", `${host}-p1`, "web").status, 0);
      assert.equal(nat().length, 1);
      assert.equal(hgIn(host, ["teardown", "--force"], env(dir)).code, 0);
      assert.deepEqual(nat(), []);
    });
  });
});
