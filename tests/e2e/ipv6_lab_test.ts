/**
 * IPv6-only and dual-stack labs (`hg lab up --ipv6`, `--dual-stack`) of 3 hosts: on the JSON
 * file, on etcd with agents, and (dual-stack) without a registry. In each: every container
 * pings every other in each family the lab has (ping -6, and -4 when dual-stack); the first
 * echo between containers, the lab's own check, comes back in under 100 ms (DAD is off in the
 * hosts before their links are made, so nothing waits for a tentative address); running it
 * again changes nothing; and hg's routes of both families go with the host (teardown, or an
 * agent leaving). Odd but fine: a host whose lease names an IPv6 address given with
 * --public-ipv6 (a second one on its uplink, not the one hg would find), a second container
 * added by hand, a host added to a running dual-stack lab. A lab of other families is refused,
 * and bad flag combinations are one line, exit 2, nothing made. Last, an IPv6-only network
 * built host by host with hg subnet config / setup / netns add / peer sync (no lab code), on
 * hosts with no IPv4 address at all.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, it } from "node:test";
import { assertOneLine, hg, hgIn, ipJson, labName, netnsList, run, sh, within } from "./harness.ts";

/** The lab's JSON answer to `lab up` and `lab status` (the parts checked here). */
interface LabDoc {
  family: string;
  reachability: { from: string; to: string; address: string; ok: boolean; rttMs?: number }[];
}

/** One ping (-4 or -6) from a container: whether it was answered, and the echo's rtt. */
function ping(from: string, to: string): { ok: boolean; rttMs?: number } {
  const family = to.includes(":") ? "-6" : "-4";
  const r = run("nsenter", [
    `--net=/run/netns/${from}`,
    "ping",
    family,
    "-n",
    "-c",
    "1",
    "-W",
    "1",
    to,
  ]);
  const rtt = /time=([\d.]+) ms/.exec(r.stdout);
  return r.code === 0 ? { ok: true, rttMs: rtt ? Number(rtt[1]) : undefined } : { ok: false };
}

/** hg's routes (protocol 104) of one family in a namespace, as "DST via GATEWAY". */
const hgRoutes = (netns: string, family: 4 | 6) =>
  (ipJson(netns, [`-${family}`, "route", "show", "proto", "104"]) as {
    dst: string;
    gateway: string;
  }[]).map((r) => `${r.dst} via ${r.gateway}`).sort();

/** What `hg status --json` says of a host (the parts checked here). */
interface HostStatus {
  bridge: { present: boolean; subnet: string | null; ipv6Subnet: string | null };
  forwarding6: boolean;
  containers: { name: string; address: string; ipv6Address: string | null }[];
}

