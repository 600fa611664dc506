/**
 * hg as a real container runtime's CNI plugin: podman 4 (CNI backend, runc, busybox rootfs)
 * calls the executable `hg cni install` put in place, in two lab hosts (file registry). One lab
 * for the whole story, since each step starts from what the one before left:
 * 1. a container per host: pings both ways, and the receiver's own nft counter sees the
 *    sender's address (no SNAT); `hg status --json` shows each as a runtime container;
 * 2. `podman rm` takes the host-side veth away and frees the address for the next container; a
 *    container that ends by itself is cleaned up by podman's exit command (DEL) the same way;
 * 3. 20 containers started at once on one host get 20 distinct addresses, none of them the
 *    address of the `hg netns add` container, and status lists them all; removed at once, they
 *    leave nothing behind;
 * 4. `hg doctor --from <podman name>` finds a deleted peer route, and is content once the fix it
 *    printed has run; the id prefix and address name the same container.
 * Run against the compiled binary: `deno task compile && deno task test:runtime`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { parseAddress } from "../../lib/net/address.ts";
import { parsePrefix, prefixContains } from "../../lib/net/prefix.ts";
import {
  hg,
  hgArgv,
  hgIn,
  hostStatus,
  ipJson,
  type Run,
  sh,
  within,
  withLab,
} from "../e2e/harness.ts";
import { type ContainerInfo, type PodmanHost, withPodman } from "../support/podman.ts";
import { skipUnlessInstalled } from "../support/tools.ts";

const skip = skipUnlessInstalled("podman", ["--version"], "apt-get install podman") ||
  skipUnlessInstalled("runc", ["--version"], "apt-get install runc") ||
  skipUnlessInstalled("busybox", ["true"], "apt-get install busybox-static");

/** A container in `hg status --json`: hg's own (`kind: "netns"`) or a runtime's (`"cni"`). */
interface StatusContainer {
  kind: "netns" | "cni";
  name: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  address: string;
  hostVeth: string;
  attached: boolean;
  up: boolean;
  present: boolean;
}

/** hg inside a podman host's mount namespace, where podman's netns paths exist. */
const hgAt = (p: PodmanHost, args: readonly string[]): Run => p.enter([...hgArgv(), ...args]);

/** `hg status --json` seen from a podman host's mount namespace. */
function statusAt(p: PodmanHost): { bridge: { subnet: string }; containers: StatusContainer[] } {
  const r = hgAt(p, ["status", "--json"]);
  assert.equal(r.code, 0, `hg status on ${p.labHost}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const runtimeContainers = (p: PodmanHost) => statusAt(p).containers.filter((c) => c.kind === "cni");

/** The host-side veths hg made for runtime containers in a lab host. */
function hgcLinks(host: string): { name: string; master?: string }[] {
  return (ipJson(host, ["link"]) as { ifname: string; master?: string }[])
    .filter((l) => l.ifname.startsWith("hgc"))
    .map((l) => ({ name: l.ifname, master: l.master }));
}

const bare = (cidr: string) => cidr.split("/")[0];

/** Asserts status shows `c` as the runtime container podman made, wired to the bridge. */
function assertListed(p: PodmanHost, status: StatusContainer[], c: ContainerInfo): void {
  const entry = status.find((s) => s.containerId === c.id);
  assert.ok(entry, `${p.labHost}: status lists ${c.name} (${c.id})`);
  assert.equal(entry.kind, "cni");
  assert.equal(entry.name, c.name);
  assert.equal(entry.netns, c.netns);
  assert.equal(entry.ifname, "eth0");
  assert.equal(entry.address, c.addresses.hg);
  assert.match(entry.hostVeth, /^hgc[0-9a-f]{8}$/);
  assert.deepEqual(
    [entry.attached, entry.up, entry.present],
    [true, true, true],
    `${c.name}: attached, up, present`,
  );
  const link = hgcLinks(p.labHost).find((l) => l.name === entry.hostVeth);
  assert.equal(link?.master, "cni0", `${entry.hostVeth} is a port of cni0 in ${p.labHost}`);
}

/**
 * Counts, in `receiver`'s own network namespace, the echo requests whose source is `source`
 * (an nft counter in a table of the test's: the kernel's count, not ping's).
 */
function countEchoesFrom(p: PodmanHost, receiver: ContainerInfo, source: string): () => number {
  const nft = (args: string[]) => p.enter(["nsenter", `--net=${receiver.netns}`, "nft", ...args]);
  const add = nft([
    `add table ip hgtest; add chain ip hgtest in { type filter hook input priority 0; }; ` +
    `add rule ip hgtest in ip saddr ${source} icmp type echo-request counter`,
  ]);
  assert.equal(add.code, 0, `nft in ${receiver.name}: ${add.stderr}`);
  return () => {
    const r = nft(["-j", "list", "chain", "ip", "hgtest", "in"]);
    assert.equal(r.code, 0, r.stderr);
    const rule = JSON.parse(r.stdout).nftables.find((o: { rule?: unknown }) => o.rule).rule;
    return rule.expr.find((e: { counter?: unknown }) => e.counter).counter.packets;
  };
}

/** Pings from a container `count` times; asserts every echo was answered. */
function assertPings(p: PodmanHost, from: string, to: string, count: number): void {
  // -A: the next echo as soon as the reply is in, not a second later.
  const r = p.exec(from, ["ping", "-A", "-c", String(count), "-W", "1", to]);
  assert.equal(r.code, 0, `${from} pings ${to}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`${count} packets transmitted, ${count} packets received`));
}

