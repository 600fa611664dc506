/**
 * The static checks (`hg doctor --no-probe`) on real labs (2 hosts, file registry), beyond the
 * breaks of doctor_test.ts: each fault is made with real commands and checked to stop a real
 * ping; doctor names its cause first and, where its fix is a command, running the fix makes the
 * ping work. Each odd-but-working set-up is checked to pass a real ping; doctor then finds no
 * error and prints no fix that removes or replaces anything. With HG_CAPTURE_DIR set, each
 * host's snapshot is written there (tests/fixtures/doctor/ holds them for the unit tests).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { addUplink, hgIn, hostStatus, ipJson, run, sh, withLab } from "../e2e/harness.ts";

interface Finding {
  id: string;
  severity: string;
  summary: string;
  fix: string[];
}
interface Diagnosis {
  ok: boolean;
  verdict: string;
  findings: Finding[];
}

/** A lab and the names and addresses a case needs. */
interface Lab {
  readonly lab: string;
  readonly h1: string;
  readonly h2: string;
  readonly c1: string;
  readonly c2: string;
  readonly c1ip: string;
  readonly c2ip: string;
  /** The bridges' addresses (the containers' gateways). */
  readonly gw1: string;
  readonly gw2: string;
  readonly subnet1: string;
  readonly subnet2: string;
  readonly store: string;
}

/** Fix lines that remove or replace something: only errors about unambiguous state print them. */
const REMOVING =
  /\b(ip (-n \S+ )?(route|rule|addr|address|neigh) (del|delete|flush|replace|change)|hg peer rm|hg netns del|nft (delete|flush)|iptables -D|iptables -F)\b|\bflush\b/;

const macOf = (netns: string, ifname: string) =>
  (ipJson(netns, ["link", "show", ifname]) as { address: string }[])[0].address;

function labOf(lab: string): Lab {
  const [h1, h2] = [`${lab}-h1`, `${lab}-h2`];
  const [s1, s2] = [hostStatus(h1), hostStatus(h2)];
  return {
    lab,
    h1,
    h2,
    c1: `${lab}-h1-c1`,
    c2: `${lab}-h2-c1`,
    c1ip: s1.containers[0].address.split("/")[0],
    c2ip: s2.containers[0].address.split("/")[0],
    gw1: s1.bridge.address.split("/")[0],
    gw2: s2.bridge.address.split("/")[0],
    subnet1: s1.bridge.subnet,
    subnet2: s2.bridge.subnet,
    store: `/run/hg/lab-${lab}/subnets.json`,
  };
}

/**
 * Whether a ping gets through within a few tries: after a fix, a neighbour entry that failed
 * while ARP went unanswered is asked again only when the next packet needs it.
 */
const pingsWithin = (l: Lab, args: readonly string[] = [], tries = 5) =>
  Array.from({ length: tries }).some(() => pings(l, args));

const pings = (l: Lab, args: readonly string[] = []) =>
  run("nsenter", [
    `--net=/run/netns/${l.c1}`,
    "ping",
    "-n",
    "-c",
    "1",
    "-W",
    "1",
    ...args,
    l.c2ip,
  ]).code === 0;

/** Static doctor in `host`: with `--to` (h1 follows the packet to h2's container) or whole host. */
function doctor(l: Lab, host: string, to: boolean): Diagnosis & { code: number } {
  const r = hgIn(host, [
    "doctor",
    "--json",
    "--no-probe",
    "--store",
    l.store,
    "--node",
    host,
    ...(to ? ["--to", l.c2ip, "--from", l.c1] : []),
  ]);
  assert.ok([0, 1, 3].includes(r.code), `doctor exit ${r.code}: ${r.stderr}`);
  const d = JSON.parse(r.stdout) as Diagnosis & { status: string };
  assert.equal(r.code, { ok: 0, problem: 1, undecided: 3 }[d.status], "exit by the verdict");
  return { ...d, code: r.code };
}

