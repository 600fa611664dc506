/**
 * `hg doctor` on the VXLAN path, end to end on one hand-built network (as tests/e2e/vxlan_test.ts
 * builds it): h1 and h2 on segment A (10.0.12.0/22), h3 on segment B (10.0.20.0/22), a router
 * namespace between them, a registry file with `{"Type":"vxlan","DirectRouting":true}`, each host
 * set up with hg's own commands; h1 reaches h2 host-gw and h3 over VXLAN. Then, one after the
 * other on that network: each VXLAN break stops a real ping, doctor on the host where it is names
 * it first and exits 1 (the static diagnosis; the probe too for a drop on the peer and for the
 * MTU), the fix doctor printed is run as printed, the ping works again and doctor is clean.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import { addSegmentHost, buildRouter, type Segment, SEGMENTS } from "../support/segments.ts";
import { answers, hgIn, ipJson, labName, netnsList, pings, run, sh } from "../e2e/harness.ts";

interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly where?: string;
  readonly fix: string[];
}
interface Diagnosis {
  readonly ok: boolean;
  readonly status: string;
  readonly verdict: string;
  readonly findings: Finding[];
}

class Net {
  readonly dir: string;
  readonly store: string;
  constructor(readonly p: string) {
    this.dir = `/tmp/${p}`;
    this.store = `${this.dir}/subnets.json`;
  }
  host(h: string): string {
    return `${this.p}-${h}`;
  }
  /** The address of host `h`'s container. */
  container(h: string): string {
    const [eth0] = ipJson(`${this.host(h)}-c1`, ["-4", "addr", "show", "dev", "eth0"]) as {
      addr_info: { local: string }[];
    }[];
    return eth0.addr_info[0].local;
  }
}

