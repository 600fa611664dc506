/**
 * `hg doctor --no-probe` (the static diagnosis) on real labs (2 hosts, file registry): a healthy
 * lab has no error; then, one scenario per cause, the lab is broken in exactly that way, the ping fails, doctor names that
 * cause first, and running the fix doctor prints makes the ping work again (and doctor clean).
 * With HG_CAPTURE_DIR set, each broken host's snapshot is written there (the unit tests'
 * fixtures in tests/fixtures/doctor/ come from these labs).
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import {
  addUplink,
  containerIp,
  hg,
  hgArgv,
  hgIn,
  hostStatus,
  ipJson,
  pings,
  run,
  sh,
  withLab,
} from "../e2e/harness.ts";

interface Finding {
  id: string;
  severity: string;
  fix: string[];
}
interface Diagnosis {
  ok: boolean;
  verdict: string;
  findings: Finding[];
  path?: { stage: string; text: string }[];
}

const store = (lab: string) => `/run/hg/lab-${lab}/subnets.json`;
const snapshotFile = join(mkdtempSync(join(tmpdir(), "hg-doctor-")), "host.json");

function doctor(lab: string, host: string, args: string[] = []): Diagnosis & { code: number } {
  const r = hgIn(host, [
    "doctor",
    "--json",
    "--no-probe",
    "--store",
    store(lab),
    "--node",
    host,
    ...args,
  ]);
  assert.ok(r.code === 0 || r.code === 1, `doctor exit ${r.code}: ${r.stderr}`);
  const d = JSON.parse(r.stdout) as Diagnosis;
  assert.equal(r.code, d.ok ? 0 : 1, "exit 1 exactly when an error was found");
  return { ...d, code: r.code };
}

/** Runs the fix lines doctor printed (comments skipped) in `host`. */
function applyFix(lab: string, host: string, fix: readonly string[]): void {
  for (const line of fix) {
    if (line.startsWith("#")) continue;
    if (line.startsWith("hg ")) {
      const r = hgIn(host, line.slice(3).split(" "));
      assert.equal(r.code, 0, `${host}: ${line}: ${r.stderr}`);
    } else sh(host, line);
  }
  void lab;
}

