/**
 * `hg doctor` on a small dual-stack host-gw network in namespaces (tests/support/ipv6_lab.ts:
 * two hosts on one segment, fd00:12::11/64 and fd00:12::12/64, bridges fd00:1:N::1/64, one
 * container each; accept_dad=0 before the links are made). One scenario per IPv6 fault: the
 * network is broken in exactly that way, an IPv6 ping from h1's container to h2's fails (IPv4
 * still works), doctor names the fault first, and running the fix doctor printed, inside the
 * namespace, makes the ping work again and doctor clean.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { hg, hgIn, netnsList, sh } from "../e2e/harness.ts";
import {
  buildIpv6Lab,
  IPV6_LAB,
  pingsIn,
  removeIpv6Lab,
  writeIpv6Leases,
} from "../support/ipv6_lab.ts";

interface Finding {
  id: string;
  severity: string;
  summary: string;
  evidence: string[];
  fix: string[];
}
interface Diagnosis {
  ok: boolean;
  status: string;
  verdict: string;
  findings: Finding[];
  probe?: { sent: number; answered: number; stoppedAt?: string };
}

/** hg doctor --json in `host` (exit 0 exactly when fine, 1 on an error). */
function doctor(host: string, args: readonly string[] = []): Diagnosis {
  const r = hgIn(host, ["doctor", "--json", "--node", host, ...args]);
  assert.ok(r.code === 0 || r.code === 1, `doctor exit ${r.code}: ${r.stderr}`);
  const d = JSON.parse(r.stdout) as Diagnosis;
  assert.equal(r.code, d.ok ? 0 : 1, "exit 1 exactly when an error was found");
  return d;
}

/** Runs the fix lines doctor printed (comments skipped) inside `host`. */
function applyFix(host: string, fix: readonly string[]): void {
  const lines = fix.filter((l) => !l.startsWith("#"));
  assert.ok(lines.length > 0, `a fix to run: ${fix.join("; ")}`);
  for (const line of lines) {
    if (line.startsWith("hg ")) {
      const r = hgIn(host, line.slice(3).split(" "));
      assert.equal(r.code, 0, `${host}: ${line}: ${r.stderr}`);
    } else sh(host, line);
  }
}

/** The lab's registry file (per lab, beside the snapshot). */
const storeOf = (p: string) => join(dirname(snapshotFile), `${p}.json`);

/**
 * Builds a fresh lab, with its registry (dual-stack network config by `hg subnet config`, the
 * hosts' leases), runs `body`, and always removes it, asserting nothing is left.
 */
async function withLab(body: (p: string) => void | Promise<void>): Promise<void> {
  const p = `hgd6e${Math.random().toString(36).slice(2, 6).replace(/[^a-z0-9]/g, "a")}`;
  try {
    buildIpv6Lab(p);
    const config = hgIn(`${p}-h1`, [
      "subnet",
      "config",
      "--store",
      storeOf(p),
      "--network",
      "1.1.0.0/16",
      "--subnet-len",
      "24",
      "--ipv6-network",
      "fd00:1::/32",
      "--ipv6-subnet-len",
      "64",
    ]);
    assert.equal(config.code, 0, config.stderr);
    writeIpv6Leases(p, storeOf(p));
    await body(p);
  } finally {
    rmSync(storeOf(p), { force: true });
    removeIpv6Lab(p);
    assert.deepEqual(netnsList().filter((n) => n.startsWith(`${p}-`)), [], "nothing left");
  }
}

const TO = IPV6_LAB.container6(2);
const snapshotFile = join(mkdtempSync(join(tmpdir(), "hg-doctor6-")), "host.json");

/**
 * The scenario: `breakIt`, the IPv6 ping fails (IPv4's still works), doctor in `where` (h1:
 * following the packet from h1's container; h2: the whole host) names `id` first, its fix works.
 */
function scenario(
  name: string,
  id: string,
  where: 1 | 2,
  breakIt: (p: string) => void,
  args: (p: string) => string[] = () => [],
) {
  it(`${name}: doctor names ${id} first, and its fix makes the ping work`, async () => {
    await withLab((p) => {
      const [from, host] = [`${p}-h1-c1`, `${p}-h${where}`];
      assert.ok(pingsIn(from, TO), "the lab works before the break");
      breakIt(p);
      // What the check's ping taught the hosts is forgotten: neighbours are found anew.
      for (const n of [1, 2]) sh(`${p}-h${n}`, "ip -6 neigh flush dev eth0");
      assert.ok(!pingsIn(from, TO), "the break stops the IPv6 ping");
      assert.ok(pingsIn(from, IPV6_LAB.container4(2)), "IPv4 still works");
      const d = doctor(host, args(p));
      assert.equal(d.ok, false, d.verdict);
      assert.equal(d.findings[0].id, id, JSON.stringify(d.findings.map((f) => f.id)));
      assert.equal(d.findings[0].severity, "error");
      // The host's snapshot, diagnosed elsewhere (the root namespace, no live reads), agrees.
      // (the snapshot holds the registry it read: --store goes to it, not to the offline doctor)
      const store = args(p).includes("--store") ? registry(p) : [];
      const snap = hgIn(host, ["snapshot", "--node", host, ...store]);
      assert.equal(snap.code, 0, snap.stderr);
      writeFileSync(snapshotFile, snap.stdout);
      const offlineArgs = args(p).filter((a, i, all) =>
        a !== "--store" && all[i - 1] !== "--store"
      );
      const offline = hg(["doctor", "--json", "--snapshot", snapshotFile, ...offlineArgs]);
      assert.equal(offline.code, 1, offline.stderr);
      assert.deepEqual(
        (JSON.parse(offline.stdout) as Diagnosis).findings.map((f) => f.id),
        d.findings.map((f) => f.id),
      );
      applyFix(host, d.findings[0].fix);
      assert.ok(pingsIn(from, TO), `the fix (${d.findings[0].fix.join("; ")}) makes the ping work`);
      const after = doctor(host, args(p));
      assert.equal(after.ok, true, `doctor is clean after the fix: ${after.verdict}`);
    });
  });
}