/** `hg status --json` of a host. */
function status(host: string): HostStatus {
  const r = hgIn(host, ["status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as HostStatus;
}

/**
 * `hg lab status --json`: every host's status by namespace (one hg process for the lab: each hg
 * run costs a runtime's start), after asserting that its pings all worked.
 */
function labStatus(lab: string): Map<string, HostStatus> {
  const r = hg(["--json", "lab", "status", "--name", lab]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as LabDoc & { hosts: { netns: string; status: HostStatus }[] };
  assert.ok(doc.reachability.every((p) => p.ok), JSON.stringify(doc.reachability));
  return new Map(doc.hosts.map((h) => [h.netns, h.status]));
}

/** The containers of `statuses` with their addresses of each family (without prefix length). */
function containersOf(statuses: ReadonlyMap<string, HostStatus>) {
  return [...statuses.values()].flatMap((s) =>
    s.containers.map((c) => {
      const all = [c.address, c.ipv6Address].filter((a): a is string => a !== null)
        .map((a) => a.split("/")[0]);
      return {
        name: c.name,
        v4: all.find((a) => !a.includes(":")),
        v6: all.find((a) => a.includes(":")),
      };
    })
  );
}

/** A sysctl of a namespace. */
const sysctl = (netns: string, key: string) =>
  run("nsenter", [`--net=/run/netns/${netns}`, "sysctl", "-n", key]).stdout.trim();

/** Asserts that every container of `statuses` pings every other's address of each family. */
function assertAllPairsPing(
  statuses: ReadonlyMap<string, HostStatus>,
  families: readonly ("v4" | "v6")[],
): void {
  const containers = containersOf(statuses);
  for (const from of containers) {
    for (const to of containers) {
      if (from === to) continue;
      for (const family of families) {
        const address = to[family];
        assert.ok(address, `${to.name} has an IP${family} address`);
        assert.ok(ping(from.name, address).ok, `${from.name} -> ${to.name} ${address}`);
      }
    }
  }
}

/**
 * Builds a lab with `lab up ARGS --json`, runs `body` with its name and answer, and always takes
 * it down, asserting nothing of it is left (namespaces, the lab's directory).
 */
async function withLab(
  args: readonly string[],
  body: (lab: string, up: LabDoc, stderr: string) => void | Promise<void>,
): Promise<void> {
  const lab = labName();
  let failure: unknown;
  try {
    const up = hg(["--json", "lab", "up", "--nodes", "3", "--name", lab, ...args]);
    assert.equal(up.code, 0, `hg lab up ${args.join(" ")}: ${up.stderr}\n${up.stdout}`);
    await body(lab, JSON.parse(up.stdout) as LabDoc, up.stderr);
  } catch (e) {
    failure = e;
  }
  const down = hg(["lab", "down", "--name", lab]);
  const left = netnsList().filter((ns) => ns.startsWith(`${lab}-`));
  if (failure) throw failure;
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(left, [], "lab down leaves no namespace");
  assert.ok(!existsSync(`/run/hg/lab-${lab}`), "lab down removes the lab's directory");
}

/** The registry URL of a lab. */
const storeUrl = (lab: string, store: "file" | "etcd") =>
  store === "file" ? `/run/hg/lab-${lab}/subnets.json` : "etcd://10.0.12.2:2379";

/** What every lab of `family` shows right after `lab up`: the first pings, DAD off, routes. */
function assertFreshLab(lab: string, up: LabDoc, family: "ipv6" | "dual-stack"): string[] {
  const hosts = [1, 2, 3].map((n) => `${lab}-h${n}`);
  const families = family === "ipv6" ? ["v6"] as const : ["v4", "v6"] as const;
  assert.equal(up.family, family);
  // The lab's own check: every ordered pair in each family, nothing pinged before it.
  const v6 = up.reachability.filter((r) => r.address.includes(":"));
  assert.equal(v6.length, 6, JSON.stringify(up.reachability));
  assert.equal(up.reachability.length, 6 * families.length);
  for (const r of up.reachability) {
    assert.ok(r.ok, `${r.from} -> ${r.to} ${r.address}`);
    // A first packet that waited for DAD takes 1-2 s (and a 1 s ping fails).
    assert.ok(r.rttMs !== undefined && r.rttMs < 100, `first echo ${r.rttMs} ms: ${r.address}`);
  }
  const statuses = labStatus(lab);
  for (const [i, host] of hosts.entries()) {
    assert.equal(sysctl(host, "net.ipv6.conf.all.accept_dad"), "0");
    assert.equal(sysctl(host, "net.ipv6.conf.default.accept_dad"), "0");
    const eth0 = ipJson(host, ["-6", "addr", "show", "dev", "eth0", "scope", "global"]) as {
      addr_info: { local?: string; prefixlen: number; tentative?: boolean }[];
    }[];
    assert.deepEqual(
      eth0[0].addr_info.filter((a) => a.local !== undefined).map((a) =>
        `${a.local}/${a.prefixlen}${a.tentative ? " tentative" : ""}`
      ),
      [`fd00:12::1${i + 1}/64`],
    );
    const s = statuses.get(host)!;
    assert.ok(s.forwarding6, `${host} forwards IPv6`);
    // A route per peer in each family the lab has, via the peer's address of that family.
    const others = [1, 2, 3].filter((n) => n !== i + 1);
    assert.deepEqual(
      hgRoutes(host, 6).map((r) => r.split(" via ")[1]).sort(),
      others.map((n) => `fd00:12::1${n}`),
    );
    assert.deepEqual(
      hgRoutes(host, 4).map((r) => r.split(" via ")[1]).sort(),
      family === "ipv6" ? [] : others.map((n) => `10.0.12.1${n}`),
    );
    if (family === "ipv6") {
      assert.ok(s.bridge.subnet?.startsWith("fd00:1:"), `${host}: ${s.bridge.subnet}`);
      assert.equal(s.bridge.ipv6Subnet, null);
    } else {
      assert.ok(s.bridge.subnet?.startsWith("1.1."), `${host}: ${s.bridge.subnet}`);
      assert.ok(s.bridge.ipv6Subnet?.startsWith("fd00:1:"), `${host}: ${s.bridge.ipv6Subnet}`);
    }
  }
  assertAllPairsPing(statuses, families);
  if (family === "ipv6") {
    assert.ok(containersOf(statuses).every((c) => c.v4 === undefined), "no IPv4 in containers");
  }
  return hosts;
}

/** `lab up` again: it plans no plumbing and starts no agent, and every hg in it changes nothing. */
function assertLabUpAgainChangesNothing(lab: string, args: readonly string[]): void {
  const dry = hg(["--json", "--dry-run", "lab", "up", "--nodes", "3", "--name", lab, ...args]);
  assert.equal(dry.code, 0, dry.stderr);
  const commands = JSON.parse(dry.stdout).commands as string[];
  assert.deepEqual(commands.filter((c) => /^ip |sysctl|hg agent/.test(c)), [], commands.join("\n"));
  const again = hg(["lab", "up", "--nodes", "3", "--name", lab, ...args]);
  assert.equal(again.code, 0, again.stderr);
  const ran = again.stderr.split("\n").filter((l) => /^\S+: hg /.test(l));
  assert.ok(ran.length > 0, again.stderr);
  for (const line of ran) assert.match(line, /# nothing to do/, line);
}

/** After teardown (or an agent gone for good), a host has no hg route of either family. */
function assertNoHgRoutes(host: string): void {
  assert.deepEqual(hgRoutes(host, 6), [], `${host}: ip -6 route show proto 104`);
  assert.deepEqual(hgRoutes(host, 4), [], `${host}: ip route show proto 104`);
}

describe("IPv6 labs (e2e, root)", () => {
  it("IPv6-only on the file store: pings, first echo, idempotent, a second container, teardown", async () => {
    const args = ["--ipv6", "--store", "file"];
    await withLab(args, (lab, up) => {
      const hosts = assertFreshLab(lab, up, "ipv6");
      // Without --ipv6: the lab keeps the families it was made with.
      assertLabUpAgainChangesNothing(lab, ["--store", "file"]);
      const url = storeUrl(lab, "file");
      for (const h of hosts) {
        const sync = hgIn(h, ["--json", "peer", "sync", "--store", url, "--node", h]);
        assert.equal(sync.code, 0, sync.stderr);
        assert.deepEqual(JSON.parse(sync.stdout).commands, [], `${h}: peer sync again`);
      }
      // A second container on h1, made by hand: it reaches the others and they it, and the
      // lab's status pings every pair of the four containers.
      const c2 = `${lab}-h1-c2`;
      const add = hgIn(hosts[0], ["--json", "netns", "add", c2]);
      assert.equal(add.code, 0, add.stderr);
      assert.match(JSON.parse(add.stdout).address, /^fd00:1:0:[0-9a-f]+::3\/64$/);
      const st = hg(["--json", "lab", "status", "--name", lab]);
      assert.equal(st.code, 0, st.stderr);
      const doc = JSON.parse(st.stdout) as LabDoc;
      assert.equal(doc.reachability.length, 12);
      assert.ok(doc.reachability.every((r) => r.ok && r.address.includes(":")));
      assertAllPairsPing(labStatus(lab), ["v6"]);
      for (const h of hosts) {
        const down = hgIn(h, ["teardown", "--force"]);
        assert.equal(down.code, 0, down.stderr);
        assertNoHgRoutes(h);
        assert.equal(run("ip", ["-n", h, "link", "show", "cni0"]).code, 1, `${h}: cni0 is gone`);
        const again = hgIn(h, ["teardown", "--force"]);
        assert.match(again.stdout, /^nothing to do/, `${h}: teardown again`);
      }
      assert.ok(!netnsList().includes(c2), "teardown removed the container made by hand");
    });
  });

  it("dual-stack on the file store: pings, idempotent, --public-ipv6 given, another family refused, teardown", async () => {
    await withLab(["--dual-stack", "--store", "file"], (lab, up) => {
      const hosts = assertFreshLab(lab, up, "dual-stack");
      assertLabUpAgainChangesNothing(lab, ["--dual-stack", "--store", "file"]);
      const url = storeUrl(lab, "file");
      const identity = (n: number) => [
        "--store",
        url,
        "--node",
        hosts[n - 1],
        "--public-ip",
        `10.0.12.1${n}`,
        "--subnet-file",
        `/run/hg/lab-${lab}/${hosts[n - 1]}.env`,
      ];
      const setup = hgIn(hosts[0], ["--json", "setup", ...identity(1)]);
      assert.equal(setup.code, 0, setup.stderr);
      assert.equal(JSON.parse(setup.stdout).changed, false, "setup again changes nothing");
      // h3's lease names an IPv6 address given, not found: a second one on its uplink.
      sh(hosts[2], "ip addr add fd00:12::33/64 dev eth0");
      const given = hgIn(hosts[2], [
        "--json",
        "setup",
        ...identity(3),
        "--public-ipv6",
        "fd00:12::33",
      ]);
      assert.equal(given.code, 0, given.stderr);
      assert.equal(JSON.parse(given.stdout).lease.publicIpv6, "fd00:12::33");
      for (const h of hosts.slice(0, 2)) {
        const sync = hgIn(h, ["peer", "sync", "--store", url, "--node", h]);
        assert.equal(sync.code, 0, sync.stderr);
        assert.ok(
          hgRoutes(h, 6).some((r) => r.endsWith("via fd00:12::33")),
          `${h} routes h3's IPv6 subnet via the given address: ${hgRoutes(h, 6)}`,
        );
        assert.ok(
          !hgRoutes(h, 6).some((r) => r.endsWith("via fd00:12::13")),
          hgRoutes(h, 6).join(),
        );
        assert.ok(hgRoutes(h, 4).some((r) => r.endsWith("via 10.0.12.13")), "IPv4 as before");
      }
      assertAllPairsPing(labStatus(lab), ["v4", "v6"]);
      // The lab keeps its families: IPv6-only is refused, and nothing changes.
      const other = hg(["lab", "up", "--nodes", "3", "--name", lab, "--ipv6", "--store", "file"]);
      assert.equal(other.code, 1, other.stderr);
      assert.match(other.stderr, /is dual-stack, not IPv6-only: "hg lab down --name/);
      const st = hg(["lab", "status", "--name", lab]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /1\.1\.\d+\.0\/24 fd00:1:0:[0-9a-f]+::\/64/);
      assert.match(st.stdout, /FORWARDING/);
      for (const h of hosts) {
        const down = hgIn(h, ["teardown", "--force"]);
        assert.equal(down.code, 0, down.stderr);
        assertNoHgRoutes(h);
        assert.equal(run("ip", ["-n", h, "link", "show", "cni0"]).code, 1, `${h}: cni0 is gone`);
      }
    });
  });

  it("dual-stack without a registry: a peer route per family, idempotent", async () => {
    await withLab(["--dual-stack"], (lab, up) => {
      const hosts = assertFreshLab(lab, up, "dual-stack");
      assert.deepEqual(hgRoutes(hosts[0], 6), [
        "fd00:1:0:2::/64 via fd00:12::12",
        "fd00:1:0:3::/64 via fd00:12::13",
      ]);
      assertLabUpAgainChangesNothing(lab, []);
    });
  });

  for (const family of ["ipv6", "dual-stack"] as const) {
    it(`${family} on etcd with agents: pings, idempotent, an agent leaving takes its routes of both families`, async () => {
      await withLab([`--${family}`, "--store", "etcd", "--agent"], async (lab, up) => {
        const hosts = assertFreshLab(lab, up, family);
        assertLabUpAgainChangesNothing(lab, ["--store", "etcd", "--agent"]);
        const families = family === "ipv6" ? ["v6"] as const : ["v4", "v6"] as const;
        if (family === "dual-stack") {
          // A host added to the running lab gets both families, and everyone routes to it.
          const add = hg(["lab", "add-node", "--name", lab]);
          assert.equal(add.code, 0, add.stderr);
          const h4 = `${lab}-h4`;
          assert.equal(sysctl(h4, "net.ipv6.conf.default.accept_dad"), "0");
          assertAllPairsPing(labStatus(lab), families);
          for (const h of hosts) assert.equal(hgRoutes(h, 6).length, 3, `${h} routes to h4`);
        }
        // h1's agent leaves (SIGTERM, --release-on-exit): its routes go, and the others' to it.
        const pid = Number(readFileSync(`/run/hg/lab-${lab}/${hosts[0]}.agent.pid`, "utf8"));
        process.kill(pid, "SIGTERM");
        await within(10_000, () => !existsSync(`/proc/${pid}`), "h1's agent exits");
        assertNoHgRoutes(hosts[0]);
        const peers = family === "ipv6" ? 1 : 2;
        await within(
          10_000,
          () => hgRoutes(hosts[1], 6).length === peers && hgRoutes(hosts[2], 6).length === peers,
          "the others drop h1's IPv6 route",
        );
        for (const h of hosts.slice(1)) {
          assert.ok(
            !hgRoutes(h, 6).some((r) => r.endsWith("via fd00:12::11")),
            hgRoutes(h, 6).join(),
          );
          assert.ok(
            !hgRoutes(h, 4).some((r) => r.endsWith("via 10.0.12.11")),
            hgRoutes(h, 4).join(),
          );
        }
        const down = hgIn(hosts[0], ["teardown", "--force"]);
        assert.equal(down.code, 0, down.stderr);
        assertNoHgRoutes(hosts[0]);
        assert.equal(run("ip", ["-n", hosts[0], "link", "show", "cni0"]).code, 1, "cni0 is gone");
      });
    });
  }

  it("bad flag combinations are one line, exit 2, and make nothing", () => {
    const lab = labName();
    for (
      const [args, what] of [
        [["--ipv6", "--segments", "2"], /--ipv6 needs one segment, not --segments 2/],
        [
          ["--dual-stack", "--backend", "vxlan"],
          /--dual-stack needs the host-gw backend.*IPv4 only/,
        ],
        [["--ipv6", "--dual-stack"], /give --ipv6 .* or --dual-stack .*, not both/],
      ] as const
    ) {
      assertOneLine(hg(["lab", "up", "--name", lab, ...args]), 2, what);
      assert.deepEqual(netnsList().filter((ns) => ns.startsWith(`${lab}-`)), []);
      assert.ok(!existsSync(`/run/hg/lab-${lab}`), "no lab directory");
    }
  });
});

describe("an IPv6-only network built host by host (e2e, root)", () => {
  it("subnet config, setup --iface, netns add, peer sync: pings, first echo, idempotent, teardown", () => {
    const p = labName();
    const sw = `${p}-sw`;
    const hosts = [1, 2, 3].map((n) => `${p}-h${n}`);
    const dir = mkdtempSync(`${tmpdir()}/hg-ipv6-`);
    const store = `${dir}/subnets.json`;
    try {
      // A switch namespace and three hosts with only an IPv6 address; DAD off before any link.
      for (const ns of [sw, ...hosts]) {
        assert.equal(run("ip", ["netns", "add", ns]).code, 0);
        sh(ns, "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        sh(ns, "ip link set lo up");
      }
      sh(sw, "ip link add br0 type bridge && ip link set br0 up");
      for (const [i, h] of hosts.entries()) {
        sh(sw, `ip link add p${i + 1} type veth peer name eth0 netns ${h}`);
        sh(sw, `ip link set p${i + 1} master br0 up`);
        sh(h, `ip addr add fd00:12::1${i + 1}/64 dev eth0 && ip link set eth0 up`);
      }
      const hgOk = (h: string, args: readonly string[]) => {
        const r = hgIn(h, ["--json", ...args]);
        assert.equal(r.code, 0, `${h}: hg ${args.join(" ")}: ${r.stderr}`);
        return JSON.parse(r.stdout);
      };
      const config = hgOk(hosts[0], [
        "subnet",
        "config",
        "--store",
        store,
        "--network",
        "fd00:1::/56",
      ]);
      // flannel's fields of an IPv6-only network, IPv6's default /64 subnets.
      assert.equal(config.config.EnableIPv4, false);
      assert.equal(config.config.IPv6Network, "fd00:1::/56");
      assert.equal(config.config.IPv6SubnetLen, 64);
      const setupArgs = (h: string) => [
        "setup",
        "--store",
        store,
        "--iface",
        "eth0",
        "--node",
        h,
        "--subnet-file",
        `${dir}/${h}.env`,
      ];
      for (const h of hosts) {
        const s = hgOk(h, setupArgs(h));
        assert.match(s.subnet, /^fd00:1:0:[0-9a-f]+::\/64$/);
        assert.equal(s.ipv6Subnet, null, "IPv6-only: the IPv6 subnet is the primary one");
        assert.equal(s.lease.publicIp, `fd00:12::1${hosts.indexOf(h) + 1}`, "found on --iface");
        hgOk(h, ["netns", "add", `${h}-c1`]);
      }
      for (const h of hosts) hgOk(h, ["peer", "sync", "--store", store, "--node", h]);
      // The first echo between containers (nothing pinged before) does not wait for DAD.
      const firsts: number[] = [];
      for (const from of hosts) {
        for (const to of hosts.filter((h) => h !== from)) {
          const r = ping(`${from}-c1`, status(to).containers[0].address.split("/")[0]);
          assert.ok(r.ok && r.rttMs !== undefined, `${from}-c1 -> ${to}-c1`);
          firsts.push(r.rttMs!);
        }
      }
      assert.ok(firsts.every((ms) => ms < 100), `first echoes: ${firsts.join(", ")} ms`);
      for (const h of hosts) {
        assert.equal(hgRoutes(h, 6).length, 2, `${h}: a route to each other host`);
        assert.deepEqual(hgRoutes(h, 4), []);
        // Everything again: nothing to do.
        assert.equal(hgOk(h, setupArgs(h)).changed, false, `${h}: setup again`);
        assert.equal(hgOk(h, ["netns", "add", `${h}-c1`]).changed, false, `${h}: netns add again`);
        assert.deepEqual(
          hgOk(h, ["peer", "sync", "--store", store, "--node", h]).commands,
          [],
          `${h}: peer sync again`,
        );
      }
      for (const h of hosts) {
        hgOk(h, ["teardown", "--force"]);
        assertNoHgRoutes(h);
        assert.equal(run("ip", ["-n", h, "link", "show", "cni0"]).code, 1, `${h}: cni0 is gone`);
        assert.ok(!netnsList().includes(`${h}-c1`), `${h}: its container is gone`);
      }
    } finally {
      for (const ns of netnsList().filter((ns) => ns.startsWith(`${p}-`))) {
        run("ip", ["netns", "del", ns]);
      }
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(netnsList().filter((ns) => ns.startsWith(`${p}-`)), []);
  });
});
