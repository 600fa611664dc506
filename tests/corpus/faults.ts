/**
 * The doctor corpus's data: real faults that stop a ping from `L-h1-c1` to h2's container, and
 * unusual set-ups that still work. Each is made in a fresh 2-host lab (file registry) by `make`,
 * with the commands an operator would type, inside the lab's namespaces only.
 *
 * The `kernel` texts say what the kernel does with the echo and where the kernel itself shows
 * it: the nstat counter that moves (per namespace), the nftables trace verdict (`nft monitor
 * trace` with nftrace set at inet prerouting/output -400), the link counter (`ip -s -s link`),
 * the neighbour state, and what `ip route get DST from SRC iif DEV` answers. They were written
 * from how the kernel works and then measured on labs (kernel 6.18, nftables 1.0.6, iptables-nft
 * 1.8.9, iproute2 6.1; br_netfilter is built in and `bridge-nf-call-iptables` is 1 in every lab
 * host). Counters are for a 2-echo ping (-c 2).
 *
 * Naming: c1 = L-h1-c1 (source, C1 = 1.1.A.2 in S1 = 1.1.A.0/24), h1 (10.0.12.11, cni0
 * 1.1.A.1), h2 (10.0.12.12, cni0 1.1.B.1), c2 = L-h2-c1 (destination, C2 = 1.1.B.2 in S2).
 * "route get X from Y iif D" is `ip route get X from Y iif D` in that host.
 *
 * @module
 */
import assert from "node:assert/strict";
import { addUplink, hgIn, ipJson, run } from "../e2e/harness.ts";

/** Where the cause sits, seen from the ping's source. */
export type Side = "sending host" | "receiving host" | "sending container" | "receiving container";

/** The ids doctor's findings use (see tests/corpus/doctor_corpus_test.ts for the contract). */
export type FindingId =
  | "forwarding-off"
  | "uplink-down"
  | "firewall-drop"
  | "nat-rewrite"
  | "policy-route"
  | "route-rejects"
  | "route-overlap"
  | "neighbour-wrong"
  | "gateway-unreachable"
  | "arp-ignored"
  | "container-route-bypass"
  | "container-no-default-route"
  | "container-no-address"
  | "container-down"
  | "peer-route-missing"
  | "rp-filter-strict"
  | "mtu-container"
  | "mtu-bridge-over-uplink"
  | "echo-ignored"
  | "address-duplicate"
  | "bridge-down"
  | "veth-down"
  | "veth-detached";

/** A lab as `make` sees it: its namespaces, addresses, and a way to run commands in them. */
export interface Lab {
  readonly name: string;
  /** The hosts' namespaces. */
  readonly h1: string;
  readonly h2: string;
  /** The containers' namespaces: c1 on h1 (the ping's source), c2 on h2 (its destination). */
  readonly c1: string;
  readonly c2: string;
  /** The underlay's namespace (bridge ul0). */
  readonly ul: string;
  /** The registry file. */
  readonly store: string;
  /** The hosts' bridge subnets (x.y.z.0/24). */
  readonly subnet1: string;
  readonly subnet2: string;
  /** The containers' addresses (no prefix length). */
  readonly c1Ip: string;
  readonly c2Ip: string;
  /** The host ends of the containers' veths. */
  readonly veth1: string;
  readonly veth2: string;
  /** An address in h1's (`in1`) or h2's (`in2`) subnet: in2(77) is x.y.B.77. */
  in1(n: number): string;
  in2(n: number): string;
  /** Runs `sh -c script` in a namespace; it must exit 0. */
  sh(netns: string, script: string): void;
  /** Runs `hg ARGS` in a namespace; it must exit 0. */
  hg(netns: string, args: readonly string[]): void;
  /** A link's MAC address. */
  mac(netns: string, dev: string): string;
}

/** One case of the corpus. */
export interface Case {
  readonly name: string;
  readonly category: string;
  readonly side: Side;
  /** Breaks (faults) or changes (working set-ups) the lab. */
  make(lab: Lab): void;
  /** Extra ping flags (before the address), e.g. a size. */
  readonly ping?: readonly string[];
  /** What the kernel does with the echo, and which kernel evidence shows it. */
  readonly kernel: string;
}

/** A fault: the ping works before `make` and fails after; doctor names `id` first. */
export interface Fault extends Case {
  readonly id: FindingId;
  /**
   * A known-good repair, in the format of doctor's fix lines (run in h1; `ip -n NS`, `ip netns
   * exec NS` and `hg` lines as doctor's): it shows the fault has this one cause. The corpus runs
   * it only with HG_CORPUS_BREAKS_ONLY=1; otherwise doctor's own fix is run.
   */
  repair(lab: Lab): string[];
}

/** A set-up that looks odd but works: the ping works after `make`; doctor says ok. */
export type WorkingSetup = Case;

/** The address `n` hosts above a subnet's network address (IPv4). */
export function addressIn(subnet: string, n: number): string {
  const [net] = subnet.split("/");
  const value = net.split(".").reduce((a, o) => a * 256 + Number(o), 0) + n;
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join(".");
}

/** An IPv4 address as 8 hex digits (for u32 and string matches). */
export function hexAddress(ip: string): string {
  return ip.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join("");
}

/** Runs `sh -c script` in a namespace; it must exit 0. */
export function shIn(netns: string, script: string): void {
  const r = run("nsenter", [`--net=/run/netns/${netns}`, "--", "sh", "-c", script]);
  assert.equal(r.code, 0, `${netns}: ${script}: ${r.stderr}`);
}

/** The lab `name` (2 hosts, file registry, one container each) as `make` sees it. */
export function openLab(name: string): Lab {
  const [h1, h2] = [`${name}-h1`, `${name}-h2`];
  const status = (host: string) => {
    const r = hgIn(host, ["status", "--json"]);
    assert.equal(r.code, 0, `${host}: hg status: ${r.stderr}`);
    return JSON.parse(r.stdout) as {
      bridge: { subnet: string };
      containers: { name: string; address: string; hostVeth: string }[];
    };
  };
  const [s1, s2] = [status(h1), status(h2)];
  const c1 = s1.containers.find((c) => c.name === `${h1}-c1`)!;
  const c2 = s2.containers.find((c) => c.name === `${h2}-c1`)!;
  return {
    name,
    h1,
    h2,
    c1: c1.name,
    c2: c2.name,
    ul: `${name}-ul`,
    store: `/run/hg/lab-${name}/subnets.json`,
    subnet1: s1.bridge.subnet,
    subnet2: s2.bridge.subnet,
    c1Ip: c1.address.split("/")[0],
    c2Ip: c2.address.split("/")[0],
    veth1: c1.hostVeth,
    veth2: c2.hostVeth,
    in1: (n) => addressIn(s1.bridge.subnet, n),
    in2: (n) => addressIn(s2.bridge.subnet, n),
    sh: shIn,
    hg: (netns, args) => {
      const r = hgIn(netns, args);
      assert.equal(r.code, 0, `${netns}: hg ${args.join(" ")}: ${r.stderr}`);
    },
    mac: (netns, dev) => (ipJson(netns, ["link", "show", dev]) as { address: string }[])[0].address,
  };
}

/** Gives `host` a second uplink `eth1` with `address` on the underlay bridge. */
function secondUplink(lab: Lab, host: string, address: string): void {
  addUplink(lab.name, host, address, `${host === lab.h1 ? "ub1" : "ub2"}${lab.name}`.slice(0, 15));
}

/** An nft script as a here-document for `sh -c`. */
const nft = (script: string) => `nft -f - <<'EOF'\n${script}\nEOF`;