const follow = (p: string) => ["--no-probe", "--to", TO, "--from", `${p}-h1-c1`];

/** Doctor with the lab's registry. */
const registry = (p: string) => ["--store", storeOf(p)];

describe("hg doctor on IPv6 (e2e, root)", () => {
  it("the healthy dual-stack lab: fine, whole host and along an IPv6 packet's way", async () => {
    await withLab((p) => {
      assert.ok(pingsIn(`${p}-h1-c1`, TO));
      for (const host of [`${p}-h1`, `${p}-h2`]) {
        const d = doctor(host);
        assert.deepEqual(d.findings, [], `${host}: ${d.verdict}`);
      }
      const d = doctor(`${p}-h1`, follow(p));
      assert.equal(d.ok, true, d.verdict);
      assert.match(d.verdict, /nothing on this host stops packets to fd00:1:2::2/);
    });
  });

  scenario(
    "the IPv6 peer route deleted (the registry has h2's IPv6 subnet)",
    "peer-route-missing",
    1,
    (p) => sh(`${p}-h1`, `ip -6 route del ${IPV6_LAB.subnet6(2)}`),
    registry,
  );

  scenario(
    "the IPv6 peer route via the wrong host",
    "route-wrong-host",
    1,
    (p) =>
      sh(
        `${p}-h1`,
        `ip -6 route replace ${IPV6_LAB.subnet6(2)} via fd00:12::13 dev eth0 proto 104`,
      ),
    (p) => [...registry(p), ...follow(p)],
  );

  scenario(
    "IPv6 disabled on the sending host's bridge (its addresses gone, none can be added)",
    "bridge-no-address",
    1,
    (p) => sh(`${p}-h1`, "sysctl -qw net.ipv6.conf.cni0.disable_ipv6=1"),
    follow,
  );

  scenario(
    "IPv6 forwarding off on the sending host",
    "forwarding-off",
    1,
    (p) => sh(`${p}-h1`, "sysctl -qw net.ipv6.conf.all.forwarding=0"),
    follow,
  );

  scenario(
    "neighbour solicitations dropped by an nft rule on the receiving host",
    "ndp-filtered",
    2,
    (p) =>
      sh(
        `${p}-h2`,
        "printf 'table inet filter {\\n chain input {\\n  type filter hook input priority 0\\n" +
          "  icmpv6 type nd-neighbor-solicit drop\\n }\\n}\\n' | nft -f -",
      ),
  );

  scenario(
    "all ICMPv6 dropped by ip6tables' INPUT on the receiving host",
    "ndp-filtered",
    2,
    (p) => sh(`${p}-h2`, "ip6tables -A INPUT -p ipv6-icmp -j DROP"),
  );

  it("the probe (--to IPv6, the peer watched): answered when healthy; neighbour solicitations dropped on the peer named there, and its fix works", async () => {
    await withLab((p) => {
      const probe = [
        "--to",
        TO,
        "--from",
        `${p}-h1-c1`,
        "--peer-netns",
        `${p}-h2`,
      ];
      const ok = doctor(`${p}-h1`, probe);
      assert.equal(ok.ok, true, ok.verdict);
      assert.equal(ok.probe?.answered, ok.probe?.sent);
      assert.ok((ok.probe?.answered ?? 0) > 0);
      sh(
        `${p}-h2`,
        "printf 'table inet filter {\\n chain input {\\n  type filter hook input priority 0\\n" +
          "  icmpv6 type nd-neighbor-solicit drop\\n }\\n}\\n' | nft -f -",
      );
      for (const n of [1, 2]) sh(`${p}-h${n}`, "ip -6 neigh flush dev eth0");
      assert.ok(!pingsIn(`${p}-h1-c1`, TO), "the drop stops the ping");
      const d = doctor(`${p}-h1`, probe);
      assert.equal(d.ok, false);
      assert.equal(d.probe?.answered, 0);
      assert.equal(d.findings[0].id, "ndp-filtered", JSON.stringify(d.findings[0]));
      assert.match(d.probe?.stoppedAt ?? "", /never reached the peer host/);
      // The kernel's own trace of the dropped solicitation on the peer is the evidence.
      assert.ok(
        d.findings[0].evidence.some((l) =>
          /^trace: inet filter input .*icmpv6 type nd-neighbor-solicit drop/.test(l)
        ),
        d.findings[0].evidence.join("\n"),
      );
      // The fix names the peer's namespace itself (ip netns exec NAME ...).
      assert.match(d.findings[0].fix[0], new RegExp(`^ip netns exec ${p}-h2 nft insert rule`));
      applyFix(`${p}-h1`, d.findings[0].fix);
      assert.ok(pingsIn(`${p}-h1-c1`, TO), `the fix (${d.findings[0].fix}) makes it work`);
      assert.equal(doctor(`${p}-h1`, probe).ok, true);
    });
  });

  scenario(
    "IPv6 forwarding dropped by ip6tables' FORWARD policy on the sending host",
    "firewall-forward-drop",
    1,
    (p) => sh(`${p}-h1`, "ip6tables -P FORWARD DROP"),
    follow,
  );
});