interface Diagnosis {
  ok: boolean;
  findings: { id: string; severity: string; summary: string; fix: string[] }[];
  path?: { stage: string; text: string }[];
}

/** The ids of a diagnosis's errors. */
const errors = (d: Diagnosis): string[] =>
  d.findings.filter((f) => f.severity === "error").map((f) => f.id);

/** Asserts doctor's path starts at container `c` (its address), whatever `from` named it by. */
function assertStartsAt(d: Diagnosis, from: string, c: ContainerInfo): void {
  const first = d.path?.[0];
  assert.equal(first?.stage, "container");
  assert.ok(
    first?.text.includes(c.addresses.hg),
    `--from ${from} starts at ${c.name} (${c.addresses.hg}): ${first?.text}`,
  );
}

describe("hg as podman's CNI plugin (runtime, root)", { skip }, () => {
  it("connects podman containers across hosts, frees what rm removes, and doctor sees them", async () => {
    const cni = mkdtempSync(join(tmpdir(), "hg-cni-"));
    const [binDir, confDir] = [join(cni, "bin"), join(cni, "net.d")];
    const times: string[] = [];
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      const start = Date.now();
      const result = await f();
      times.push(`${what} ${Date.now() - start} ms`);
      return result;
    };
    try {
      // hg cni install: the plugin executable and the conflist podman reads.
      const install = hg(["--json", "cni", "install", "--bin-dir", binDir, "--conf-dir", confDir]);
      assert.equal(install.code, 0, `hg cni install: ${install.stderr}`);
      const installed = JSON.parse(install.stdout) as { plugin: string; conflist: string };
      assert.equal(installed.plugin, join(binDir, "hg"));
      assert.ok(statSync(installed.plugin).mode & 0o111, "the plugin is executable");
      assert.equal(dirname(installed.conflist), confDir);
      assert.match(installed.conflist, /\.conflist$/);
      const conflist = JSON.parse(readFileSync(installed.conflist, "utf8"));
      assert.equal(conflist.name, "hg");
      assert.equal(conflist.cniVersion, "1.0.0");
      assert.equal(conflist.plugins[0].type, "hg");
      const printed = hg(["cni", "conflist"]);
      assert.equal(printed.code, 0, printed.stderr);
      assert.deepEqual(
        JSON.parse(printed.stdout),
        conflist,
        "hg cni conflist prints what install wrote",
      );

      await withLab(2, async (lab) => {
        const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
        const store = `/run/hg/lab-${lab}/subnets.json`;
        const netnsContainer = hostStatus(h1).containers[0] as StatusContainer;
        const [h2Uplink] = ipJson(h2, ["-4", "addr", "show", "dev", "eth0"]) as {
          addr_info: { local: string }[];
        }[];
        const h2Address = h2Uplink.addr_info[0].local;
        await withPodman([h1, h2], { pluginDir: binDir, confDir }, async ([p1, p2]) => {
          const [subnet1, subnet2] = [statusAt(p1).bridge.subnet, statusAt(p2).bridge.subnet];

          // 1. A container on each host, on the hg network.
          const [id1, id2] = await timed(
            "2 podman runs (one per host, at once)",
            () => Promise.all([p1.run("a1", "hg"), p2.run("b1", "hg")]),
          );
          const [a1, b1] = [p1.inspect("a1"), p2.inspect("b1")];
          assert.deepEqual([a1.id, b1.id], [id1, id2]);
          assert.ok(prefixContains(parsePrefix(subnet1), parseAddress(bare(a1.addresses.hg))));
          assert.ok(prefixContains(parsePrefix(subnet2), parseAddress(bare(b1.addresses.hg))));
          assert.notEqual(a1.addresses.hg, netnsContainer.address);
          // The kernel agrees with what the plugin told podman.
          const eth0 = p1.exec("a1", ["ip", "-o", "-4", "addr", "show", "eth0"]);
          assert.match(eth0.stdout, new RegExp(` inet ${a1.addresses.hg.replaceAll(".", "\\.")} `));
          assertListed(p1, runtimeContainers(p1), a1);
          assertListed(p2, runtimeContainers(p2), b1);
          assert.ok(
            statusAt(p1).containers.some((c) =>
              c.kind === "netns" && c.address === netnsContainer.address && c.present
            ),
            "hg's own container is listed too, as kind netns",
          );

          // Both ways across hosts, and each receiver sees the sender's own address.
          const [a1Ip, b1Ip] = [bare(a1.addresses.hg), bare(b1.addresses.hg)];
          const atB1 = countEchoesFrom(p2, b1, a1Ip);
          const atA1 = countEchoesFrom(p1, a1, b1Ip);
          assertPings(p1, "a1", b1Ip, 3);
          assertPings(p2, "b1", a1Ip, 3);
          assert.equal(atB1(), 3, `b1 counted 3 echo requests from ${a1Ip}: no SNAT`);
          assert.equal(atA1(), 3, `a1 counted 3 echo requests from ${b1Ip}: no SNAT`);
          // Runtime and hg netns containers share the bridge.
          assertPings(p1, "a1", bare(netnsContainer.address), 1);

          // 2. podman rm takes the veth away and frees the address.
          const a1Veth = runtimeContainers(p1).find((c) => c.containerId === a1.id)!.hostVeth;
          await timed("1 podman rm", () => p1.rm("a1"));
          assert.ok(!hgcLinks(h1).some((l) => l.name === a1Veth), `${a1Veth} is gone`);
          const afterRm = runtimeContainers(p1);
          assert.ok(!afterRm.some((c) => c.containerId === a1.id), "a1 is no longer listed");
          assert.ok(!afterRm.some((c) => c.address === a1.addresses.hg), "a1's address is free");
          await p1.run("a2", "hg");
          const a2 = p1.inspect("a2");
          // hg gives the lowest free address (as `hg netns add` does): a1's again.
          assert.equal(a2.addresses.hg, a1.addresses.hg, "the next container gets a1's address");
          assertListed(p1, runtimeContainers(p1), a2);
          const a2Veth = runtimeContainers(p1).find((c) => c.containerId === a2.id)!.hostVeth;
          // A container that ends by itself: podman's exit command (container cleanup) calls DEL.
          const x1 = await p1.run("x1", "hg", ["/bin/true"]);
          await within(10_000, () => !p1.inspect("x1").running, "x1 exits");
          await within(
            10_000,
            () =>
              hgcLinks(h1).length === 1 && !runtimeContainers(p1).some((c) => c.containerId === x1),
            "x1's veth and status entry go when it exits",
          );
          assert.deepEqual(hgcLinks(h1).map((l) => l.name), [a2Veth]);
          await p1.rm("x1");

          // 3. 20 containers at once on one host.
          const names = Array.from({ length: 20 }, (_, i) => `n${String(i + 1).padStart(2, "0")}`);
          await timed(
            "20 podman runs (one host, at once)",
            () => Promise.all(names.map((n) => p1.run(n, "hg"))),
          );
          const many = names.map((n) => p1.inspect(n));
          const addresses = many.map((c) => c.addresses.hg);
          assert.equal(new Set(addresses).size, 20, `20 distinct addresses: ${addresses}`);
          for (const a of addresses) {
            assert.ok(
              prefixContains(parsePrefix(subnet1), parseAddress(bare(a))),
              `${a} in ${subnet1}`,
            );
            assert.notEqual(a, netnsContainer.address, "not the hg netns container's address");
            assert.notEqual(a, a2.addresses.hg, "not a2's address");
          }
          const listed = runtimeContainers(p1);
          assert.equal(listed.length, 21, "status lists the 20 and a2");
          for (const c of many) assertListed(p1, listed, c);
          assert.equal(new Set(listed.map((c) => c.hostVeth)).size, 21, "a veth each");
          await timed(
            "20 podman rm (one host, at once)",
            () => Promise.all(names.map((n) => p1.rm(n))),
          );
          assert.deepEqual(runtimeContainers(p1).map((c) => c.name), ["a2"]);
          assert.deepEqual(hgcLinks(h1).map((l) => l.name), [a2Veth], "only a2's veth is left");

          // 4. doctor from a podman container, by name, with the peer route deleted.
          const doctor = (from: string): Diagnosis & { code: number } => {
            const r = hgAt(p1, [
              "doctor",
              "--json",
              "--from",
              from,
              "--to",
              b1Ip,
              "--store",
              store,
              "--node",
              h1,
            ]);
            assert.ok(r.code === 0 || r.code === 1, `doctor --from ${from}: ${r.code} ${r.stderr}`);
            const d = JSON.parse(r.stdout) as Diagnosis;
            assert.equal(r.code, d.ok ? 0 : 1, "exit 1 exactly when a problem was found");
            return { ...d, code: r.code };
          };
          sh(h1, `ip route del ${subnet2}`);
          assert.notEqual(p1.exec("a2", ["ping", "-c", "1", "-W", "1", b1Ip]).code, 0);
          const broken = doctor("a2");
          assert.equal(broken.code, 1, JSON.stringify(broken.findings));
          // Only the route: doctor found the container and its probe went out of it.
          assert.deepEqual(errors(broken), ["peer-route-missing"], JSON.stringify(broken.findings));
          assertStartsAt(broken, "a2", a2);
          const missing = broken.findings.find((f) => f.id === "peer-route-missing");
          assert.ok(missing, `peer-route-missing in ${JSON.stringify(broken.findings)}`);
          assert.match(missing.summary, new RegExp(subnet2.replaceAll(".", "\\.")));
          assert.deepEqual(missing.fix, [`hg peer add ${subnet2} --via ${h2Address}`]);
          // Doctor's fix, run as printed, brings the route back; doctor is then content.
          const fix = hgIn(h1, missing.fix[0].split(" ").slice(1));
          assert.equal(fix.code, 0, fix.stderr);
          assertPings(p1, "a2", b1Ip, 1);
          for (const from of ["a2", a2.id.slice(0, 12), bare(a2.addresses.hg)]) {
            const fine = doctor(from);
            assert.equal(fine.code, 0, `--from ${from}: ${JSON.stringify(fine.findings)}`);
            assertStartsAt(fine, from, a2);
          }
        });
        // withPodman's close removed every container through the plugin's DEL.
        for (const h of [h1, h2]) {
          assert.deepEqual(hgcLinks(h), [], `no hgc veth left in ${h}`);
          assert.deepEqual(
            (hostStatus(h).containers as StatusContainer[]).filter((c) => c.kind === "cni"),
            [],
            `no runtime container left in ${h}'s status`,
          );
        }
      }, "file");
    } finally {
      rmSync(cni, { recursive: true, force: true });
      console.log(`podman with hg's plugin: ${times.join(", ")}`);
    }
  });
});