/** One nft table with one base chain: `table FAMILY hgt { chain NAME { SPEC; RULES } }`. */
const nftChain = (family: string, name: string, spec: string, ...rules: string[]) =>
  nft(
    `table ${family} hgt {\n  chain ${name} {\n    ${spec};\n` +
      rules.map((r) => `    ${r}\n`).join("") + "  }\n}",
  );

/** `hg peer sync` for a host, as a fix line run from h1. */
const peerSync = (lab: Lab, host: string) =>
  `${
    host === lab.h1 ? "" : `ip netns exec ${host} `
  }hg peer sync --store ${lab.store} --node ${host}`;

/**
 * The faults. Each stops the ping (asserted), and each has one cause: the id doctor must
 * name first.
 */
export const FAULTS: readonly Fault[] = [
  // ---- uplinks -------------------------------------------------------------------------------
  {
    name: "the peer host's uplink is down",
    category: "uplink",
    side: "receiving host",
    id: "uplink-down",
    make: (lab) => lab.sh(lab.h2, "ip link set eth0 down"),
    repair: (lab) => [`ip -n ${lab.h2} link set eth0 up`, peerSync(lab, lab.h2)],
    kernel: "Admin-down removes every IPv4 route through the device: h2 loses 10.0.12.0/22 and " +
      "hg's route to S1 (route get C1 from C2 iif cni0 on h2: 'Network is unreachable'), so the " +
      "repair is link up AND the routes back. h1 still forwards (IpForwDatagrams +2; its " +
      "neighbour entry for 10.0.12.12 stays REACHABLE for a while, then fails); h2 counts nothing.",
  },
  {
    name: "this host's own uplink is down",
    category: "uplink",
    side: "sending host",
    id: "uplink-down",
    make: (lab) => lab.sh(lab.h1, "ip link set eth0 down"),
    repair: (lab) => ["ip link set eth0 up", peerSync(lab, lab.h1)],
    kernel: "The peer route went with the link: route get C2 from C1 iif cni0 on h1 'Network " +
      "is unreachable', IpExtInNoRoutes +2 and IcmpOutDestUnreachs +2 on h1, c1 gets 'Destination " +
      "Net Unreachable' from 1.1.A.1. A static reader sees 'no route'; the cause is the link.",
  },
  // ---- forwarding ----------------------------------------------------------------------------
  {
    name: "forwarding off on the sending host's bridge (per interface)",
    category: "forwarding",
    side: "sending host",
    id: "forwarding-off",
    make: (lab) => lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.cni0.forwarding=0"),
    repair: () => ["sysctl -qw net.ipv4.conf.cni0.forwarding=1"],
    kernel: "IPv4 forwarding is decided by the INPUT interface's conf.IF.forwarding (ip_forward " +
      "stays 1): route get C2 from C1 iif cni0 on h1 'No route to host'; h1 counts " +
      "IpInAddrErrors +2 (not InNoRoutes) and drops silently, no ICMP to c1.",
  },
  {
    name: "forwarding off on the receiving host's uplink (per interface)",
    category: "forwarding",
    side: "receiving host",
    id: "forwarding-off",
    make: (lab) => lab.sh(lab.h2, "sysctl -qw net.ipv4.conf.eth0.forwarding=0"),
    repair: (lab) => [`ip netns exec ${lab.h2} sysctl -qw net.ipv4.conf.eth0.forwarding=1`],
    kernel: "The echo enters h2 on eth0: route get C2 from C1 iif eth0 on h2 'No route to " +
      "host', IpInAddrErrors +2 on h2, silent drop. h1 forwarded it normally.",
  },
  {
    name: "forwarding off on the sending host's uplink: the replies cannot come back",
    category: "forwarding",
    side: "sending host",
    id: "forwarding-off",
    make: (lab) => lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.eth0.forwarding=0"),
    repair: () => ["sysctl -qw net.ipv4.conf.eth0.forwarding=1"],
    kernel: "The echo goes out (it entered on cni0) and c2 answers (IcmpOutEchoReps +2 in c2); " +
      "the reply enters h1 on eth0: route get C1 from C2 iif eth0 on h1 'No route to host', " +
      "IpInAddrErrors +2 on h1. Only the reverse direction shows it.",
  },
  // ---- policy routing ------------------------------------------------------------------------
  {
    name: "a rule sends the peer subnet to a table holding a blackhole",
    category: "policy routing",
    side: "sending host",
    id: "policy-route",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `ip route add blackhole ${lab.subnet2} table 100 && ` +
          `ip rule add to ${lab.subnet2} lookup 100 pref 100`,
      ),
    repair: () => ["ip rule del pref 100"],
    kernel: "Rule 100 is looked up before main: route get C2 from C1 iif cni0 on h1 answers " +
      "'Invalid argument' (a blackhole on the input path is EINVAL; without iif it prints " +
      "'blackhole C2 table 100'). Silent drop, no nstat counter but IpInReceives.",
  },
  {
    name: "a rule sends the replies to a table holding an unreachable default",
    category: "policy routing",
    side: "receiving host",
    id: "policy-route",
    make: (lab) =>
      lab.sh(
        lab.h2,
        "ip route add unreachable default table 101 && " +
          `ip rule add from ${lab.subnet2} to ${lab.subnet1} lookup 101 pref 101`,
      ),
    repair: (lab) => [`ip -n ${lab.h2} rule del pref 101`],
    kernel: "The echo arrives and is answered; the reply enters h2 on cni0 and rule 101 picks " +
      "table 101: route get C1 from C2 iif cni0 on h2 'No route to host'; h2 " +
      "IcmpOutDestUnreachs +2, c2 IcmpInDestUnreachs +2.",
  },
  {
    name: "a rule for the bridge's traffic to a table with a wrong gateway",
    category: "policy routing",
    side: "sending host",
    id: "policy-route",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `ip route add ${lab.subnet2} via 10.0.12.19 dev eth0 table 102 && ` +
          "ip rule add iif cni0 lookup 102 pref 102",
      ),
    repair: () => ["ip rule del pref 102"],
    kernel: "route get C2 from C1 iif cni0 on h1 answers 'via 10.0.12.19 dev eth0 table 102' " +
      "(without iif: main's route, the rule is iif-only). IpForwDatagrams +2 on h1, neighbour " +
      "10.0.12.19 FAILED: the echoes die unresolved.",
  },
  {
    name: "a prohibit rule for the destination",
    category: "policy routing",
    side: "sending host",
    id: "policy-route",
    make: (lab) => lab.sh(lab.h1, `ip rule add to ${lab.c2Ip} prohibit pref 103`),
    repair: () => ["ip rule del pref 103"],
    kernel: "route get C2 from C1 iif cni0 on h1 'Permission denied'; h1 IcmpOutDestUnreachs +2, " +
      "c1 prints 'Packet filtered' (type 3 code 13).",
  },
  {
    name: "a fwmark rule fed by a mangle mark sends the replies to a table with a wrong gateway",
    category: "policy routing",
    side: "receiving host",
    id: "policy-route",
    make: (lab) =>
      lab.sh(
        lab.h2,
        "iptables -t mangle -A PREROUTING -i cni0 -p icmp -j MARK --set-mark 0x42 && " +
          "ip route add default via 10.0.12.19 dev eth0 table 104 && " +
          "ip rule add fwmark 0x42 lookup 104 pref 104",
      ),
    repair: (lab) => [`ip -n ${lab.h2} rule del pref 104`],
    kernel: "Trace on h2: 'ip mangle PREROUTING rule ... meta mark set 0x42 (verdict continue)'. " +
      "route get C1 from C2 iif cni0 on h2 shows the RIGHT route unless 'mark 0x42' is added " +
      "(then table 104 via 10.0.12.19): the mark must come from the trace. Neighbour 10.0.12.19 " +
      "FAILED on h2.",
  },
  // ---- netfilter, by family / table / hook ---------------------------------------------------
  {
    name: "iptables filter FORWARD rejects the peer subnet (sending host)",
    category: "netfilter ip filter forward (reject)",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `iptables -A FORWARD -d ${lab.subnet2} -p icmp -j REJECT --reject-with icmp-host-prohibited`,
      ),
    repair: () => ["iptables -F FORWARD"],
    kernel: "Trace on h1: 'ip filter FORWARD rule ... reject with icmp type host-prohibited " +
      "(verdict drop)'; h1 IcmpOutDestUnreachs +2, c1 'Destination Host Prohibited'. " +
      "IpForwDatagrams still moves on h1 (counted before the FORWARD hook).",
  },
  {
    name: "iptables mangle PREROUTING drops the echo on the receiving host",
    category: "netfilter ip mangle prerouting",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        "iptables -t mangle -A PREROUTING -i eth0 -p icmp --icmp-type echo-request -j DROP",
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} iptables -t mangle -F PREROUTING`],
    kernel: "Trace on h2: 'ip mangle PREROUTING rule ... drop (verdict drop)'; h2 IpInReceives " +
      "+2 and nothing else (routing never ran).",
  },
  {
    name: "iptables raw PREROUTING drops the replies on the sending host",
    category: "netfilter ip raw prerouting",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        "iptables -t raw -A PREROUTING -i eth0 -p icmp --icmp-type echo-reply -j DROP",
      ),
    repair: () => ["iptables -t raw -F PREROUTING"],
    kernel: "The round trip happens (IcmpOutEchoReps +2 in c2, IpForwDatagrams +4 on h2); the " +
      "reply dies in h1's raw table: trace 'ip raw PREROUTING rule ... (verdict drop)'; h1 " +
      "IpForwDatagrams +2 only (the echoes).",
  },
  {
    name: "iptables mangle POSTROUTING drops ICMP leaving the uplink",
    category: "netfilter ip mangle postrouting",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) => lab.sh(lab.h1, "iptables -t mangle -A POSTROUTING -o eth0 -p icmp -j DROP"),
    repair: () => ["iptables -t mangle -F POSTROUTING"],
    kernel: "Routed and forwarded (IpForwDatagrams +2 on h1), dropped at the last IP hook: " +
      "trace 'ip mangle POSTROUTING rule oifname \"eth0\" ... (verdict drop)'; h2 sees nothing.",
  },
  {
    name: "an nft ip-family forward chain with policy drop on the receiving host",
    category: "netfilter nft ip forward (policy)",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(lab.h2, nftChain("ip", "hgfwd", "type filter hook forward priority 0; policy drop")),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table ip hgt`],
    kernel: "Trace on h2: 'ip hgt hgfwd policy drop' (no rule line: the chain's policy). " +
      "IpForwDatagrams +2 on h2 all the same.",
  },
  {
    name: "an nft inet prerouting rule drops echo requests on the receiving host",
    category: "netfilter nft inet prerouting",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain(
          "inet",
          "pre",
          "type filter hook prerouting priority -150",
          "icmp type echo-request drop",
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table inet hgt`],
    kernel: "Trace on h2: 'inet hgt pre rule icmp type echo-request drop (verdict drop)'; h2 " +
      "IpInReceives +2 only; every route get on the path is fine.",
  },
  {
    name: "an nft ip postrouting rule drops ICMP going into the receiving host's bridge",
    category: "netfilter nft ip postrouting",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain(
          "ip",
          "post",
          "type filter hook postrouting priority 100",
          'oifname "cni0" ip protocol icmp drop',
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table ip hgt`],
    kernel: "Forwarded on h2 (IpForwDatagrams +2), dropped at postrouting: trace 'ip hgt post " +
      'rule oifname "cni0" ip protocol icmp drop\'; c2 counts nothing.',
  },
  {
    name: "an nft bridge prerouting rule drops ICMP from the source container's port",
    category: "netfilter bridge prerouting",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        nftChain(
          "bridge",
          "pre",
          "type filter hook prerouting priority -200",
          `iifname "${lab.veth1}" ip protocol icmp drop`,
        ),
      ),
    repair: () => ["nft delete table bridge hgt"],
    kernel: "The frame dies entering cni0 from the veth, before IP: h1's nstat does not move at " +
      "all (no IpInReceives); only the host veth's RX moves. An inet trace rule never sees it: " +
      "the trace needs a bridge-family nftrace rule (prerouting < -200).",
  },
  {
    name: "an nft bridge input rule drops the replies going up from the receiving host's bridge",
    category: "netfilter bridge input",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain("bridge", "in", "type filter hook input priority 0", "icmp type echo-reply drop"),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table bridge hgt`],
    kernel: "c2's reply is addressed to cni0's MAC, so the bridge passes it up through its input " +
      "hook: trace 'bridge hgt in rule icmp type echo-reply drop (verdict drop)'. The echo " +
      "arrived (IcmpInEchos/IcmpOutEchoReps +2 in c2); h2 IpForwDatagrams +2 = the echoes only.",
  },
  {
    name: "an nft bridge output chain with policy drop on the receiving host",
    category: "netfilter bridge output (policy)",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain("bridge", "out", "type filter hook output priority 0; policy drop"),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table bridge hgt`],
    kernel: "Everything h2's IP stack sends into cni0 meets bridge output: trace 'bridge hgt out " +
      "policy drop'; IpForwDatagrams +2 on h2, c2's counters still. h2's ARP for C2 is dropped " +
      "too: its neighbour entry goes PROBE -> FAILED (a symptom, not the cause).",
  },
  {
    name: "an nft bridge postrouting rule drops the replies to the source container's port",
    category: "netfilter bridge postrouting",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        nftChain(
          "bridge",
          "post",
          "type filter hook postrouting priority 0",
          `oifname "${lab.veth1}" icmp type echo-reply drop`,
        ),
      ),
    repair: () => ["nft delete table bridge hgt"],
    kernel: "The reply is forwarded by h1 (IpForwDatagrams +4: echoes and replies) into cni0 " +
      "and dropped at bridge postrouting before the veth: trace 'bridge hgt post rule oifname " +
      "VETH icmp type echo-reply drop'.",
  },
  {
    name: "a netdev ingress rule on the receiving host's uplink drops ICMP",
    category: "netfilter netdev ingress",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain(
          "netdev",
          "in",
          "type filter hook ingress device eth0 priority 0",
          "ip protocol icmp drop",
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table netdev hgt`],
    kernel: "Dropped at the earliest hook: h2's nstat does not move (no IpInReceives), eth0 RX " +
      "does. No inet/ip trace sees it: only a netdev-family trace rule on eth0 shows 'netdev " +
      "hgt in rule ip protocol icmp drop'.",
  },
  {
    name: "a netdev egress rule on the sending host's uplink drops the peer subnet",
    category: "netfilter netdev egress",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        nftChain(
          "netdev",
          "out",
          "type filter hook egress device eth0 priority 0",
          `ip daddr ${lab.subnet2} drop`,
        ),
      ),
    repair: () => ["nft delete table netdev hgt"],
    kernel: "Past every IP hook (IpForwDatagrams +2 on h1), dropped in eth0's egress hook: trace " +
      "'netdev hgt out rule ip daddr S2 drop (verdict drop)' (the nftrace bit set earlier " +
      "survives to egress); h2 sees nothing.",
  },
  {
    name: "an nft arp-family rule on the peer host drops ARP requests",
    category: "netfilter arp input",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) => {
      lab.sh(
        lab.h2,
        nftChain("arp", "in", "type filter hook input priority 0", "arp operation request drop"),
      );
      // Forget 10.0.12.12 now rather than in 15-45 s, when the entry would go stale.
      lab.sh(lab.h1, "ip neigh flush dev eth0");
    },
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table arp hgt`],
    kernel: "h1 forwards (IpForwDatagrams +2) but cannot resolve 10.0.12.12: neighbour FAILED " +
      "on h1; h2 counts no IP at all. The drop is visible only to an arp-family trace rule on h2 " +
      "('arp hgt in rule arp operation request drop').",
  },
  {
    name: "an nft arp-family rule in the destination container drops its ARP replies",
    category: "netfilter arp output",
    side: "receiving container",
    id: "firewall-drop",
    make: (lab) => {
      lab.sh(
        lab.c2,
        nftChain("arp", "out", "type filter hook output priority 0", "arp operation reply drop"),
      );
      lab.sh(lab.h2, "ip neigh flush dev cni0");
    },
    repair: (lab) => [`ip netns exec ${lab.c2} nft delete table arp hgt`],
    kernel: "h2 forwards into cni0 (IpForwDatagrams +2) and cannot resolve C2: h2's neighbour " +
      "entry for C2 on cni0 FAILED; c2 counts no IP. (c2 cannot teach h2 its MAC by an ARP of its " +
      "own: it only sends after receiving the echo.)",
  },
  {
    name: "an nft ip output rule in the source container drops the destination",
    category: "netfilter nft ip output (container)",
    side: "sending container",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.c1,
        nftChain("ip", "out", "type filter hook output priority 0", `ip daddr ${lab.c2Ip} drop`),
      ),
    repair: (lab) => [`ip netns exec ${lab.c1} nft delete table ip hgt`],
    kernel: "Trace in c1: 'ip hgt out rule ip daddr C2 drop (verdict drop)'; c1 IpOutDiscards " +
      "+2; nothing reaches h1 (ping prints no error: the drop is silent to the socket here).",
  },
  {
    name: "iptables INPUT in the source container drops echo replies",
    category: "netfilter ip filter input (container)",
    side: "sending container",
    id: "firewall-drop",
    make: (lab) => lab.sh(lab.c1, "iptables -A INPUT -p icmp --icmp-type echo-reply -j DROP"),
    repair: (lab) => [`ip netns exec ${lab.c1} iptables -F INPUT`],
    kernel: "The whole round trip happens (h1 IpForwDatagrams +4, c2 IcmpOutEchoReps +2); c1 " +
      "IpInReceives +2 then trace 'ip filter INPUT rule ... echo-reply ... (verdict drop)'; c1 " +
      "IcmpInEchoReps does not move.",
  },
  {
    name: "iptables INPUT policy DROP in the destination container",
    category: "netfilter ip filter input (container, policy)",
    side: "receiving container",
    id: "firewall-drop",
    make: (lab) => lab.sh(lab.c2, "iptables -P INPUT DROP"),
    repair: (lab) => [`ip netns exec ${lab.c2} iptables -P INPUT ACCEPT`],
    kernel: "c2 IpInReceives +2, trace 'ip filter INPUT policy drop', IcmpInEchos still.",
  },
  {
    name: "an nft inet output rule in the destination container rejects its echo replies",
    category: "netfilter nft inet output (container, reject)",
    side: "receiving container",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.c2,
        nftChain(
          "inet",
          "out",
          "type filter hook output priority 0",
          "icmp type echo-reply reject",
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.c2} nft delete table inet hgt`],
    kernel: "c2 IcmpInEchos +2 and IcmpOutEchoReps +2 (counted before the hook), IpOutDiscards " +
      "+2; trace 'inet hgt out rule icmp type echo-reply reject with icmp port-unreachable " +
      "(verdict drop)'. The reject's own ICMP goes to c2 itself.",
  },
  {
    name: "a netdev ingress rule in the destination container drops echo requests",
    category: "netfilter netdev ingress (container)",
    side: "receiving container",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.c2,
        nftChain(
          "netdev",
          "in",
          "type filter hook ingress device eth0 priority 0",
          "icmp type echo-request drop",
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.c2} nft delete table netdev hgt`],
    kernel: "Both hosts forward it (IpForwDatagrams +2 each), c2's eth0 RX moves, c2's nstat " +
      "does not: the only kernel witness is a netdev trace rule on c2's eth0.",
  },
  // ---- netfilter matches doctor is unlikely to model -----------------------------------------
  {
    name: "iptables -m length drops large packets in FORWARD",
    category: "netfilter match length",
    side: "receiving host",
    id: "firewall-drop",
    ping: ["-s", "1200"],
    make: (lab) => lab.sh(lab.h2, "iptables -A FORWARD -m length --length 1000:65535 -j DROP"),
    repair: (lab) => [`ip netns exec ${lab.h2} iptables -F FORWARD`],
    kernel:
      "Only 1000+ byte packets (a 56-byte ping passes): trace on h2 'ip filter FORWARD rule " +
      "meta length 1000-65535 ... drop' (iptables-nft translates -m length to meta length). A " +
      "probe must send a large echo to meet it.",
  },
  {
    name: "iptables -m ttl drops what is not from a direct neighbour (GTSM-like)",
    category: "netfilter match ttl",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(lab.h2, "iptables -t mangle -A PREROUTING -i eth0 -m ttl --ttl-lt 64 -j DROP"),
    repair: (lab) => [`ip netns exec ${lab.h2} iptables -t mangle -F PREROUTING`],
    kernel: "c1 sends TTL 64 and h1 decrements it when forwarding: 63 at h2's prerouting " +
      '(replies show ttl=62 at c1): trace \'ip mangle PREROUTING rule iifname "eth0" ip ttl lt 64 ' +
      "... drop'. h2 IpInReceives +2 only.",
  },
  {
    name: "iptables -m u32 drops ICMP to the destination",
    category: "netfilter match u32",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `iptables -A FORWARD -m u32 --u32 "6&0xFF=1&&16=0x${hexAddress(lab.c2Ip)}" -j DROP`,
      ),
    repair: () => ["iptables -F FORWARD"],
    kernel: "u32 reads raw header words (protocol byte 1, destination word C2); the trace shows " +
      "only 'ip filter FORWARD rule xt match u32 counter ... drop (verdict drop)': the rule's " +
      "meaning is in iptables -S, not in nft's view.",
  },
  {
    name: "iptables -m string drops packets carrying the destination's address bytes",
    category: "netfilter match string",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        `iptables -A FORWARD -m string --algo bm --hex-string "|${hexAddress(lab.c2Ip)}|" ` +
          "--from 16 --to 20 -j DROP",
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} iptables -F FORWARD`],
    kernel: "The string match searches from the IP header (offsets 16..20 = the destination " +
      "address), so it hits any echo whatever its payload: trace on h2 'ip filter FORWARD rule " +
      "xt match string counter ... drop (verdict drop)'.",
  },
  {
    name: "nft meta length drops large packets in forward",
    category: "netfilter match nft meta length",
    side: "sending host",
    id: "firewall-drop",
    ping: ["-s", "1200"],
    make: (lab) =>
      lab.sh(
        lab.h1,
        nftChain("inet", "hgfwd", "type filter hook forward priority 0", "meta length > 1000 drop"),
      ),
    repair: () => ["nft delete table inet hgt"],
    kernel: "Small echoes pass, 1228-byte ones die: trace on h1 'inet hgt hgfwd rule meta length " +
      "> 1000 drop (verdict drop)'. (Chains cannot be named 'fwd': a keyword in nft 1.0.6.)",
  },
  {
    name: "nft ip dscp drops unmarked (CS0) traffic to the peer subnet",
    category: "netfilter match nft ip dscp",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain(
          "inet",
          "hgfwd",
          "type filter hook forward priority 0",
          `ip daddr ${lab.subnet2} ip dscp cs0 drop`,
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table inet hgt`],
    kernel: "ping sends TOS 0 = DSCP cs0: trace on h2 'inet hgt hgfwd rule ip daddr S2 ip dscp " +
      "cs0 drop (verdict drop)'; ping -Q 0x20 would pass.",
  },
  {
    name: "an nft set of blocked networks holds the peer subnet",
    category: "netfilter match nft set",
    side: "sending host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h1,
        nft(
          "table inet hgt {\n  set blocked {\n    type ipv4_addr; flags interval;\n" +
            `    elements = { 192.0.2.0/24, ${lab.subnet2} }\n  }\n` +
            "  chain hgfwd {\n    type filter hook forward priority 0;\n" +
            "    ip daddr @blocked drop\n  }\n}",
        ),
      ),
    repair: () => ["nft delete table inet hgt"],
    kernel: "Trace on h1 'inet hgt hgfwd rule ip daddr @blocked drop (verdict drop)'; why it " +
      "matched is in the set's elements (nft list set inet hgt blocked), not in the rule.",
  },
  {
    name: "nft ct state new drop on the receiving host's uplink",
    category: "netfilter match conntrack",
    side: "receiving host",
    id: "firewall-drop",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain(
          "inet",
          "hgfwd",
          "type filter hook forward priority 0",
          'iifname "eth0" ct state new drop',
        ),
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} nft delete table inet hgt`],
    kernel: "Each ping has a new ICMP id, so a NEW conntrack entry on h2: trace 'inet hgt hgfwd " +
      'rule iifname "eth0" ct state new drop (verdict drop)\'.',
  },
  // ---- NAT -----------------------------------------------------------------------------------
  {
    name: "DNAT on the receiving host sends the echo to an address nobody has",
    category: "nat",
    side: "receiving host",
    id: "nat-rewrite",
    make: (lab) =>
      lab.sh(
        lab.h2,
        `iptables -t nat -A PREROUTING -d ${lab.c2Ip} -p icmp -j DNAT --to-destination ${
          lab.in2(77)
        }`,
      ),
    repair: (lab) => [`ip netns exec ${lab.h2} iptables -t nat -F PREROUTING`],
    kernel: "Trace on h2: 'ip nat PREROUTING rule ... dnat to x.y.B.77 (verdict accept)' (an " +
      "accept: no drop verdict anywhere); IpForwDatagrams +2 on h2, neighbour x.y.B.77 on cni0 " +
      "FAILED, c2 counts nothing. /proc/net/nf_conntrack in h2 shows the rewritten tuple.",
  },
  {
    name: "DNAT in the source container's nat OUTPUT",
    category: "nat",
    side: "sending container",
    id: "nat-rewrite",
    make: (lab) =>
      lab.sh(
        lab.c1,
        `iptables -t nat -A OUTPUT -d ${lab.c2Ip} -j DNAT --to-destination ${lab.in2(99)}`,
      ),
    repair: (lab) => [`ip netns exec ${lab.c1} iptables -t nat -F OUTPUT`],
    kernel: "Trace in c1: 'ip nat OUTPUT rule ip daddr C2 ... dnat to x.y.B.99 (verdict " +
      "accept)'; both hosts forward it (IpForwDatagrams +2 each) to .99, FAILED on h2's cni0.",
  },
  {
    name: "SNAT to an address nobody has on the sending host",
    category: "nat",
    side: "sending host",
    id: "nat-rewrite",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `iptables -t nat -A POSTROUTING -s ${lab.subnet1} -o eth0 -j SNAT --to-source 10.0.12.77`,
      ),
    repair: () => ["iptables -t nat -F POSTROUTING"],
    kernel: "Trace on h1: 'ip nat POSTROUTING rule ... snat to 10.0.12.77 (verdict accept)'; c2 " +
      "answers (IcmpOutEchoReps +2), h2 forwards the replies to 10.0.12.77 on the segment " +
      "(IpForwDatagrams +4) and its neighbour entry for 10.0.12.77 goes FAILED.",
  },
  // ---- neighbours ----------------------------------------------------------------------------
  {
    name: "a permanent ARP entry with a wrong MAC for the peer host",
    category: "neighbour",
    side: "sending host",
    id: "neighbour-wrong",
    make: (lab) =>
      lab.sh(lab.h1, "ip neigh replace 10.0.12.12 lladdr 02:00:00:00:00:99 dev eth0 nud permanent"),
    repair: () => ["ip neigh del 10.0.12.12 dev eth0"],
    kernel: "h1 forwards (IpForwDatagrams +2) to 02:00:00:00:00:99 (ip neigh: PERMANENT); the " +
      "underlay floods it, h2's eth0 takes it as PACKET_OTHERHOST and drops it before IP: " +
      "'otherhost' in h2's `ip -s -s link show eth0` RX errors (iproute2 6.1 prints it in text, " +
      "not in -j); h2's nstat still.",
  },
  {
    name: "a permanent ARP entry with a wrong MAC for the container on the receiving bridge",
    category: "neighbour",
    side: "receiving host",
    id: "neighbour-wrong",
    make: (lab) =>
      lab.sh(
        lab.h2,
        `ip neigh replace ${lab.c2Ip} lladdr 02:00:00:00:00:98 dev cni0 nud permanent`,
      ),
    repair: (lab) => [`ip -n ${lab.h2} neigh del ${lab.c2Ip} dev cni0`],
    kernel: "h2 forwards (IpForwDatagrams +2) to 02:00:00:00:00:98 on cni0; the bridge floods " +
      "the unknown MAC to the veth and c2 drops it as otherhost (c2's eth0 'otherhost' moves, " +
      "its nstat does not).",
  },
  {
    name: "the peer host's uplink has ARP off",
    category: "neighbour",
    side: "receiving host",
    id: "gateway-unreachable",
    make: (lab) => {
      lab.sh(lab.h2, "ip link set eth0 arp off");
      lab.sh(lab.h1, "ip neigh flush dev eth0");
    },
    repair: (lab) => [`ip -n ${lab.h2} link set eth0 arp on`],
    kernel: "A NOARP device ignores ARP: h1's neighbour entry for 10.0.12.12 FAILED, h1 " +
      "IpForwDatagrams +2 and nothing leaves; h2 flushed its own ARP entries on the flag change. " +
      "`ip link` on h2 shows NOARP.",
  },
  // ---- routes --------------------------------------------------------------------------------
  {
    name: "a /32 route to the destination via the wrong host",
    category: "route",
    side: "sending host",
    id: "route-overlap",
    make: (lab) => lab.sh(lab.h1, `ip route add ${lab.c2Ip}/32 via 10.0.12.19 dev eth0`),
    repair: (lab) => [`ip route del ${lab.c2Ip}/32`],
    kernel: "Longest match: route get C2 from C1 iif cni0 on h1 answers 'via 10.0.12.19 dev " +
      "eth0' (not hg's /24 via 10.0.12.12); IpForwDatagrams +2, neighbour 10.0.12.19 FAILED.",
  },
  {
    name: "a /32 route back to the source via the wrong host on the receiving host",
    category: "route",
    side: "receiving host",
    id: "route-overlap",
    make: (lab) => lab.sh(lab.h2, `ip route add ${lab.c1Ip}/32 via 10.0.12.19 dev eth0`),
    repair: (lab) => [`ip -n ${lab.h2} route del ${lab.c1Ip}/32`],
    kernel: "Echo answered; route get C1 from C2 iif cni0 on h2 answers 'via 10.0.12.19'; h2 " +
      "IpForwDatagrams +4 (echoes and replies), neighbour 10.0.12.19 FAILED on h2.",
  },
  {
    name: "a blackhole route for the destination",
    category: "route",
    side: "sending host",
    id: "route-rejects",
    make: (lab) => lab.sh(lab.h1, `ip route add blackhole ${lab.c2Ip}/32`),
    repair: (lab) => [`ip route del blackhole ${lab.c2Ip}/32`],
    kernel: "route get C2 from C1 iif cni0 on h1: 'Invalid argument' (blackhole, input path); " +
      "without iif: 'blackhole C2'. h1 IpInReceives +2, nothing else: silent.",
  },
  {
    name: "a prohibit route for the source on the receiving host",
    category: "route",
    side: "receiving host",
    id: "route-rejects",
    make: (lab) => lab.sh(lab.h2, `ip route add prohibit ${lab.c1Ip}/32`),
    repair: (lab) => [`ip -n ${lab.h2} route del prohibit ${lab.c1Ip}/32`],
    kernel: "It hits the replies: route get C1 from C2 iif cni0 on h2 'Permission denied'; h2 " +
      "IcmpOutDestUnreachs +2 to c2 (IcmpInDestUnreachs +2 in c2).",
  },
  {
    name: "an unreachable route for the destination on the receiving host",
    category: "route",
    side: "receiving host",
    id: "route-rejects",
    make: (lab) => lab.sh(lab.h2, `ip route add unreachable ${lab.c2Ip}/32`),
    repair: (lab) => [`ip -n ${lab.h2} route del unreachable ${lab.c2Ip}/32`],
    kernel: "It beats cni0's connected /24: route get C2 from C1 iif eth0 on h2 'No route to " +
      "host'; c1 prints 'From 10.0.12.12 Destination Host Unreachable'.",
  },
  {
    name: "the receiving host has no route back to the source's subnet",
    category: "route",
    side: "receiving host",
    id: "peer-route-missing",
    make: (lab) => lab.sh(lab.h2, `ip route del ${lab.subnet1}`),
    repair: (lab) => [peerSync(lab, lab.h2)],
    kernel: "Echo answered; route get C1 from C2 iif cni0 on h2 'Network is unreachable', h2 " +
      "IpExtInNoRoutes +2 and IcmpOutDestUnreachs +2 (to c2).",
  },
  {
    name: "strict rp_filter on the sending host whose route leaves by a second uplink",
    category: "route",
    side: "sending host",
    id: "rp-filter-strict",
    make: (lab) => {
      secondUplink(lab, lab.h1, "10.0.12.111");
      // Each interface answers ARP only for its own address: h2 reaches 10.0.12.11 on eth0.
      lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.all.arp_ignore=1");
      lab.sh(lab.h1, `ip route replace ${lab.subnet2} via 10.0.12.12 dev eth1 proto 104`);
      lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.eth0.rp_filter=1");
    },
    repair: () => ["sysctl -qw net.ipv4.conf.eth0.rp_filter=2"],
    kernel: "The echo leaves by eth1, the reply comes back on eth0 while the route to C2 is " +
      "eth1: h1 TcpExtIPReversePathFilter +2, and route get C1 from C2 iif eth0 on h1 answers " +
      "'Invalid argument' (EINVAL here, not EXDEV).",
  },
  // ---- containers ----------------------------------------------------------------------------
  {
    name: "the source container routes the peer subnet on-link, bypassing the bridge gateway",
    category: "container route",
    side: "sending container",
    id: "container-route-bypass",
    make: (lab) => lab.sh(lab.c1, `ip route add ${lab.subnet2} dev eth0`),
    repair: (lab) => [`ip -n ${lab.c1} route del ${lab.subnet2} dev eth0`],
    kernel: "route get C2 in c1: 'dev eth0 src C1', no via; c1 ARPs for C2 on its veth, nobody " +
      "answers (proxy_arp off on cni0): c1's neighbour entry for C2 FAILED, h1 counts nothing.",
  },
  {
    name: "the destination container routes the source subnet on-link",
    category: "container route",
    side: "receiving container",
    id: "container-route-bypass",
    make: (lab) => lab.sh(lab.c2, `ip route add ${lab.subnet1} dev eth0`),
    repair: (lab) => [`ip -n ${lab.c2} route del ${lab.subnet1} dev eth0`],
    kernel: "c2 IcmpInEchos +2 and IcmpOutEchoReps +2, but the reply waits for ARP of C1 on the " +
      "veth: c2's neighbour entry for C1 FAILED; h2 IpForwDatagrams +2 (echoes only).",
  },
  {
    name: "the destination container has no default route: no way back",
    category: "container route",
    side: "receiving container",
    id: "container-no-default-route",
    make: (lab) => lab.sh(lab.c2, "ip route del default"),
    repair: (lab) => [`ip -n ${lab.c2} route add default via ${lab.in2(1)} dev eth0`],
    kernel: "c2 IcmpInEchos +2, no IcmpOutEchoReps (the reply cannot be routed: route get C1 in " +
      "c2 'Network is unreachable').",
  },
  {
    name: "the destination container's default route points at an address nobody has",
    category: "container route",
    side: "receiving container",
    id: "container-no-default-route",
    make: (lab) => lab.sh(lab.c2, `ip route replace default via ${lab.in2(77)} dev eth0`),
    repair: (lab) => [`ip -n ${lab.c2} route replace default via ${lab.in2(1)} dev eth0`],
    kernel: "route get C1 in c2 'via x.y.B.77'; c2 IcmpOutEchoReps +2 but neighbour .77 FAILED " +
      "in c2: the replies die unresolved.",
  },
  {
    name: "the destination container's interface is down",
    category: "container",
    side: "receiving container",
    id: "container-down",
    make: (lab) => lab.sh(lab.c2, "ip link set eth0 down"),
    repair: (lab) => [
      `ip -n ${lab.c2} link set eth0 up`,
      `ip -n ${lab.c2} route replace default via ${lab.in2(1)} dev eth0`,
    ],
    kernel: "c2's eth0 down also deleted c2's default route (the repair must restore it). The " +
      "host veth has no carrier: h2 forwards (IpForwDatagrams +2), TX dropped moves on cni0 and " +
      "on the host veth, h2's neighbour entry for C2 FAILED.",
  },
  {
    name: "the destination container has no address",
    category: "container",
    side: "receiving container",
    id: "container-no-address",
    make: (lab) => lab.sh(lab.c2, "ip addr flush dev eth0"),
    repair: (lab) => [
      `ip -n ${lab.c2} addr add ${lab.c2Ip}/24 dev eth0`,
      `ip -n ${lab.c2} route replace default via ${lab.in2(1)} dev eth0`,
    ],
    kernel: "h2's neighbour entry for C2 was still valid, so the echoes reach c2, which has no " +
      "such address: c2 IpInAddrErrors +2. Once the entry is re-probed, h2's entry FAILED. The " +
      "flush took c2's routes too.",
  },
  {
    name: "the host end of the destination container's veth is down",
    category: "container",
    side: "receiving host",
    id: "veth-down",
    make: (lab) => lab.sh(lab.h2, `ip link set ${lab.veth2} down`),
    repair: (lab) => [`ip -n ${lab.h2} link set ${lab.veth2} up`],
    kernel: "The bridge port is disabled: h2 forwards (IpForwDatagrams +2), cni0's TX dropped " +
      "moves, h2's neighbour entry for C2 FAILED; c2's eth0 is NO-CARRIER.",
  },
  {
    name: "the receiving host's bridge is down",
    category: "container",
    side: "receiving host",
    id: "bridge-down",
    make: (lab) => lab.sh(lab.h2, "ip link set cni0 down"),
    repair: (lab) => [`ip -n ${lab.h2} link set cni0 up`],
    kernel: "Down takes cni0's connected route S2 with it: route get C2 from C1 iif eth0 on h2 " +
      "'Network is unreachable', h2 IpExtInNoRoutes +2 and ICMP net-unreachable to c1. Up " +
      "brings the prefix route back with the address (kept across down/up).",
  },
  {
    name: "the destination container's veth is detached from the receiving bridge",
    category: "container",
    side: "receiving host",
    id: "veth-detached",
    make: (lab) => lab.sh(lab.h2, `ip link set ${lab.veth2} nomaster`),
    repair: (lab) => [`ip -n ${lab.h2} link set ${lab.veth2} master cni0`],
    kernel: "h2 forwards into cni0 (IpForwDatagrams +2) but cni0 has no port to c2: h2's " +
      "neighbour entry for C2 goes FAILED and cni0's TX dropped moves (a bridge without that " +
      "port); the veth is up with no master (ip -d link: no 'master cni0').",
  },
  // ---- ARP filtering on the peer --------------------------------------------------------------
  {
    name: "arp_ignore=8 on the peer host's uplink",
    category: "arp",
    side: "receiving host",
    id: "arp-ignored",
    make: (lab) => {
      lab.sh(lab.h2, "sysctl -qw net.ipv4.conf.eth0.arp_ignore=8");
      lab.sh(lab.h1, "ip neigh flush dev eth0");
    },
    repair: (lab) => [`ip netns exec ${lab.h2} sysctl -qw net.ipv4.conf.eth0.arp_ignore=0`],
    kernel: "arp_ignore=8: never reply (the kernel uses max(all, IF)); h1's neighbour entry for " +
      "10.0.12.12 FAILED, h1 IpForwDatagrams +2; h2's eth0 RX moves (the requests), no counter " +
      "says why.",
  },
  {
    name: "arp_filter on the peer host whose route to the asker leaves by another interface",
    category: "arp",
    side: "receiving host",
    id: "arp-ignored",
    make: (lab) => {
      lab.sh(
        lab.h2,
        "ip link add mgmt0 type veth peer name mgmt0p && ip link set mgmt0p up && " +
          "ip link set mgmt0 up && ip addr add 10.9.0.12/24 dev mgmt0 && " +
          "ip route add 10.0.12.11/32 dev mgmt0",
      );
      lab.sh(lab.h2, "sysctl -qw net.ipv4.conf.eth0.arp_filter=1");
      lab.sh(lab.h1, "ip neigh flush dev eth0");
    },
    repair: (lab) => [`ip netns exec ${lab.h2} sysctl -qw net.ipv4.conf.eth0.arp_filter=0`],
    kernel: "arp_filter=1 answers only if the route from the target back to the asker leaves by " +
      "the interface the request came in on: route get 10.0.12.11 from 10.0.12.12 on h2 is 'dev " +
      "mgmt0'. h2 TcpExtArpFilter +2 (the one counter that names it); h1's entry FAILED. h2's " +
      "own forwarding is unaffected (hg's route names its gateway on eth0).",
  },
  // ---- MTU, echo, duplicates -----------------------------------------------------------------
  {
    name: "the source container's MTU is above its veth's",
    category: "mtu",
    side: "sending container",
    id: "mtu-container",
    ping: ["-s", "2000"],
    make: (lab) => lab.sh(lab.c1, "ip link set eth0 mtu 9000"),
    repair: (lab) => [`ip -n ${lab.c1} link set eth0 mtu 1500`],
    kernel: "c1 sends 2028 bytes whole; the veth refuses a frame larger than its peer's MTU " +
      "(1500): ping gets ENOBUFS ('sendmsg: No buffer space available') and retries; c1 " +
      "IpOutDiscards and eth0 TX dropped move, the host veth's RX dropped moves; no ICMP.",
  },
  {
    name: "the destination container's MTU is above its veth's",
    category: "mtu",
    side: "receiving container",
    id: "mtu-container",
    ping: ["-s", "2000"],
    make: (lab) => lab.sh(lab.c2, "ip link set eth0 mtu 9000"),
    repair: (lab) => [`ip -n ${lab.c2} link set eth0 mtu 1500`],
    kernel:
      "The echo arrives in fragments (c2 IpReasmOKs +2, IcmpOutEchoReps +2); c2's 2028-byte " +
      "reply goes out whole (no DF on echo replies, MTU 9000) and dies at the veth: c2 " +
      "IpOutDiscards +2 and eth0 TX dropped +2, h2's host veth RX dropped +2.",
  },
  {
    name: "the receiving host's uplink MTU is below its bridge's",
    category: "mtu",
    side: "receiving host",
    id: "mtu-bridge-over-uplink",
    ping: ["-s", "1200"],
    make: (lab) => lab.sh(lab.h2, "ip link set eth0 mtu 1000"),
    repair: (lab) => [`ip -n ${lab.h2} link set eth0 mtu 1500`],
    kernel: "h1 sends 1228-byte frames (its uplink is 1500); the underlay veth cannot hand them " +
      "to h2's 1000-byte eth0: h2's eth0 RX dropped +2, h2's nstat still, no ICMP anywhere. " +
      "Small pings work.",
  },
  {
    name: "the destination container ignores ICMP echo",
    category: "echo",
    side: "receiving container",
    id: "echo-ignored",
    make: (lab) => lab.sh(lab.c2, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1"),
    repair: (lab) => [`ip netns exec ${lab.c2} sysctl -qw net.ipv4.icmp_echo_ignore_all=0`],
    kernel: "c2 IcmpInEchos +2, IcmpOutEchoReps 0; every hop and hook accepted it.",
  },
  {
    name: "a second machine on the receiving bridge holds the destination's address",
    category: "duplicate address",
    side: "receiving host",
    id: "address-duplicate",
    make: (lab) => {
      // An unmanaged machine (a namespace with a veth into h2's cni0; named so that lab down
      // removes it) with C2's address and no default route. It speaks last (an ARP for the
      // gateway), so h2's neighbour entry for C2 holds its MAC: it takes the echoes and cannot
      // answer them.
      const dup = `${lab.name}-h2-c9`;
      lab.sh(lab.h2, `ip netns add ${dup}`);
      lab.sh(lab.h2, `ip link add dup9 type veth peer name eth0 netns ${dup}`);
      lab.sh(lab.h2, "ip link set dup9 master cni0 up");
      lab.sh(
        dup,
        `ip link set lo up && ip addr add ${lab.c2Ip}/24 dev eth0 && ip link set eth0 up`,
      );
      lab.sh(dup, `ping -c 1 -W 1 ${lab.in2(1)} >/dev/null`);
    },
    repair: (lab) => [`ip -n ${lab.h2} link del dup9`, `ip -n ${lab.h2} neigh flush dev cni0`],
    kernel: "An ARP request for the gateway from C2 overrides h2's entry at once " +
      "(neigh_event_ns): h2's neighbour entry for C2 holds the impostor's MAC, the bridge FDB has " +
      "it on port dup9; h2 IpForwDatagrams +2, c2 counts nothing. An ARP probe for C2 on cni0 " +
      "gets two different MACs.",
  },
];

/** Set-ups that look odd (or like a fault) but work: doctor must say ok and change nothing. */
export const WORKING: readonly WorkingSetup[] = [
  {
    name: "FORWARD policy DROP accepting the container's bridge port (-m physdev) and replies",
    category: "firewall",
    side: "sending host",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `iptables -A FORWARD -m physdev --physdev-in ${lab.veth1} -j ACCEPT && ` +
          "iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && " +
          "iptables -P FORWARD DROP",
      ),
    kernel: "br_netfilter (built in, bridge-nf-call-iptables=1) gives routed packets from a " +
      "bridge port their physdev-in: the echo matches the physdev rule, the reply the conntrack " +
      "rule; the policy is never reached.",
  },
  {
    name: "FORWARD policy DROP with an accept by packet length",
    category: "firewall",
    side: "receiving host",
    make: (lab) =>
      lab.sh(
        lab.h2,
        "iptables -A FORWARD -m length --length 20:1500 -j ACCEPT && iptables -P FORWARD DROP",
      ),
    kernel: "Every IPv4 packet on this 1500-byte segment matches the length rule.",
  },
  {
    name: "an nft forward chain with policy drop accepting an interval set of the network",
    category: "firewall",
    side: "receiving host",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nft(
          "table inet hgt {\n  set ours {\n    type ipv4_addr; flags interval;\n" +
            "    elements = { 1.1.0.0/16 }\n  }\n" +
            "  chain hgfwd {\n    type filter hook forward priority 0; policy drop;\n" +
            "    ip daddr @ours accept\n    ip saddr @ours accept\n  }\n}",
        ),
      ),
    kernel: "Both directions match the set (trace 'inet hgt hgfwd rule ip daddr @ours accept').",
  },
  {
    name: "a default-drop input chain in the destination container accepting meta l4proto icmp",
    category: "firewall",
    side: "receiving container",
    make: (lab) =>
      lab.sh(
        lab.c2,
        nftChain(
          "inet",
          "in",
          "type filter hook input priority 0; policy drop",
          "ct state established,related accept",
          'iifname "lo" accept',
          "meta l4proto icmp accept",
        ),
      ),
    kernel: "The echo is NEW in c2's conntrack and accepted by 'meta l4proto icmp accept'.",
  },
  {
    name: "a drop rule for unrelated traffic (tcp dport 22) on both hosts",
    category: "firewall",
    side: "receiving host",
    make: (lab) => {
      lab.sh(lab.h2, "iptables -A FORWARD -p tcp --dport 22 -j DROP");
      lab.sh(
        lab.h1,
        nftChain("inet", "in", "type filter hook input priority 0", "tcp dport 22 drop"),
      );
    },
    kernel: "The echo meets the rules and does not match them.",
  },
  {
    name: "an nft bridge forward chain with policy drop (container to container on one bridge)",
    category: "firewall",
    side: "receiving host",
    make: (lab) =>
      lab.sh(
        lab.h2,
        nftChain("bridge", "hgfwd", "type filter hook forward priority 0; policy drop"),
      ),
    kernel: "The bridge forward hook sees only frames bridged port to port; routed traffic goes " +
      "up through bridge input and down through bridge output, never forward. This is why no " +
      "fault uses the bridge forward hook: it cannot stop a routed probe.",
  },
  {
    name: "a DNAT for unrelated traffic (tcp 8080) on the receiving host",
    category: "nat",
    side: "receiving host",
    make: (lab) =>
      lab.sh(
        lab.h2,
        `iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination ${lab.c2Ip}:80`,
      ),
    kernel: "The nat table sees the echo's first packet and does not match it.",
  },
  {
    name: "masquerading all container traffic, including to the other hosts",
    category: "nat",
    side: "sending host",
    make: (lab) =>
      lab.sh(lab.h1, `iptables -t nat -A POSTROUTING -s ${lab.subnet1} ! -o cni0 -j MASQUERADE`),
    kernel: "The echo reaches c2 from 10.0.12.11, not C1; the reply comes back to 10.0.12.11 and " +
      "conntrack un-NATs it to C1. A probe matching on the source address at c2 must expect it.",
  },
  {
    name: "an extra /32 route to the peer container via the right host",
    category: "route",
    side: "sending host",
    make: (lab) => lab.sh(lab.h1, `ip route add ${lab.c2Ip}/32 via 10.0.12.12 dev eth0`),
    kernel: "route get C2 from C1 iif cni0 answers the /32: the same gateway as hg's /24.",
  },
  {
    name: "the bridge with a /16 mask while the subnet is /24",
    category: "route",
    side: "sending host",
    make: (lab) => {
      const gw = lab.in1(1);
      lab.sh(lab.h1, `ip addr add ${gw}/16 dev cni0 && ip addr del ${gw}/24 dev cni0`);
    },
    kernel: "cni0's connected route is the /16; hg's /24 to h2's subnet is longer and wins.",
  },
  {
    name: "extra policy rules that do not change the path",
    category: "policy routing",
    side: "sending host",
    make: (lab) =>
      lab.sh(
        lab.h1,
        `ip rule add from ${lab.subnet1} lookup main pref 500 && ` +
          "ip route add blackhole default table 201 && " +
          "ip rule add to 192.0.2.0/24 lookup 201 pref 501 && " +
          "ip rule add fwmark 0x99 lookup 201 pref 502",
      ),
    kernel: "route get C2 from C1 iif cni0 answers main's route (rule 500 = main); the " +
      "blackhole table is reached only for 192.0.2.0/24 or mark 0x99.",
  },
  {
    name: "static neighbour entries that are right",
    category: "neighbour",
    side: "sending host",
    make: (lab) => {
      lab.sh(
        lab.h1,
        `ip neigh replace 10.0.12.12 lladdr ${lab.mac(lab.h2, "eth0")} dev eth0 nud permanent`,
      );
      lab.sh(
        lab.h2,
        `ip neigh replace ${lab.c2Ip} lladdr ${lab.mac(lab.c2, "eth0")} dev cni0 nud permanent`,
      );
    },
    kernel: "ip neigh shows PERMANENT entries holding the peers' own MACs.",
  },
  {
    name: "arp_ignore=1 and arp_filter=1 on the peer with symmetric addressing",
    category: "arp",
    side: "receiving host",
    make: (lab) => {
      lab.sh(lab.h2, "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_filter=1");
      lab.sh(lab.h1, "ip neigh flush dev eth0");
    },
    kernel: "10.0.12.12 is on eth0 (arp_ignore=1 satisfied) and the route back to 10.0.12.11 " +
      "leaves by eth0 (arp_filter satisfied): h2 answers ARP.",
  },
  {
    name: "a second uplink on the same segment",
    category: "uplink",
    side: "sending host",
    make: (lab) => secondUplink(lab, lab.h1, "10.0.12.111"),
    kernel: "Both of h1's interfaces answer ARP for 10.0.12.11 (arp_ignore=0): the replies may " +
      "come in on either; rp_filter is 0, both are accepted.",
  },
  {
    name: "loose rp_filter with asymmetric routes (second uplink)",
    category: "route",
    side: "sending host",
    make: (lab) => {
      secondUplink(lab, lab.h1, "10.0.12.111");
      lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.all.arp_ignore=1");
      lab.sh(lab.h1, `ip route replace ${lab.subnet2} via 10.0.12.12 dev eth1 proto 104`);
      lab.sh(lab.h1, "sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.eth0.rp_filter=2");
    },
    kernel: "The reply comes in on eth0 while the route to C2 leaves by eth1: loose mode only " +
      "asks for some route back, so TcpExtIPReversePathFilter stays still.",
  },
  {
    name: "a lease released in the registry while its host still serves traffic",
    category: "registry",
    side: "receiving host",
    make: (lab) => lab.hg(lab.h2, ["subnet", "release", "--store", lab.store, "--node", lab.h2]),
    kernel: "The kernel knows nothing of the registry: the routes stay, the echo goes through.",
  },
  {
    name: "a bridge MTU below the uplink's (bridge, veth and container at 1400)",
    category: "mtu",
    side: "sending host",
    ping: ["-s", "1400"],
    make: (lab) => {
      lab.sh(lab.h1, `ip link set cni0 mtu 1400 && ip link set ${lab.veth1} mtu 1400`);
      lab.sh(lab.c1, "ip link set eth0 mtu 1400");
    },
    kernel: "c1 fragments its 1428-byte echo (IpFragCreates +4 in c1); c2's 1428-byte reply has " +
      "no DF, so h1 fragments it into cni0 (IpFragOKs +2 on h1).",
  },
];
