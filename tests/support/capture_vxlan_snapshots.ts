/**
 * Captures the doctor fixtures of VXLAN networks that tests/unit/doctor/vxlan_test.ts reads,
 * from real networks built by hand in namespaces (as tests/e2e/vxlan_test.ts builds them): a
 * router namespace joins segment A (10.0.12.0/22: h1 10.0.12.11, h2 10.0.12.12) and segment B
 * (10.0.20.0/22: h3 10.0.20.13); a registry file with flannel's
 * `{"Type":"vxlan","DirectRouting":true}` and the hosts' leases written first, so that the
 * subnets are always 1.1.1.0/24, 1.1.2.0/24 and 1.1.3.0/24; each host set up with hg's own
 * commands (`hg setup --store`, `hg netns add`, `hg peer sync`). h1 reaches h2 host-gw and h3
 * over VXLAN. For each case below a fresh network is built and broken (or made odd), then
 * `hg snapshot` of one host goes to tests/fixtures/doctor/NAME.json; for the probe cases,
 * doctor's live path up to the probe runs inside h1 (from h1's container to h3's, h3 watched
 * too) and the snapshots and the probe's result go to tests/fixtures/doctor/vxlan-probe/NAME.json
 * (the format of tests/support/probe_fixture.ts). The network's name is replaced by "lab".
 *
 * Usage (root, from the repository): deno run -A tests/support/capture_vxlan_snapshots.ts [NAME...]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { takeSnapshot } from "../../lib/doctor/collect.ts";
import { doctorContext } from "../../lib/doctor/context.ts";
import { probePlan } from "../../lib/doctor/probe_plan.ts";
import { parseSnapshot } from "../../lib/doctor/snapshot.ts";
import { parseAddress } from "../../lib/net/address.ts";
import { runProbe } from "../../lib/probe/probe.ts";
import { openStore } from "../../lib/store/open.ts";
import { mapsAsEntries, type ProbeFixture } from "./probe_fixture.ts";
import {
  addFlanneldHost,
  addSegmentHost,
  buildRouter,
  type Segment,
  SEGMENTS,
} from "./segments.ts";

/** The network's name: in no snapshot otherwise, so it can be replaced by "lab". */
const P = "vxq";
const DIR = `/tmp/${P}`;
const STORE = `${DIR}/subnets.json`;
const OUT = "tests/fixtures/doctor";

const HOSTS = [
  { name: "h1", seg: "a", address: "10.0.12.11", subnet: "1.1.1.0-24" },
  { name: "h2", seg: "a", address: "10.0.12.12", subnet: "1.1.2.0-24" },
  { name: "h3", seg: "b", address: "10.0.20.13", subnet: "1.1.3.0-24" },
] as const;
/** hg's VTEP MACs of the hosts: 0e:56 and the public address. */
const MAC = { h1: "0e:56:0a:00:0c:0b", h2: "0e:56:0a:00:0c:0c", h3: "0e:56:0a:00:14:0d" };

function run(argv: string[], input?: string): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", input });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
const sh = (netns: string, line: string) =>
  run(["nsenter", `--net=/run/netns/${netns}`, "--", "sh", "-c", line]);
const hg = (netns: string, args: string[]) =>
  run([
    "nsenter",
    `--net=/run/netns/${netns}`,
    "--",
    process.execPath,
    "run",
    "-A",
    "cli/main.ts",
    ...args,
  ]);
const host = (h: string) => `${P}-${h}`;
const sync = (h: string) => hg(host(h), ["peer", "sync", "--store", STORE, "--node", host(h)]);

function addHost(name: string, seg: Segment, address: string): void {
  addSegmentHost(`${P}-ul`, host(name), `ul-${name}`, seg, address);
}

/** Builds the network: router, three hosts, the registry and its leases, hg on each host. */
function build(directRouting = true): void {
  down();
  mkdirSync(DIR, { recursive: true });
  buildRouter(`${P}-ul`);
  for (const h of HOSTS) addHost(h.name, h.seg, h.address);
  hg(host("h1"), [
    "subnet",
    "config",
    "--store",
    STORE,
    "--network",
    "1.1.0.0/16",
    "--backend",
    "vxlan",
    ...(directRouting ? ["--direct-routing"] : []),
  ]);
  // The leases first: each host's setup renews its own, so the subnets are always the same.
  const doc = JSON.parse(readFileSync(STORE, "utf8"));
  doc.leases ??= {};
  for (const h of HOSTS) {
    doc.leases[h.subnet] = {
      attrs: {
        PublicIP: h.address,
        PublicIPv6: null,
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: MAC[h.name] },
        HgNode: host(h.name),
      },
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    };
  }
  doc.revision += 1;
  writeFileSync(STORE, JSON.stringify(doc));
  for (const h of HOSTS) {
    const ns = host(h.name);
    hg(ns, [
      "setup",
      "--store",
      STORE,
      "--node",
      ns,
      "--iface",
      "eth0",
      "--subnet-file",
      `${DIR}/${h.name}.env`,
    ]);
    hg(ns, ["netns", "add", `${ns}-c1`]);
  }
  for (const h of HOSTS) sync(h.name);
}