function capture(lab: string, host: string, name: string): void {
  const dir = process.env.HG_CAPTURE_DIR;
  if (!dir) return;
  const r = hgIn(host, ["snapshot", "--store", store(lab), "--node", host]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(`${dir}/${name}.json`, r.stdout.replaceAll(lab, "lab"));
}

/**
 * The scenario: `breakIt` in a fresh lab, the ping from h1's container to h2's fails, doctor in
 * `where` (default h1) names `id` first, its fix makes the ping work.
 */
function scenario(
  name: string,
  id: string,
  breakIt: (lab: string) => void,
  options: {
    where?: (lab: string) => string;
    ping?: string[];
    /** The fixture's name, when `id` is not unique among the scenarios. */
    fixture?: string;
  } = {},
) {
  it(`${name}: doctor names ${id} first, and its fix works`, async () => {
    await withLab(2, (lab) => {
      const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
      const where = options.where?.(lab) ?? h1;
      const from = `${lab}-h1-c1`;
      const target = containerIp(h2);
      const ping = () =>
        run("nsenter", [
          `--net=/run/netns/${from}`,
          "ping",
          "-n",
          "-c",
          "1",
          "-W",
          "1",
          ...(options.ping ?? []),
          target,
        ]).code === 0;
      assert.ok(ping(), "the lab works before the break");
      breakIt(lab);
      assert.ok(!ping(), "the break stops the ping");
      capture(lab, where, options.fixture ?? id);
      // On the sending host doctor follows the packet; elsewhere it checks the whole host.
      const d = doctor(lab, where, where === h1 ? ["--to", target, "--from", from] : []);
      assert.equal(d.ok, false, d.verdict);
      assert.equal(d.findings[0].id, id, JSON.stringify(d.findings.map((f) => f.id)));
      // The same host's snapshot, diagnosed elsewhere (the root namespace, no live reads), agrees.
      writeFileSync(
        snapshotFile,
        hgIn(where, ["snapshot", "--store", store(lab), "--node", where]).stdout,
      );
      const offline = hg([
        "doctor",
        "--json",
        "--snapshot",
        snapshotFile,
        ...(where === h1 ? ["--to", target, "--from", from] : []),
      ]);
      assert.equal(offline.code, 1, offline.stderr);
      assert.deepEqual(
        (JSON.parse(offline.stdout) as Diagnosis).findings.map((f) => f.id),
        d.findings.map((f) => f.id),
      );
      applyFix(lab, where, d.findings[0].fix);
      assert.ok(ping(), `the fix (${d.findings[0].fix.join("; ")}) makes the ping work`);
      assert.equal(doctor(lab, where).ok, true, "doctor is clean after the fix");
    }, "file");
  });
}

describe("hg doctor (e2e, root)", () => {
  it("bad input: one line, exit 2, nothing read", () => {
    for (
      const [args, message] of [
        [["--to", "1.1.999.1"], /1\.1\.999\.1/],
        [["--to", "fd00::1::2"], /fd00::1::2/],
        [["--snapshot", "/nonexistent/host.json"], /cannot read the snapshot/],
        [["--snapshot", "/etc/hostname"], /is not JSON/],
        [["--snapshot", "/dev/null", "--store", "/tmp/x.json"], /do not go together/],
      ] as const
    ) {
      const r = hg(["doctor", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });

  it("a healthy lab: exit 0, no error, and lab doctor checks every host and pair", async () => {
    await withLab(2, (lab) => {
      capture(lab, `${lab}-h1`, "healthy");
      for (const h of [`${lab}-h1`, `${lab}-h2`]) {
        const d = doctor(lab, h);
        assert.equal(d.code, 0, d.verdict);
        assert.deepEqual(d.findings, [], "nothing at all to say about a healthy host");
      }
      // The snapshot, diagnosed by an unprivileged user in the root namespace.
      writeFileSync(snapshotFile, hgIn(`${lab}-h1`, ["snapshot", "--store", store(lab)]).stdout);
      chmodSync(dirname(snapshotFile), 0o755);
      chmodSync(snapshotFile, 0o644);
      const asNobody = run("/usr/bin/setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        ...hgArgv(),
        "doctor",
        "--json",
        "--snapshot",
        snapshotFile,
      ], { HOME: "/tmp", DENO_DIR: process.env.HG_TEST_DENO_DIR ?? "/tmp/hg-test-deno-dir" });
      assert.equal(asNobody.code, 0, asNobody.stderr);
      assert.equal(JSON.parse(asNobody.stdout).ok, true);
      // The route doctor works out from the table is the one the kernel picks.
      const target = containerIp(`${lab}-h2`);
      const [kernel] = ipJson(`${lab}-h1`, ["route", "get", target]) as {
        gateway: string;
        dev: string;
      }[];
      const path = doctor(lab, `${lab}-h1`, ["--to", target]).path!;
      assert.match(
        path.find((p) => p.stage === "route")!.text,
        new RegExp(` via ${kernel.gateway.replaceAll(".", "\\.")} dev ${kernel.dev} `),
      );
      const r = hg(["lab", "doctor", "--name", lab, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const results = JSON.parse(r.stdout).results as { ok: boolean; from?: string }[];
      assert.equal(results.length, 4, "2 hosts and 2 ordered container pairs");
      assert.ok(results.every((x) => x.ok));
    }, "file");
  });

  scenario("peer route deleted", "peer-route-missing", (lab) => {
    sh(`${lab}-h1`, `ip route del ${hostStatus(`${lab}-h2`).bridge.subnet}`);
  });

  scenario("forwarding off", "forwarding-off", (lab) => {
    sh(`${lab}-h1`, "sysctl -qw net.ipv4.ip_forward=0");
  });

  scenario("FORWARD policy DROP (iptables, as Docker does)", "firewall-forward-drop", (lab) => {
    sh(`${lab}-h1`, "iptables -P FORWARD DROP");
  }, { fixture: "firewall-iptables" });

  scenario("an nftables forward chain with policy drop", "firewall-forward-drop", (lab) => {
    sh(
      `${lab}-h1`,
      "nft add table inet hgt && nft add chain inet hgt hgfwd " +
        "'{ type filter hook forward priority 0; policy drop; }'",
    );
  }, { fixture: "firewall-nft" });

  scenario("bridge down", "bridge-down", (lab) => {
    sh(`${lab}-h1`, "ip link set cni0 down");
  });

  scenario("veth detached from the bridge", "veth-detached", (lab) => {
    const veth = hostStatus(`${lab}-h1`).containers[0].hostVeth;
    sh(`${lab}-h1`, `ip link set ${veth} nomaster`);
  });

  scenario("bridge without its address", "bridge-no-address", (lab) => {
    sh(`${lab}-h1`, "ip addr flush dev cni0");
  });

  scenario("container without a default route", "container-no-default-route", (lab) => {
    sh(`${lab}-h1`, `ip -n ${lab}-h1-c1 route del default`);
  });

  scenario("route to the wrong host", "route-wrong-host", (lab) => {
    const subnet = hostStatus(`${lab}-h2`).bridge.subnet;
    sh(`${lab}-h1`, `ip route replace ${subnet} via 10.0.12.19 dev eth0 proto 104`);
  });

  scenario("stale route of a host that left", "route-stale", (lab) => {
    // A departed host's narrower route still takes part of h2's subnet, and its gateway does
    // not answer: only then is removing it the fix (a route whose host still answers is a
    // warning that removes nothing: see ok-lease-released in tests/corpus/doctor_static_test.ts).
    const [a, b, c] = hostStatus(`${lab}-h2`).bridge.subnet.split(".");
    sh(`${lab}-h1`, `ip route add ${a}.${b}.${c}.0/25 via 10.0.12.19 dev eth0 proto 104`);
  });

  scenario("uplink MTU shrunk", "mtu-bridge-over-uplink", (lab) => {
    sh(`${lab}-h1`, "ip link set eth0 mtu 1000");
  }, { ping: ["-s", "1200"] });

  scenario(
    "strict rp_filter on a host with two uplinks",
    "rp-filter-strict",
    (lab) => {
      const h2 = `${lab}-h2`;
      // h2 gets a second uplink on the same segment and routes back to h1 through it.
      addUplink(lab, h2, "10.0.12.112", "ul-h2b");
      sh(
        h2,
        `ip route replace ${
          hostStatus(`${lab}-h1`).bridge.subnet
        } via 10.0.12.11 dev eth1 proto 104`,
      );
      sh(h2, "sysctl -qw net.ipv4.conf.all.rp_filter=1");
    },
    { where: (lab) => `${lab}-h2` },
  );

  it("a host moved behind a router: doctor names gateway-off-link, and its fix (routing through the router) works", async () => {
    await withLab(2, (lab) => {
      const [h1, h2, rt] = [`${lab}-h1`, `${lab}-h2`, `${lab}-rt`];
      const target = containerIp(h2);
      try {
        // h2 leaves the segment for 10.0.20.0/24 behind the router rt (10.0.12.1 / 10.0.20.1).
        run("ip", ["netns", "add", rt]);
        run("ip", ["-n", `${lab}-ul`, "link", "set", "ul-h2", "netns", rt]);
        sh(rt, "ip link set lo up && ip addr add 10.0.20.1/24 dev ul-h2 && ip link set ul-h2 up");
        run("ip", [
          "-n",
          rt,
          "link",
          "add",
          "rt0",
          "type",
          "veth",
          "peer",
          "name",
          "ul-rt",
          "netns",
          `${lab}-ul`,
        ]);
        sh(
          rt,
          "ip addr add 10.0.12.1/22 dev rt0 && ip link set rt0 up && sysctl -qw net.ipv4.ip_forward=1",
        );
        run("ip", ["-n", `${lab}-ul`, "link", "set", "ul-rt", "master", "ul0", "up"]);
        sh(h2, "ip addr del 10.0.12.12/22 dev eth0 && ip addr add 10.0.20.12/24 dev eth0");
        sh(h2, "ip route add 10.0.12.0/22 via 10.0.20.1");
        sh(h1, "ip route add 10.0.20.0/24 via 10.0.12.1");
        // Its lease follows it to the new address.
        const moved = hgIn(h2, [
          "subnet",
          "alloc",
          "--store",
          store(lab),
          "--node",
          h2,
          "--public-ip",
          "10.0.20.12",
        ]);
        assert.equal(moved.code, 0, moved.stderr);
        assert.ok(!pings(`${lab}-h1-c1`, target), "host-gw across the router fails");
        capture(lab, h1, "gateway-off-link");

        // Doctor on each side names the router; its fix lines run there, "on ROUTER:" ones on rt.
        const where: Record<string, string> = { "10.0.12.1": rt, "10.0.20.1": rt };
        for (
          const [host, to, from] of [[h1, target, `${lab}-h1-c1`], [
            h2,
            containerIp(h1),
            `${lab}-h2-c1`,
          ]]
        ) {
          const d = doctor(lab, host, ["--to", to, "--from", from]);
          assert.equal(d.findings[0].id, "gateway-off-link", JSON.stringify(d.findings));
          for (const line of d.findings[0].fix) {
            const on = /^# and on ([\d.]+): (ip .*)$/.exec(line);
            if (on && where[on[1]]) sh(where[on[1]], on[2]);
            else if (!line.startsWith("#")) applyFix(lab, host, [line]);
          }
        }
        assert.ok(pings(`${lab}-h1-c1`, target), "routed through the router, the ping works");
        const after = doctor(lab, h1, ["--to", target, "--from", `${lab}-h1-c1`]);
        assert.equal(after.ok, true, after.verdict);
        assert.equal(after.findings[0].id, "gateway-off-link", "still said, as a warning");
        assert.equal(after.findings[0].severity, "warning");
      } finally {
        run("ip", ["netns", "del", rt]);
      }
    }, "file");
  });
});
