/**
 * podman 4 (CNI backend, runc, busybox rootfs) on a dual-stack hg network: `hg lab up
 * --dual-stack` makes two hosts whose cni0 serve 1.1.N.0/24 and an fd00:1:0:N::/64 each, and
 * `hg cni install` puts hg in as the network's plugin (the conflist asks nothing about
 * families). Two containers on h1 and one on h2: each gets an address of each family from hg
 * (podman reports both), they ping each other over IPv6 and IPv4 on one host and across hosts,
 * `hg status --json` shows their IPv6 addresses, and `podman rm` (DEL) takes them away.
 * Run against the compiled binary: `deno task compile && deno task test:runtime`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAddress } from "../../lib/net/address.ts";
import { parsePrefix, prefixContains } from "../../lib/net/prefix.ts";
import { hg, hgArgv, ipJson, type Run, withLab } from "../e2e/harness.ts";
import { type PodmanHost, withPodman } from "../support/podman.ts";
import { skipUnlessInstalled } from "../support/tools.ts";

const skip = skipUnlessInstalled("podman", ["--version"], "apt-get install podman") ||
  skipUnlessInstalled("runc", ["--version"], "apt-get install runc") ||
  skipUnlessInstalled("busybox", ["true"], "apt-get install busybox-static");

interface Status {
  bridge: { subnet: string; ipv6Subnet: string | null };
  containers: {
    kind: string;
    containerId?: string;
    address: string;
    ipv6Address: string | null;
  }[];
}

const hgAt = (p: PodmanHost, args: readonly string[]): Run => p.enter([...hgArgv(), ...args]);

function statusAt(p: PodmanHost): Status {
  const r = hgAt(p, ["status", "--json"]);
  assert.equal(r.code, 0, `hg status on ${p.labHost}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const bare = (cidr: string) => cidr.split("/")[0];

/** Pings of `family` from a container; asserts every echo was answered. */
function assertPings(p: PodmanHost, from: string, family: 4 | 6, to: string, count = 2): void {
  // busybox ping: -4/-6 pick the family; -A is not there, -i is whole seconds: count stays small.
  const r = p.exec(from, ["ping", `-${family}`, "-c", String(count), "-W", "2", to]);
  assert.equal(r.code, 0, `${from} pings ${to}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`${count} packets transmitted, ${count} packets received`));
}

describe("hg as podman's CNI plugin on a dual-stack network (runtime, root)", { skip }, () => {
  it("podman containers get both families from hg and ping each other over IPv6 and IPv4", async () => {
    const cni = mkdtempSync(join(tmpdir(), "hg-cni6-"));
    const [binDir, confDir] = [join(cni, "bin"), join(cni, "net.d")];
    const times: string[] = [];
    try {
      const install = hg(["cni", "install", "--bin-dir", binDir, "--conf-dir", confDir]);
      assert.equal(install.code, 0, `hg cni install: ${install.stderr}`);
      await withLab(
        2,
        async (lab) => {
          const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
          await withPodman([h1, h2], { pluginDir: binDir, confDir }, async ([p1, p2]) => {
            const [s1, s2] = [statusAt(p1), statusAt(p2)];
            assert.ok(s1.bridge.ipv6Subnet && s2.bridge.ipv6Subnet, "the lab is dual-stack");
            const start = Date.now();
            await Promise.all([p1.run("a1", "hg"), p1.run("a2", "hg"), p2.run("b1", "hg")]);
            times.push(`3 podman runs ${Date.now() - start} ms`);
            const [a1, a2, b1] = [p1.inspect("a1"), p1.inspect("a2"), p2.inspect("b1")];
            for (const [c, s] of [[a1, s1], [a2, s1], [b1, s2]] as const) {
              const v4 = c.addresses.hg;
              const v6 = c.ipv6Addresses.hg;
              assert.ok(v4, `podman reports ${c.name}'s IPv4 address`);
              assert.ok(v6, `podman reports ${c.name}'s IPv6 address: ${JSON.stringify(c)}`);
              assert.ok(prefixContains(parsePrefix(s.bridge.subnet), parseAddress(bare(v4))));
              assert.ok(prefixContains(parsePrefix(s.bridge.ipv6Subnet!), parseAddress(bare(v6))));
            }
            assert.notEqual(a1.ipv6Addresses.hg, a2.ipv6Addresses.hg);
            // The kernel agrees with what the plugin told podman.
            const eth0 = p1.exec("a1", [
              "ip",
              "-o",
              "-6",
              "addr",
              "show",
              "eth0",
              "scope",
              "global",
            ]);
            assert.ok(eth0.stdout.includes(` inet6 ${a1.ipv6Addresses.hg} `), eth0.stdout);

            // On one host and across hosts, each family.
            assertPings(p1, "a1", 6, bare(a2.ipv6Addresses.hg));
            assertPings(p1, "a2", 6, bare(a1.ipv6Addresses.hg));
            assertPings(p1, "a1", 6, bare(b1.ipv6Addresses.hg));
            assertPings(p2, "b1", 6, bare(a1.ipv6Addresses.hg));
            assertPings(p1, "a1", 4, bare(b1.addresses.hg));
            assertPings(p1, "a1", 4, bare(a2.addresses.hg));

            // hg status sees the runtime containers' IPv6 addresses.
            const listed = statusAt(p1).containers.filter((c) => c.kind === "cni");
            for (const c of [a1, a2]) {
              const entry = listed.find((l) => l.containerId === c.id);
              assert.equal(entry?.address, c.addresses.hg);
              assert.equal(entry?.ipv6Address, c.ipv6Addresses.hg);
            }

            // podman rm: DEL takes the veth and frees both addresses for the next container.
            await p1.rm("a1");
            await p1.run("a3", "hg");
            const a3 = p1.inspect("a3");
            assert.equal(a3.addresses.hg, a1.addresses.hg);
            assert.equal(a3.ipv6Addresses.hg, a1.ipv6Addresses.hg);
            assertPings(p1, "a3", 6, bare(b1.ipv6Addresses.hg), 1);
          });
          for (const h of [h1, h2]) {
            const left = (ipJson(h, ["link"]) as { ifname: string }[])
              .filter((l) => l.ifname.startsWith("hgc"));
            assert.deepEqual(left, [], `no hgc veth left in ${h}`);
          }
        },
        "file",
        false,
        ["--dual-stack"],
      );
    } finally {
      rmSync(cni, { recursive: true, force: true });
      console.log(`podman with hg's plugin, dual-stack: ${times.join(", ")}`);
    }
  });
});