function capture(l: Lab, host: string, name: string): void {
  const dir = process.env.HG_CAPTURE_DIR;
  if (!dir) return;
  const r = hgIn(host, ["snapshot", "--store", l.store, "--node", host]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(`${dir}/${name}.json`, r.stdout.replaceAll(l.lab, "lab"));
}

function applyFix(host: string, fix: readonly string[]): void {
  for (const line of fix) {
    if (line.startsWith("#")) continue;
    if (line.startsWith("hg ")) {
      const r = hgIn(host, line.slice(3).split(" "));
      assert.equal(r.code, 0, `${host}: ${line}: ${r.stderr}`);
    } else sh(host, line);
  }
}

const ids = (d: Diagnosis) => d.findings.map((f) => `${f.id}:${f.severity}`).join(", ");

interface Fault {
  /** The fixture's name. */
  readonly name: string;
  readonly breakIt: (l: Lab) => void;
  readonly id: string;
  /** Where doctor runs: h1 follows the packet (default); h2 checks its whole host. */
  readonly where?: "h1" | "h2";
  readonly ping?: readonly string[];
  /** Its fix is a command that makes the ping work (not only advice). */
  readonly fixes?: boolean;
  readonly cleanup?: (l: Lab) => void;
}

/** Flushes both hosts' neighbour tables, so the next ping asks ARP again. */
const flushNeighbours = (l: Lab) => {
  sh(l.h1, "ip neigh flush all");
  sh(l.h2, "ip neigh flush all");
};

const FAULTS: readonly Fault[] = [
  { name: "uplink-down", id: "uplink-down", breakIt: (l) => sh(l.h1, "ip link set eth0 down") },
  {
    name: "uplink-no-carrier",
    id: "uplink-down",
    fixes: false,
    breakIt: (l) => run("ip", ["-n", `${l.lab}-ul`, "link", "set", "ul-h1", "down"]),
  },
  {
    name: "forwarding-bridge-off",
    id: "forwarding-off",
    breakIt: (l) => sh(l.h1, "sysctl -qw net.ipv4.conf.cni0.forwarding=0"),
  },
  {
    name: "forwarding-uplink-off",
    id: "forwarding-off",
    breakIt: (l) => sh(l.h1, "sysctl -qw net.ipv4.conf.eth0.forwarding=0"),
  },
  {
    name: "policy-blackhole",
    id: "policy-route",
    breakIt: (l) => sh(l.h1, `ip rule add pref 100 from ${l.subnet1} to ${l.subnet2} blackhole`),
  },
  {
    name: "policy-table-router",
    id: "policy-route",
    breakIt: (l) =>
      sh(
        l.h1,
        "ip route add default via 10.0.12.1 dev eth0 table 100 && ip rule add pref 100 iif cni0 lookup 100",
      ),
  },
  {
    name: "policy-return",
    id: "policy-route",
    breakIt: (l) =>
      sh(
        l.h1,
        "ip route add default via 10.0.12.1 dev eth0 table 100 && ip rule add pref 100 iif eth0 lookup 100",
      ),
  },
  {
    name: "gateway-self",
    id: "gateway-self",
    breakIt: (l) => sh(l.h1, `ip route replace ${l.subnet2} via 10.0.12.11 dev eth0 proto 104`),
  },
  {
    name: "gateway-unreachable-host-route",
    id: "gateway-unreachable",
    // An admin's /32 to a host that is not there.
    breakIt: (l) => sh(l.h1, `ip route add ${l.c2ip}/32 via 10.0.12.19 dev eth0`),
  },
  {
    name: "neighbour-wrong-container",
    id: "neighbour-wrong",
    breakIt: (l) =>
      sh(l.h1, `ip neigh replace ${l.c1ip} lladdr 02:00:00:00:00:99 dev cni0 nud permanent`),
  },
  {
    name: "neighbour-wrong-gateway",
    id: "neighbour-wrong",
    breakIt: (l) =>
      sh(
        l.h1,
        `ip neigh replace 10.0.12.12 lladdr ${macOf(l.h1, "eth0")} dev eth0 nud permanent`,
      ),
  },
  {
    name: "address-duplicate",
    id: "address-duplicate",
    fixes: false,
    breakIt: (l) => {
      // Another namespace on h1's bridge with the container's address answers for it.
      const x = `${l.lab}-x`;
      run("ip", ["netns", "add", x]);
      sh(l.h1, `ip link add xv0 type veth peer name eth0 netns ${x}`);
      sh(l.h1, "ip link set xv0 master cni0 up");
      sh(x, `ip link set lo up && ip addr add ${l.c1ip}/24 dev eth0 && ip link set eth0 up`);
      sh(l.h1, "ip neigh flush all");
      run("nsenter", [`--net=/run/netns/${x}`, "ping", "-c", "1", "-W", "1", l.gw1]);
      pings(l);
    },
    cleanup: (l) => run("ip", ["netns", "del", `${l.lab}-x`]),
  },
  {
    name: "mtu-container",
    id: "mtu-container",
    ping: ["-s", "2000"],
    breakIt: (l) => sh(l.c1, "ip link set eth0 mtu 9000"),
  },
  {
    name: "container-route-dev",
    id: "container-route-bypass",
    breakIt: (l) => sh(l.c1, `ip route add ${l.subnet2} dev eth0`),
  },
  {
    name: "container-route-via",
    id: "container-route-bypass",
    breakIt: (l) => {
      const [a, b, c] = l.c1ip.split(".");
      sh(l.c1, `ip route add ${l.subnet2} via ${a}.${b}.${c}.77`);
    },
  },
  {
    name: "container-mask-wide",
    id: "container-route-bypass",
    breakIt: (l) =>
      sh(
        l.c1,
        `ip addr del ${l.c1ip}/24 dev eth0 && ip addr add ${l.c1ip}/16 dev eth0 && ` +
          `ip route add default via ${l.gw1}`,
      ),
  },
  {
    name: "echo-ignored",
    id: "echo-ignored",
    where: "h2",
    breakIt: (l) => sh(l.c2, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1"),
  },
  {
    name: "arp-ignore-uplink",
    id: "arp-ignored",
    where: "h2",
    breakIt: (l) => {
      sh(l.h2, "sysctl -qw net.ipv4.conf.eth0.arp_ignore=8");
      flushNeighbours(l);
    },
  },
  {
    name: "arp-filter-policy",
    id: "arp-ignored",
    where: "h2",
    breakIt: (l) => {
      // h2's route back to h1, from its own address, leaves by another interface.
      sh(
        l.h2,
        "ip link add dm0 type veth peer name dm1 && ip link set dm0 up && ip link set dm1 up && " +
          "ip route add 10.0.12.11/32 dev dm0 table 50 && ip rule add pref 50 from 10.0.12.12 lookup 50 && " +
          "sysctl -qw net.ipv4.conf.eth0.arp_filter=1",
      );
      flushNeighbours(l);
    },
  },
  {
    name: "arp-ignore-container",
    id: "arp-ignored",
    where: "h2",
    breakIt: (l) => {
      sh(l.c2, "sysctl -qw net.ipv4.conf.all.arp_ignore=8");
      flushNeighbours(l);
    },
  },
];

interface Working {
  readonly name: string;
  readonly makeIt: (l: Lab) => void;
  /** Where doctor runs: h1, with and without --to (default), or h2 (whole host). */
  readonly on?: "h1" | "h2";
  /** A finding doctor should still say, and its severity (never an error). */
  readonly says?: { readonly id: string; readonly severity: string };
}

const WORKING: readonly Working[] = [
  {
    name: "ok-bridge-mask-wide",
    makeIt: (l) => sh(l.h1, `ip addr del ${l.gw1}/24 dev cni0 && ip addr add ${l.gw1}/16 dev cni0`),
    says: { id: "bridge-mask-wide", severity: "warning" },
  },
  {
    name: "ok-lease-released",
    makeIt: (l) => {
      const r = hgIn(l.h2, ["subnet", "release", "--store", l.store, "--node", l.h2]);
      assert.equal(r.code, 0, r.stderr);
    },
    says: { id: "route-stale", severity: "warning" },
  },
  {
    name: "ok-lease-released-h2",
    makeIt: (l) => {
      const r = hgIn(l.h2, ["subnet", "release", "--store", l.store, "--node", l.h2]);
      assert.equal(r.code, 0, r.stderr);
    },
    on: "h2",
    says: { id: "lease-expired", severity: "warning" },
  },
  {
    name: "ok-policy-harmless",
    makeIt: (l) =>
      sh(
        l.h1,
        "ip route add blackhole default table 100 && ip rule add pref 100 from 10.99.0.0/16 lookup 100 && " +
          "ip rule add pref 101 fwmark 0x1 lookup 100 && ip rule add pref 102 ipproto tcp dport 80 lookup 100 && " +
          "ip rule add pref 103 uidrange 1000-2000 lookup 100 && ip rule add pref 104 oif eth0 lookup 100",
      ),
  },
  {
    name: "ok-policy-same-path",
    makeIt: (l) =>
      sh(
        l.h1,
        `ip route add ${l.subnet2} via 10.0.12.12 dev eth0 table 100 && ip rule add pref 100 iif cni0 lookup 100`,
      ),
  },
  {
    name: "ok-policy-undecided",
    makeIt: (l) => sh(l.h1, "ip rule add pref 100 tun_id 5 blackhole"),
    says: { id: "policy-route", severity: "undecided" },
  },
  {
    name: "ok-static-neighbours",
    makeIt: (l) => {
      sh(l.h1, `ip neigh replace 10.0.12.12 lladdr ${macOf(l.h2, "eth0")} dev eth0 nud permanent`);
      sh(l.h1, `ip neigh replace ${l.c1ip} lladdr ${macOf(l.c1, "eth0")} dev cni0 nud permanent`);
    },
  },
  {
    name: "ok-firewall-iptables-unmodeled",
    makeIt: (l) =>
      sh(
        l.h1,
        "iptables -P FORWARD DROP && iptables -A FORWARD -m addrtype --src-type UNICAST -j ACCEPT",
      ),
    says: { id: "firewall-undecided", severity: "undecided" },
  },
  {
    name: "ok-firewall-nft-unmodeled",
    makeIt: (l) =>
      sh(
        l.h1,
        "nft add table inet hgt && nft add chain inet hgt hgfwd '{ type filter hook forward priority 0; policy drop; }' && " +
          "nft add rule inet hgt hgfwd meta mark 0 accept",
      ),
    says: { id: "firewall-undecided", severity: "undecided" },
  },
  {
    name: "ok-extra-routes",
    makeIt: (l) =>
      sh(
        l.h1,
        `ip route add 192.168.77.0/24 via 10.0.12.1 dev eth0 && ip route add ${l.c2ip}/32 via 10.0.12.12 dev eth0`,
      ),
  },
  {
    name: "ok-second-uplink",
    on: "h2",
    makeIt: (l) => {
      addUplink(l.lab, l.h2, "10.0.12.112", "ul-h2b");
      sh(l.h2, "sysctl -qw net.ipv4.conf.all.arp_filter=1");
      flushNeighbours(l);
    },
  },
  {
    name: "ok-mtu-pmtu",
    makeIt: (l) => {
      const veth = hostStatus(l.h1).containers[0].hostVeth;
      sh(l.c1, "ip link set eth0 mtu 9000");
      sh(l.h1, `ip link set ${veth} mtu 9000 && ip link set cni0 mtu 1500`);
    },
    says: { id: "mtu-container", severity: "warning" },
  },
  {
    name: "ok-proxy-arp-dev-route",
    makeIt: (l) => {
      sh(l.h1, "sysctl -qw net.ipv4.conf.cni0.proxy_arp=1");
      sh(l.c1, `ip route add ${l.subnet2} dev eth0`);
    },
  },
  {
    name: "ok-arp-ignore-2",
    on: "h2",
    makeIt: (l) => {
      sh(l.h2, "sysctl -qw net.ipv4.conf.all.arp_ignore=2");
      flushNeighbours(l);
    },
  },
  {
    name: "ok-forwarding-per-interface",
    makeIt: (l) =>
      sh(
        l.h1,
        "sysctl -qw net.ipv4.ip_forward=0 && sysctl -qw net.ipv4.conf.cni0.forwarding=1 && " +
          "sysctl -qw net.ipv4.conf.eth0.forwarding=1",
      ),
  },
];

describe("hg doctor --no-probe: static checks on broken and odd-but-working labs (e2e, root)", () => {
  for (const fault of FAULTS) {
    it(`${fault.name}: the ping fails, doctor names ${fault.id} first`, async () => {
      await withLab(2, (lab) => {
        const l = labOf(lab);
        try {
          assert.ok(pings(l, fault.ping), "the lab works before the break");
          fault.breakIt(l);
          assert.ok(!pings(l, fault.ping), "the break stops the ping");
          const where = fault.where === "h2" ? l.h2 : l.h1;
          capture(l, where, fault.name);
          const d = doctor(l, where, where === l.h1);
          assert.equal(d.ok, false, d.verdict);
          assert.equal(d.findings[0].id, fault.id, ids(d));
          assert.equal(d.findings[0].severity, "error");
          if (fault.fixes !== false) {
            applyFix(where, d.findings[0].fix);
            assert.ok(
              pingsWithin(l, fault.ping),
              `the fix (${d.findings[0].fix.join("; ")}) makes the ping work`,
            );
          }
        } finally {
          fault.cleanup?.(l);
        }
      }, "file");
    });
  }

  for (const setup of WORKING) {
    it(`${setup.name}: the ping works, doctor finds no error and removes nothing`, async () => {
      await withLab(2, (lab) => {
        const l = labOf(lab);
        setup.makeIt(l);
        assert.ok(pings(l), "the set-up passes a real ping");
        assert.ok(pings(l), "and again");
        const on = setup.on === "h2" ? l.h2 : l.h1;
        capture(l, on, setup.name);
        const runs = on === l.h1 ? [doctor(l, l.h1, true), doctor(l, l.h1, false)] : [
          doctor(l, l.h2, false),
        ];
        for (const d of runs) {
          // Undecided (exit 3) is not an error: what doctor cannot evaluate, only a probe decides.
          assert.ok(d.ok || setup.says?.severity === "undecided", `${d.verdict} (${ids(d)})`);
          assert.ok(d.findings.every((f) => f.severity !== "error"), `${d.verdict} (${ids(d)})`);
          for (const f of d.findings) {
            for (const line of f.fix) {
              assert.ok(!REMOVING.test(line), `${f.id} (${f.severity}) prints "${line}"`);
            }
          }
        }
        if (setup.says) {
          const all = runs.flatMap((d) => d.findings);
          assert.ok(
            all.some((f) => f.id === setup.says!.id && f.severity === setup.says!.severity),
            `${setup.says.id} as ${setup.says.severity}: ${runs.map(ids).join(" | ")}`,
          );
        }
      }, "file");
    });
  }
});
