/**
 * A small dual-stack host-gw network in namespaces, built by hand, for doctor's IPv6 tests and
 * fixtures: hosts `P-h1` and `P-h2` on one veth segment (eth0: 10.0.12.1N/24 and
 * fd00:12::1N/64), each with a bridge cni0 (1.1.N.1/24, fd00:1:N::1/64), forwarding of both
 * families on, and one container `P-hN-c1` (1.1.N.2/24, fd00:1:N::2/64, default routes of both
 * families) whose host-side veth carries hg's mark, so that doctor finds it as hg's; each host
 * routes the other's subnets via its address with hg's route protocol (104).
 * `net.ipv6.conf.{all,default}.accept_dad=0` is set in every namespace before its links are
 * made (unless `dad`), so no address waits for DAD (docs: /work/shared/notes/vxlan-ipv6.md).
 *
 * Run as a script (root, from the repository) it captures the IPv6 doctor fixtures:
 * `deno run -A tests/support/ipv6_lab.ts [NAME...]` builds a fresh network per case, breaks it
 * (or makes it odd), checks that a ping from h1's container to h2's fails (or works) as the
 * case says, and writes `hg snapshot` of the case's host to tests/fixtures/doctor/ipv6/NAME.json
 * (the prefix replaced by "lab").
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

/** Runs a shell line in a named network namespace; throws with its stderr when it fails. */
export function shIn(netns: string, line: string): string {
  const r = spawnSync("nsenter", [`--net=/run/netns/${netns}`, "--", "sh", "-c", line], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${netns}: ${line}: ${r.stderr}`);
  return r.stdout;
}

/** Whether a ping from `from` to `to` is answered within `seconds` (2). */
export function pingsIn(from: string, to: string, seconds = 2): boolean {
  const argv = ["ping", "-n", "-c", "1", "-i", "0.2", "-w", String(seconds), to];
  return spawnSync("nsenter", [`--net=/run/netns/${from}`, "--", ...argv]).status === 0;
}

/** The addresses of the lab's hosts and containers (N = 1, 2). */
export const IPV6_LAB = {
  host6: (n: number) => `fd00:12::1${n}`,
  host4: (n: number) => `10.0.12.1${n}`,
  subnet6: (n: number) => `fd00:1:${n}::/64`,
  subnet4: (n: number) => `1.1.${n}.0/24`,
  container6: (n: number) => `fd00:1:${n}::2`,
  container4: (n: number) => `1.1.${n}.2`,
} as const;

/** How the lab is built. */
export interface Ipv6LabOptions {
  /** Leave DAD on (accept_dad as the kernel has it): addresses start tentative. */
  readonly dad?: boolean;
}

const QUIET_DAD =
  "sysctl -qw net.ipv6.conf.all.accept_dad=0 && sysctl -qw net.ipv6.conf.default.accept_dad=0";

function addNetns(name: string, dad: boolean): void {
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  shIn(name, `${dad ? "true" : QUIET_DAD} && ip link set lo up`);
}

/** Adds container `P-hN-cK` to host N with the given addresses (hg's mark on its veth). */
export function addContainer(
  p: string,
  n: number,
  k: number,
  address4: string,
  address6: string,
  dad = false,
): string {
  const host = `${p}-h${n}`;
  const name = `${host}-c${k}`;
  addNetns(name, dad);
  const veth = `veth${n}c${k}`;
  shIn(
    host,
    `ip link add ${veth} type veth peer name eth0 netns ${name} && ` +
      `ip link set ${veth} alias hg:${name}@${address4}/24 && ` +
      `ip link set ${veth} master cni0 up`,
  );
  shIn(
    name,
    `ip addr add ${address4}/24 dev eth0 && ip addr add ${address6}/64 dev eth0 && ` +
      `ip link set eth0 up && ip route add default via 1.1.${n}.1 dev eth0 && ` +
      `ip -6 route add default via fd00:1:${n}::1 dev eth0`,
  );
  return name;
}

/** Builds the lab with prefix `p` (anything of that prefix is removed first). */
export function buildIpv6Lab(p: string, options: Ipv6LabOptions = {}): void {
  removeIpv6Lab(p);
  const dad = options.dad ?? false;
  for (const n of [1, 2]) addNetns(`${p}-h${n}`, dad);
  shIn(`${p}-h1`, `ip link add eth0 type veth peer name eth0 netns ${p}-h2`);
  for (const n of [1, 2]) {
    const host = `${p}-h${n}`;
    const other = 3 - n;
    shIn(
      host,
      [
        `ip addr add ${IPV6_LAB.host4(n)}/24 dev eth0`,
        `ip addr add ${IPV6_LAB.host6(n)}/64 dev eth0`,
        "ip link set eth0 up",
        "ip link add cni0 type bridge",
        "ip link set cni0 alias hg:bridge",
        `ip addr add 1.1.${n}.1/24 dev cni0`,
        `ip addr add fd00:1:${n}::1/64 dev cni0`,
        "ip link set cni0 up",
        "sysctl -qw net.ipv4.ip_forward=1",
        "sysctl -qw net.ipv6.conf.all.forwarding=1",
        `ip route add ${IPV6_LAB.subnet4(other)} via ${IPV6_LAB.host4(other)} dev eth0 proto 104`,
        `ip -6 route add ${IPV6_LAB.subnet6(other)} via ${
          IPV6_LAB.host6(other)
        } dev eth0 proto 104`,
      ].join(" && "),
    );
    addContainer(p, n, 1, IPV6_LAB.container4(n), IPV6_LAB.container6(n), dad);
  }
}

/**
 * Writes both hosts' dual-stack leases (`1.1.N.0-24&fd00:1:N::-64`, via 10.0.12.1N and
 * fd00:12::1N, node `p-hN`) into the registry file `store`, whose network config `hg subnet
 * config` wrote (IPv4 1.1.0.0/16 /24 and IPv6 fd00:1::/32 /64): the lab's own subnets, which
 * allocation would not choose.
 */
export function writeIpv6Leases(p: string, store: string): void {
  const doc = JSON.parse(readFileSync(store, "utf8"));
  for (const n of [1, 2]) {
    doc.leases[`1.1.${n}.0-24&fd00:1:${n}::-64`] = {
      attrs: {
        PublicIP: IPV6_LAB.host4(n),
        PublicIPv6: IPV6_LAB.host6(n),
        BackendType: "host-gw",
        BackendData: null,
        HgNode: `${p}-h${n}`,
      },
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    };
  }
  doc.revision += 1;
  writeFileSync(store, JSON.stringify(doc));
}

/** Removes every namespace whose name starts with `p-`. */
export function removeIpv6Lab(p: string): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0];
    if (name?.startsWith(`${p}-`)) spawnSync("ip", ["netns", "del", name]);
  }
}

/** One fixture: how the lab is broken or made odd, whose snapshot, and what a ping does. */
interface Case {
  readonly dad?: boolean;
  /** The host whose snapshot is taken (default 1). */
  readonly host?: 1 | 2;
  /** Whether h1's container still reaches h2's over IPv6 (IPv4 always does). */
  readonly pings: boolean;
  readonly change: (p: string) => void;
}

/** The captured cases, by fixture name. */
export const IPV6_CASES: Readonly<Record<string, Case>> = {
  "ipv6-healthy": { pings: true, change: () => {} },
  "ipv6-forwarding-off": {
    pings: false,
    change: (p) => shIn(`${p}-h1`, "sysctl -qw net.ipv6.conf.all.forwarding=0"),
  },
  "ipv6-route-missing": {
    pings: false,
    change: (p) => shIn(`${p}-h1`, `ip -6 route del ${IPV6_LAB.subnet6(2)}`),
  },
  "ipv6-ndp-nft": {
    host: 2,
    pings: false,
    change: (p) =>
      shIn(
        `${p}-h2`,
        "printf 'table inet filter {\\n chain input {\\n  type filter hook input priority 0\\n" +
          "  icmpv6 type nd-neighbor-solicit drop\\n }\\n}\\n' | nft -f -",
      ),
  },
  "ipv6-ndp-ip6tables": {
    host: 2,
    pings: false,
    change: (p) => shIn(`${p}-h2`, "ip6tables -A INPUT -p ipv6-icmp -j DROP"),
  },
  "ipv6-forward-drop": {
    pings: false,
    change: (p) => shIn(`${p}-h1`, "ip6tables -P FORWARD DROP"),
  },
  "ipv6-gateway-failed": {
    pings: false,
    change: (p) => shIn(`${p}-h2`, `ip addr del ${IPV6_LAB.host6(2)}/64 dev eth0`),
  },
  "ipv6-dad-failed": {
    // A second container, with DAD on, given the first one's IPv6 address.
    pings: true,
    change: (p) => {
      addContainer(p, 1, 2, "1.1.1.3", IPV6_LAB.container6(1), true);
      // DAD takes about a second to fail.
      spawnSync("sleep", ["2.5"]);
    },
  },
  "ipv6-tentative": { dad: true, pings: true, change: () => {} },
  "ok-ipv6-nodad": {
    // DAD on, the global addresses added with nodad: the link-local ones still wait.
    dad: true,
    pings: true,
    change: (p) => {
      shIn(
        `${p}-h1`,
        "ip addr del fd00:1:1::1/64 dev cni0 && ip addr add fd00:1:1::1/64 dev cni0 nodad",
      );
      shIn(
        `${p}-h1`,
        "ip addr del fd00:12::11/64 dev eth0 && ip addr add fd00:12::11/64 dev eth0 nodad",
      );
      shIn(
        `${p}-h1`,
        `ip -6 route replace ${IPV6_LAB.subnet6(2)} via ${IPV6_LAB.host6(2)} dev eth0 proto 104`,
      );
      spawnSync("sleep", ["2.5"]);
    },
  },
  "ok-ipv6-echo-drop": {
    // The host refuses pings to itself; neighbour discovery and forwarded pings pass.
    pings: true,
    change: (p) =>
      shIn(
        `${p}-h1`,
        "printf 'table inet filter {\\n chain input {\\n  type filter hook input priority 0\\n" +
          "  icmpv6 type echo-request drop\\n }\\n}\\n' | nft -f -",
      ),
  },
  "ok-ipv6-ip6tables-nd-first": {
    // ICMPv6 dropped on INPUT, after neighbour discovery's types are accepted.
    pings: true,
    change: (p) =>
      shIn(
        `${p}-h1`,
        "ip6tables -A INPUT -p ipv6-icmp --icmpv6-type 135 -j ACCEPT && " +
          "ip6tables -A INPUT -p ipv6-icmp --icmpv6-type 136 -j ACCEPT && " +
          "ip6tables -A INPUT -p ipv6-icmp -j DROP",
      ),
  },
  "ok-ipv6-interface-forwarding-off": {
    // all.forwarding on, the bridge's and the uplink's own off: IPv6 still forwards.
    pings: true,
    change: (p) =>
      shIn(
        `${p}-h1`,
        "sysctl -qw net.ipv6.conf.cni0.forwarding=0 && sysctl -qw net.ipv6.conf.eth0.forwarding=0",
      ),
  },
  "ok-ipv6-unused-forwarding-off": {
    // A host without IPv6 subnets (its bridge link-local only, no IPv6 routes), forwarding off.
    pings: false,
    change: (p) =>
      shIn(
        `${p}-h1`,
        `ip addr del fd00:1:1::1/64 dev cni0 && ip -6 route del ${IPV6_LAB.subnet6(2)} && ` +
          "sysctl -qw net.ipv6.conf.all.forwarding=0 && " +
          `ip netns exec ${p}-h1-c1 ip addr del fd00:1:1::2/64 dev eth0`,
      ),
  },
};

/** Builds, changes and checks one case; returns the snapshot document of its host. */
async function captureCase(p: string, name: string, c: Case): Promise<string> {
  const { takeSnapshot } = await import("../../lib/doctor/collect.ts");
  buildIpv6Lab(p, { dad: c.dad });
  if (!c.dad && !pingsIn(`${p}-h1-c1`, IPV6_LAB.container6(2))) {
    throw new Error(`${name}: the lab does not work before the change`);
  }
  c.change(p);
  // Forget what the check's ping taught the hosts: the case's ping finds its neighbours anew.
  for (const n of [1, 2]) shIn(`${p}-h${n}`, "ip -6 neigh flush dev eth0");
  const host = `${p}-h${c.host ?? 1}`;
  const take = () => takeSnapshot({ netns: host, bridge: "cni0", hgVersion: "0.1.0", node: host });
  // The tentative case is taken at once, before DAD ends (and before a ping waits for it).
  const first = c.dad && name === "ipv6-tentative" ? await take() : undefined;
  // While DAD runs, the first packets wait for it.
  if (pingsIn(`${p}-h1-c1`, IPV6_LAB.container6(2), c.dad ? 6 : 2) !== c.pings) {
    throw new Error(`${name}: the ping ${c.pings ? "fails" : "works"}`);
  }
  if (!pingsIn(`${p}-h1-c1`, IPV6_LAB.container4(2))) throw new Error(`${name}: IPv4 broke`);
  const doc = first ?? await take();
  return JSON.stringify(doc, null, 1).replaceAll(p, "lab") + "\n";
}

if (import.meta.main) {
  const p = "hgd6c";
  const out = "tests/fixtures/doctor/ipv6";
  mkdirSync(out, { recursive: true });
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(IPV6_CASES);
  try {
    for (const name of names) {
      const c = IPV6_CASES[name];
      if (!c) throw new Error(`no case ${name}`);
      writeFileSync(`${out}/${name}.json`, await captureCase(p, name, c));
      console.log(`captured ${name}`);
    }
  } finally {
    removeIpv6Lab(p);
  }
}