function must(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

function addHost(net: Net, name: string, seg: Segment, address: string): void {
  addSegmentHost(`${net.p}-ul`, net.host(name), `ul-${name}`, seg, address);
}

function build(net: Net): void {
  run("mkdir", ["-p", net.dir]);
  buildRouter(`${net.p}-ul`);
  addHost(net, "h1", "a", "10.0.12.11");
  addHost(net, "h2", "a", "10.0.12.12");
  addHost(net, "h3", "b", "10.0.20.13");
  must(hgIn(net.host("h1"), [
    "subnet",
    "config",
    "--store",
    net.store,
    "--network",
    "1.1.0.0/16",
    "--backend",
    "vxlan",
    "--direct-routing",
  ]));
  for (const h of ["h1", "h2", "h3"]) setup(net, h);
  for (const h of ["h1", "h2", "h3"]) {
    must(hgIn(net.host(h), ["netns", "add", `${net.host(h)}-c1`]));
  }
  for (const h of ["h1", "h2", "h3"]) sync(net, h);
}

const setup = (net: Net, h: string) =>
  must(hgIn(net.host(h), [
    "setup",
    "--store",
    net.store,
    "--node",
    h,
    "--iface",
    "eth0",
    "--subnet-file",
    `${net.dir}/${h}.env`,
  ]));
const sync = (net: Net, h: string) =>
  must(hgIn(net.host(h), ["peer", "sync", "--store", net.store, "--node", h]));

/** `hg doctor --json` on host `h` (static unless `probe`), its exit code checked against its answer. */
function doctor(net: Net, h: string, args: readonly string[] = []): Diagnosis & { code: number } {
  const probe = args.includes("--to");
  const r = hgIn(net.host(h), [
    "doctor",
    "--json",
    ...(probe ? [] : ["--no-probe"]),
    "--store",
    net.store,
    "--node",
    h,
    ...args,
  ]);
  assert.ok(r.code === 0 || r.code === 1, `doctor exit ${r.code}: ${r.stderr}`);
  const d = JSON.parse(r.stdout) as Diagnosis;
  assert.equal(r.code, d.ok ? 0 : 1, "exit 1 exactly when an error was found");
  return { ...d, code: r.code };
}

const ids = (d: Diagnosis) => d.findings.map((f) => `${f.id}:${f.severity}`).join(", ");

/** Runs the fix lines doctor printed on host `h` (comments skipped), as printed. */
function applyFix(net: Net, h: string, fix: readonly string[]): void {
  assert.ok(fix.some((l) => !l.startsWith("#")), `a fix to run: ${fix.join("; ")}`);
  for (const line of fix) {
    if (line.startsWith("#")) continue;
    if (line.startsWith("hg ")) must(hgIn(net.host(h), line.slice(3).split(" ")));
    else sh(net.host(h), line);
  }
}

/** Doctor on `h` is clean: exit 0, nothing but information. */
function assertClean(net: Net, h: string): void {
  const d = doctor(net, h);
  assert.equal(d.code, 0, d.verdict);
  assert.deepEqual(d.findings.filter((f) => f.severity !== "info"), [], `${h}: ${ids(d)}`);
}

/**
 * One break: `breakIt`, the ping from `from`'s container to `to`'s fails, doctor on `where` names
 * `id` first and exits 1, its fix run there makes the ping work, and doctor there is clean.
 */
function scenario(
  net: Net,
  id: string,
  breakIt: () => void,
  o: { where: string; from?: string; to?: string },
): void {
  const from = `${net.host(o.from ?? "h1")}-c1`;
  const to = net.container(o.to ?? "h3");
  const state = () => `${tunnelState(net, o.from ?? "h1")}\n${tunnelState(net, o.to ?? "h3")}`;
  assert.ok(answers(from, to), `${id}: the ping works before the break\n${state()}`);
  breakIt();
  assert.ok(!pings(from, to), `${id}: the break stops the ping`);
  const d = doctor(net, o.where);
  assert.equal(d.code, 1, `${id}: ${d.verdict}`);
  assert.equal(d.findings[0].id, id, ids(d));
  assert.equal(d.findings[0].severity, "error");
  applyFix(net, o.where, d.findings[0].fix);
  assert.ok(
    answers(from, to),
    `${id}: the fix ${JSON.stringify(d.findings[0].fix)} makes the ping work\n${state()}`,
  );
  assertClean(net, o.where);
}

/** Host `h`'s links, routes, VXLAN neighbours and fdb, for a failure's message. */
function tunnelState(net: Net, h: string): string {
  const host = net.host(h);
  const text = (cmd: string, args: string[]) => run(cmd, ["-n", host, ...args]).stdout;
  return `${h}:\n${text("ip", ["-br", "link"])}${text("ip", ["-4", "route"])}${
    text("ip", ["neigh"])
  }${text("bridge", ["fdb", "show", "dev", "flannel.1"])}`;
}

/** Sets the MTU of host h1's bridge and its container's veth pair. */
function h1Mtu(net: Net, mtu: number): void {
  const h1 = net.host("h1");
  const veths = (ipJson(h1, ["link"]) as { ifname: string }[]).map((l) => l.ifname)
    .filter((n) => n.startsWith("hgv"));
  sh(h1, ["cni0", ...veths].map((l) => `ip link set ${l} mtu ${mtu}`).join(" && "));
  sh(`${h1}-c1`, `ip link set eth0 mtu ${mtu}`);
}

/** A ping of `size` payload bytes with Don't Fragment, answered within 3 s. */
const dfAnswers = (from: string, to: string, size: number) =>
  run("nsenter", [
    `--net=/run/netns/${from}`,
    "ping",
    "-n",
    "-c",
    "1",
    "-i",
    "0.2",
    "-w",
    "3",
    "-M",
    "do",
    "-s",
    String(size),
    to,
  ]).code === 0;

describe("hg doctor on the VXLAN path (e2e, root)", () => {
  it("each VXLAN break stops the ping, doctor names it and exits 1, its fix works, doctor is clean", () => {
    const net = new Net(labName());
    try {
      build(net);
      for (const h of ["h1", "h2", "h3"]) assertClean(net, h);
      const [h1, h3] = [net.host("h1"), net.host("h3")];
      const h3Mac = "0e:56:0a:00:14:0d";
      const h3Net = net.container("h3").replace(/\.2$/, ".0");

      // The device, its neighbour and fdb entries, on the sending host.
      scenario(net, "vxlan-device-down", () => sh(h1, "ip link set flannel.1 down"), {
        where: "h1",
      });
      scenario(net, "vxlan-device-missing", () => sh(h1, "ip link del flannel.1"), {
        where: "h1",
      });
      scenario(
        net,
        "vxlan-device-mismatch",
        () => sh(h1, "ip link set flannel.1 address 0e:56:0a:00:0c:99"),
        { where: "h1" },
      );
      scenario(
        net,
        "vxlan-neighbour-missing",
        () => sh(h1, `ip neigh del ${h3Net} dev flannel.1`),
        { where: "h1" },
      );
      scenario(
        net,
        "vxlan-neighbour-wrong",
        () =>
          sh(h1, `ip neigh replace ${h3Net} lladdr 0e:56:0a:00:14:99 dev flannel.1 nud permanent`),
        { where: "h1" },
      );
      scenario(
        net,
        "vxlan-fdb-missing",
        () => sh(h1, `bridge fdb del ${h3Mac} dev flannel.1 self`),
        { where: "h1" },
      );
      scenario(
        net,
        "vxlan-fdb-wrong",
        () => sh(h1, `bridge fdb replace ${h3Mac} dev flannel.1 dst 10.0.20.99 self permanent`),
        { where: "h1" },
      );

      // UDP dropped on the sending host's way out (nftables), then on the receiver's way in
      // (iptables): each host's doctor names its own side.
      scenario(
        net,
        "vxlan-udp-dropped",
        () =>
          sh(
            h1,
            "nft add table inet hgt && " +
              "nft add chain inet hgt out '{ type filter hook output priority 0; policy accept; }' && " +
              "nft add rule inet hgt out udp dport 8472 drop",
          ),
        { where: "h1" },
      );
      sh(h1, "nft delete table inet hgt");
      sh(h3, "iptables -A INPUT -p udp --dport 8472 -j DROP");
      assert.ok(!pings(`${h1}-c1`, net.container("h3")), "h3 drops VXLAN: no ping");
      assert.equal(doctor(net, "h1").code, 0, "h1 cannot see h3's INPUT statically");
      // The probe watches h3 too: the kernel's trace shows the drop there.
      const probed = doctor(net, "h1", ["--to", net.container("h3"), "--peer-netns", h3]);
      assert.equal(probed.code, 1);
      assert.deepEqual([probed.findings[0].id, probed.findings[0].where], [
        "vxlan-udp-dropped",
        h3,
      ]);
      const there = doctor(net, "h3");
      assert.equal(there.findings[0].id, "vxlan-udp-dropped", ids(there));
      applyFix(net, "h3", there.findings[0].fix);
      assert.ok(answers(`${h1}-c1`, net.container("h3")), "h3 lets VXLAN in again");
      assertClean(net, "h3");

      // MTU: the bridge and container above the tunnel's. Small pings pass, a full-size one with
      // Don't Fragment does not: a warning statically, an error once the probe shows it.
      const c1 = `${h1}-c1`;
      h1Mtu(net, 1500);
      assert.ok(answers(c1, net.container("h3")), "small pings still pass");
      assert.ok(!dfAnswers(c1, net.container("h3"), 1472), "a full-size DF ping does not");
      const mtu = doctor(net, "h1");
      assert.deepEqual(
        mtu.findings.filter((f) => f.severity !== "info").map((f) => `${f.id}:${f.severity}`),
        ["vxlan-mtu:warning"],
      );
      const proven = doctor(net, "h1", ["--to", net.container("h3"), "--peer-netns", h3]);
      assert.equal(proven.code, 1, proven.verdict);
      assert.deepEqual([proven.findings[0].id, proven.findings[0].severity], [
        "vxlan-mtu",
        "error",
      ]);
      applyFix(net, "h1", proven.findings[0].fix);
      assert.ok(
        dfAnswers(c1, net.container("h3"), 1422),
        "a full-size DF ping at the tunnel's MTU",
      );
      assert.equal(doctor(net, "h1", ["--to", net.container("h3"), "--peer-netns", h3]).code, 0);
      assertClean(net, "h1");

      // h2 leaves segment A for B (a new address, leased again and synced there, as its agent
      // would): h1's host-gw route to it and h3's tunnel to its old address are stale.
      scenario(
        net,
        "peer-mode-stale",
        () => {
          sh(`${net.p}-ul`, "ip link set ul-h2 nomaster && ip link set ul-h2 master ulb");
          sh(
            net.host("h2"),
            "ip addr del 10.0.12.12/22 dev eth0 && ip addr add 10.0.20.12/22 dev eth0 && " +
              `ip route add ${SEGMENTS.a.prefix} via ${SEGMENTS.b.router}`,
          );
          setup(net, "h2");
          sync(net, "h2");
        },
        { where: "h1", to: "h2" },
      );
      // h3 reaches h2 on its own segment now, but still through the tunnel to h2's old address.
      const h3c = `${h3}-c1`;
      assert.ok(!pings(h3c, net.container("h2")), "h3 still tunnels to h2's old address");
      const onH3 = doctor(net, "h3");
      assert.deepEqual([onH3.code, onH3.findings[0].id, onH3.findings[0].severity], [
        1,
        "peer-mode-stale",
        "error",
      ]);
      applyFix(net, "h3", onH3.findings[0].fix);
      assert.ok(answers(h3c, net.container("h2")), "h3 reaches h2 host-gw");
      assertClean(net, "h3");

      // h1 gets a second uplink on segment B: h2 and h3 are on-link now while their routes
      // still tunnel. That works, so it is a warning (exit 0); the sync makes them host-gw.
      sh(h1, `ip link add eth1 type veth peer name ul-h1b netns ${net.p}-ul`);
      sh(`${net.p}-ul`, "ip link set ul-h1b master ulb up");
      sh(
        h1,
        `ip addr add 10.0.20.11/22 dev eth1 && ip link set eth1 up && ` +
          `ip route del ${SEGMENTS.b.prefix} via ${SEGMENTS.a.router}`,
      );
      assert.ok(answers(`${h1}-c1`, net.container("h3")));
      const onLink = doctor(net, "h1");
      assert.equal(onLink.code, 0, onLink.verdict);
      assert.deepEqual(
        onLink.findings.map((f) => `${f.id}:${f.severity}`),
        ["peer-mode-stale:warning", "peer-mode-stale:warning"],
      );
      applyFix(net, "h1", onLink.findings[0].fix);
      assertClean(net, "h1");
      const routes = JSON.stringify(ipJson(h1, ["-4", "route"]));
      assert.ok(!routes.includes("flannel.1"), `every peer host-gw now: ${routes}`);
      for (const to of ["h2", "h3"]) assert.ok(answers(`${h1}-c1`, net.container(to)), to);
    } finally {
      for (const ns of netnsList().filter((n) => n.startsWith(`${net.p}-`))) {
        run("ip", ["netns", "del", ns]);
      }
      rmSync(net.dir, { recursive: true, force: true });
    }
    assert.deepEqual(netnsList().filter((n) => n.startsWith(`${net.p}-`)), []);
  });
});