function down(): void {
  const list = run(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0]);
  for (const ns of list.filter((n) => n.startsWith(`${P}-`))) run(["ip", "netns", "del", ns]);
  rmSync(DIR, { recursive: true, force: true });
}

/** `hg snapshot` of host `h`, the network's name replaced by "lab". */
function snapshot(h: string, name: string): void {
  const text = hg(host(h), ["snapshot", "--store", STORE, "--node", host(h)]);
  writeFileSync(`${OUT}/${name}.json`, text.replaceAll(P, "lab"));
}

/** Sets the MTU of h1's bridge, container veths (both ends) to `mtu`. */
function h1Mtu(mtu: number): void {
  const links = JSON.parse(sh(host("h1"), "ip -j link show")) as { ifname: string }[];
  const veths = links.filter((l) => l.ifname.startsWith("hgv")).map((l) => l.ifname);
  sh(host("h1"), [`cni0`, ...veths].map((l) => `ip link set ${l} mtu ${mtu}`).join(" && "));
  sh(`${host("h1")}-c1`, `ip link set eth0 mtu ${mtu}`);
}

/** h2 leaves segment A for segment B (10.0.20.12) and leases and syncs again, as its agent would. */
function moveH2(): void {
  sh(`${P}-ul`, "ip link set ul-h2 nomaster && ip link set ul-h2 master ulb");
  sh(
    host("h2"),
    "ip addr del 10.0.12.12/22 dev eth0 && ip addr add 10.0.20.12/22 dev eth0 && " +
      `ip route add ${SEGMENTS.a.prefix} via ${SEGMENTS.b.router}`,
  );
  hg(host("h2"), [
    "setup",
    "--store",
    STORE,
    "--node",
    host("h2"),
    "--iface",
    "eth0",
    "--subnet-file",
    `${DIR}/h2.env`,
  ]);
  sync("h2");
}

/** A host built the way flanneld builds its VXLAN host, with its lease in flannel's format. */
function flanneldHost(): void {
  addFlanneldHost(`${P}-ul`, host("fl"), "ul-fl", STORE);
  sync("h1");
}

/** The snapshots: name → the host taken, and what is done to the network first. */
const SNAPSHOTS: Record<string, { host: string; make: () => void; directRouting?: boolean }> = {
  "vxlan-healthy": { host: "h1", make: () => {} },
  "vxlan-healthy-h3": { host: "h3", make: () => {} },
  "vxlan-device-down": {
    host: "h1",
    make: () => void sh(host("h1"), "ip link set flannel.1 down"),
  },
  "vxlan-device-missing": { host: "h1", make: () => void sh(host("h1"), "ip link del flannel.1") },
  "vxlan-device-mismatch": {
    host: "h1",
    make: () => void sh(host("h1"), "ip link set flannel.1 address 0e:56:0a:00:0c:99"),
  },
  "vxlan-neighbour-missing": {
    host: "h1",
    make: () => void sh(host("h1"), "ip neigh del 1.1.3.0 dev flannel.1"),
  },
  "vxlan-neighbour-wrong": {
    host: "h1",
    make: () =>
      void sh(
        host("h1"),
        "ip neigh replace 1.1.3.0 lladdr 0e:56:0a:00:14:99 dev flannel.1 nud permanent",
      ),
  },
  "vxlan-fdb-missing": {
    host: "h1",
    make: () => void sh(host("h1"), `bridge fdb del ${MAC.h3} dev flannel.1 self`),
  },
  "vxlan-fdb-wrong": {
    host: "h1",
    make: () =>
      void sh(
        host("h1"),
        `bridge fdb replace ${MAC.h3} dev flannel.1 dst 10.0.20.99 self permanent`,
      ),
  },
  "vxlan-udp-dropped-input": {
    host: "h3",
    make: () => void sh(host("h3"), "iptables -A INPUT -p udp --dport 8472 -j DROP"),
  },
  "vxlan-udp-dropped-output": {
    host: "h1",
    make: () =>
      void run(
        ["ip", "netns", "exec", host("h1"), "nft", "-f", "-"],
        "table inet hgt {\n  chain out {\n    type filter hook output priority 0; policy accept;\n" +
          "    udp dport 8472 drop\n  }\n}\n",
      ),
  },
  "vxlan-mtu": { host: "h1", make: () => h1Mtu(1500) },
  "vxlan-peer-mode-stale": { host: "h1", make: moveH2 },
  "vxlan-peer-mode-stale-h3": { host: "h3", make: moveH2 },
  // Odd, and working.
  "vxlan-ok-onlink-tunnel": {
    host: "h1",
    make: () => {
      // h1 gets a second uplink on segment B: h3 is on-link now, its route still tunnels.
      sh(host("h1"), `ip link add eth1 type veth peer name ul-h1b netns ${P}-ul`);
      sh(`${P}-ul`, "ip link set ul-h1b master ulb up");
      sh(
        host("h1"),
        `ip addr add 10.0.20.11/22 dev eth1 && ip link set eth1 up && ip route del ${SEGMENTS.b.prefix} via ${SEGMENTS.a.router}`,
      );
    },
  },
  "vxlan-ok-no-direct-routing": { host: "h1", make: () => {}, directRouting: false },
  "vxlan-ok-flanneld-peer": { host: "h1", make: flanneldHost },
  "vxlan-ok-fdb-default": {
    host: "h1",
    make: () =>
      void sh(
        host("h1"),
        "bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.0.20.13 self permanent",
      ),
  },
  "vxlan-ok-all-host-gw": {
    host: "h1",
    make: () => {
      hg(host("h3"), ["subnet", "release", "--store", STORE, "--node", host("h3")]);
      sync("h1");
    },
  },
  "vxlan-ok-input-drop-policy": {
    host: "h3",
    make: () =>
      void sh(
        host("h3"),
        "iptables -A INPUT -i lo -j ACCEPT && " +
          "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && " +
          "iptables -A INPUT -i eth0 -p udp -m multiport --dports 8472,4789 -j ACCEPT && " +
          "iptables -P INPUT DROP",
      ),
  },
};

/** The probes: name → what is done to the network first (the probe goes from h1's container to h3's). */
const PROBES: Record<string, () => void> = {
  healthy: () => {},
  "udp-dropped-input": SNAPSHOTS["vxlan-udp-dropped-input"].make,
  "fdb-wrong": SNAPSHOTS["vxlan-fdb-wrong"].make,
  mtu: SNAPSHOTS["vxlan-mtu"].make,
};

if (process.argv.includes("--in-host")) {
  // Inside h1: the snapshots and the probe, as doctor takes them.
  const name = process.argv[process.argv.indexOf("--in-host") + 1];
  const store = openStore(STORE);
  const [here, peer] = await Promise.all([
    takeSnapshot({ bridge: "cni0", hgVersion: "capture", node: host("h1"), store }),
    takeSnapshot({ bridge: "cni0", hgVersion: "capture", netns: host("h3") }),
  ]);
  await store.close();
  const peerDoc = { ...peer, registry: here.registry };
  const ctx = doctorContext(parseSnapshot(here));
  const to = "1.1.3.2";
  const plan = probePlan(ctx, ctx.containers[0], parseAddress(to), {
    netns: host("h3"),
    ctx: doctorContext(parseSnapshot(peerDoc)),
  });
  const result = await runProbe(plan);
  const fixture: ProbeFixture = {
    fault: name,
    from: ctx.containers[0].name,
    to,
    peerNetns: host("h3"),
    here,
    peer: peerDoc,
    result,
  };
  mkdirSync(`${OUT}/vxlan-probe`, { recursive: true });
  writeFileSync(
    `${OUT}/vxlan-probe/${name}.json`,
    JSON.stringify(fixture, mapsAsEntries, 1).replaceAll(P, "lab") + "\n",
  );
} else {
  const only = process.argv.slice(2);
  const wanted = (name: string) => only.length === 0 || only.includes(name);
  try {
    for (const [name, c] of Object.entries(SNAPSHOTS)) {
      if (!wanted(name)) continue;
      build(c.directRouting ?? true);
      c.make();
      snapshot(c.host, name);
      console.log(`captured ${name}`);
    }
    for (const [name, make] of Object.entries(PROBES)) {
      if (!wanted(`probe:${name}`) && only.length > 0) continue;
      build();
      make();
      run([
        "nsenter",
        `--net=/run/netns/${host("h1")}`,
        "--",
        process.execPath,
        "run",
        "-A",
        "tests/support/capture_vxlan_snapshots.ts",
        "--in-host",
        name,
      ]);
      console.log(`captured probe ${name}`);
    }
  } finally {
    down();
  }
}
