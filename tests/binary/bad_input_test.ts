/**
 * Bad input, table-driven, on a real lab host (issue 11): every row is one hg call inside the host
 * namespace of a two-host file-registry lab; before and after each call the host's links,
 * addresses, routes, rules, sysctls and firewall, its container's and the other host's links,
 * addresses and routes, the lab's namespaces and every file of the test (the lab's registry and
 * run directory, a registry of the test's own, subnet.env targets) are captured
 * (`ns_state.ts`). Each row must exit with the README's code, print exactly one line on stderr
 * starting `hg: ` (naming the value when the row says which), print nothing on stdout (with
 * `--json`: one JSON document `{"schema": 1, "error": {"exitCode": N, "message": LINE without
 * "hg: "}}`), and change nothing. Every row runs; the test then fails once, listing every row
 * that did not hold.
 * `HG_BAD_INPUT_TIMES=1` prints how long each call and each snapshot took.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hg, hgArgv, labName, netnsList, run } from "../e2e/harness.ts";
import { diffState, type NsState, nsState, type StateScope } from "../e2e/ns_state.ts";

/** The values rows refer to as `{name}`, read from the lab once it is up. */
interface Context {
  /** The lab's name; every namespace it (or a wrongly accepted row) makes starts with it. */
  lab: string;
  /** A lab name that is valid but names no lab. */
  nolab: string;
  h1: string;
  h2: string;
  c1: string;
  /** h1's container subnet (from the lab's registry: random), its network and broadcast address. */
  sub1: string;
  net1: string;
  bcast1: string;
  /** The first three octets of sub1. */
  base1: string;
  /** h1's bridge address (the containers' gateway) and its container's address. */
  gw1: string;
  c1ip: string;
  /** h2's subnet and its container's address. */
  sub2: string;
  c2ip: string;
  /** The lab's file registry. */
  reg: string;
  /** The test's own registry: a copy of the lab's, so h1 holds a lease there too. */
  myreg: string;
  /** A registry path that does not exist (a wrongly accepted `subnet config` would create it). */
  newreg: string;
  /** A directory for subnet.env files. */
  out: string;
  /** A file that is not JSON. */
  notjson: string;
}

/** One bad input. */
interface Row {
  /** Arguments after `hg`; `{name}` is replaced from the Context. */
  readonly args: readonly string[];
  /** The exit code the README's table gives. */
  readonly code: number;
  /** The stderr line must contain this text (after substitution) or match this pattern. */
  readonly says?: string | RegExp;
  /** Neither stdout nor stderr may contain this (a password). */
  readonly never?: string;
}

const r = (code: number, args: string[], says?: string | RegExp, never?: string): Row => ({
  args,
  code,
  says,
  never,
});

/**
 * A subnet no lab host can hold: the lab's leases are random among 1.1.1.0/24-1.1.255.0/24 (the
 * network's first subnet is never handed out), so any other fixed one is some run's lease.
 */
const UNUSED_SUBNET = "1.1.0.0/24";

const SET = "{out}/setup.env";
const AG = "{out}/agent.env";

/**
 * The table. Destructive-if-accepted rows (teardown, lab down) come last, so a product bug that
 * lets one through spoils as few other rows as possible.
 */
export const ROWS: readonly Row[] = [
  // --- hg setup: prefixes, address classes, MTU, flag combinations
  r(2, ["setup", "--subnet", "1.1.1.0/33"], "1.1.1.0/33"),
  // IPv6: a dual-stack host's second subnet is IPv6 beside an IPv4 one; the registry says it.
  r(2, ["setup", "--subnet", "fd00:5::/64", "--ipv6-subnet", "fd00:6::/64"], "--ipv6-subnet"),
  r(2, ["setup", "--store", "{reg}", "--ipv6-subnet", "fd00:6::/64"], "--ipv6-subnet"),
  r(2, ["setup", "--subnet", "fd00:5::/127"], "fd00:5::/127"),
  r(2, ["setup", "--subnet", "fe80::/64"], "link-local"),
  r(2, ["setup", "--subnet", "1.1.1.5/24"], /1\.1\.1\.5\/24.*did you mean 1\.1\.1\.0\/24/),
  r(2, ["setup", "--subnet", "1.1.1"], "1.1.1"),
  r(2, ["setup", "--subnet", "fd00::/64"], "fd00::/64"),
  r(2, ["setup", "--subnet", "1.1.1.0/24", "--mtu", "10"], "10"),
  r(2, ["setup", "--subnet", "10.0.0.0/8"], /10\.0\.0\.0\/8.*overlaps/),
  r(2, ["setup", "--subnet", "1.1.77.0/24"]),
  r(2, ["setup", "--subnet", "{sub1}", "--bridge", "hgbr1"], "{sub1}"),
  r(2, ["setup", "--subnet", "127.0.0.0/24", "--bridge", "hgbr1"], "127.0.0.0/24"),
  r(2, ["setup", "--subnet", "224.0.0.0/24", "--bridge", "hgbr1"], "224.0.0.0/24"),
  r(2, ["setup", "--subnet", "240.0.0.0/24", "--bridge", "hgbr1"], "240.0.0.0/24"),
  r(2, ["setup", "--subnet", "0.0.0.0/24", "--bridge", "hgbr1"], "0.0.0.0/24"),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--bridge", "hgbr1", "--mtu", "65000"], "65000"),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--bridge", "bad/br"], "bad/br"),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--bridge", "hgbr1", "--backend", "udp"], '"udp"'),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--bridge", "hgbr1", "--vni", "5"], "--vni"),
  r(2, [
    "setup",
    "--subnet",
    "1.1.77.0/24",
    "--bridge",
    "hgbr1",
    "--backend",
    "vxlan",
    "--vni",
    "16777216",
  ], "16777216"),
  r(2, ["setup", "--store", "{reg}", "--node", "{h1}", "--backend", "vxlan"], "--backend"),
  r(2, ["setup"]),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--store", "{myreg}"]),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--bridge", "hgbr1", "--masquerade"], "--network"),
  r(2, ["setup", "--subnet", "1.1.77.0/24", "--network", "1.2.0.0/16"], "1.2.0.0/16"),
  r(2, ["setup", "--store", "{myreg}", "--network", "1.1.0.0/16", "--subnet-file", SET]),
  r(
    2,
    [
      "setup",
      "--store",
      "{myreg}",
      "--node",
      "{h1}",
      "--public-ip",
      "224.0.0.1",
      "--subnet-file",
      SET,
    ],
    "224.0.0.1",
  ),
  r(
    2,
    [
      "setup",
      "--store",
      "{myreg}",
      "--node",
      "{h1}",
      "--public-ip",
      "127.0.0.1",
      "--subnet-file",
      SET,
    ],
    "127.0.0.1",
  ),
  r(
    2,
    [
      "setup",
      "--store",
      "{myreg}",
      "--node",
      "{h1}",
      "--public-ip",
      "fd00::1",
      "--subnet-file",
      SET,
    ],
    "fd00::1",
  ),
  r(2, ["setup", "--store", "{myreg}", "--ttl", "0", "--subnet-file", SET], '"0"'),
  r(2, ["setup", "--store", "{myreg}", "--node", "bad node", "--subnet-file", SET], "bad node"),
  r(2, ["--dry-run", "setup", "--subnet", "127.0.0.0/24", "--bridge", "hgbr1"], "127.0.0.0/24"),
  r(2, ["--json", "setup", "--subnet", "1.1.1.5/24"], /did you mean 1\.1\.1\.0\/24/),

  // --- hg netns: names, addresses in and out of the subnet, unknown containers and bridges
  r(2, ["netns", "add", "bad name"], "bad name"),
  r(2, ["netns", "add", "{lab}-bi6", "--ip", "fd00::5"], /fd00::5 is IPv6: bridge cni0 serves/),
  r(2, ["netns", "add", "x".repeat(33)], "x".repeat(33)),
  r(2, ["netns", "add", ".."]),
  r(2, ["netns", "add"]),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "1.1.9.9"], "1.1.9.9"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "01.1.1.9"], "01.1.1.9"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "{net1}"], "{net1}"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "{bcast1}"], "{bcast1}"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "{gw1}"], "{gw1}"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "{c1ip}"], "{c1ip}"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "224.0.0.5"], "224.0.0.5"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "127.0.0.1"], "127.0.0.1"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "fd00::5"], "fd00::5"),
  r(2, ["netns", "add", "{lab}-x1", "--ip", "{base1}.5/24"], "{base1}.5/24"),
  r(1, ["netns", "add", "{lab}-x1", "--bridge", "hgnobr"], "hgnobr"),
  r(2, ["netns", "del", "{lab}-nosuch"], "{lab}-nosuch"),
  r(2, ["netns", "del", "bad/name"], "bad/name"),
  r(2, ["netns", "frobnicate"], "frobnicate"),
  r(2, ["netns", "ad", "{lab}-x1"], /'ad'.*did you mean add/),
  r(2, ["netns", "ls", "extra"]),
  r(2, ["netns", "ls", "--bridge", "a b"], "a b"),
  r(2, ["--dry-run", "netns", "add", "bad name"], "bad name"),
  r(2, ["--json", "netns", "del", "{lab}-nosuch"], "{lab}-nosuch"),

  // --- hg peer: gateways of every impossible class, impossible subnets, sync flags
  r(2, ["peer", "add", "1.1.2.0/24", "--via", "300.1.1.1"], "300.1.1.1"),
  r(2, ["peer", "add", "1.1.2.0/24", "--via", "fd00:12::7"], "fd00:12::7"),
  r(2, ["peer", "add", "1.1.2.0/24"], "--via"),
  r(2, ["peer", "add", "1.1.2.0/24", "--via", "10.0.12.12", "--dev", "bad/dev"], "bad/dev"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.12.0"], "10.0.12.0"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.15.255"], "10.0.15.255"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "224.0.0.1"], "224.0.0.1"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "0.0.0.0"], "0.0.0.0"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "127.0.0.1"], "127.0.0.1"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "240.0.0.1"], "240.0.0.1"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "255.255.255.255"], "255.255.255.255"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "{c1ip}"], "{c1ip}"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "{gw1}"], "{gw1}"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.12.11"], "10.0.12.11"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.16.7"], "10.0.16.7"),
  r(2, ["peer", "add", "fd00:1:0:7::/64", "--via", "10.0.12.13"], /10\.0\.12\.13 is IPv4 but/),
  r(2, ["peer", "add", "fd00:1:0:7::/64", "--via", "fe80::13"], /fe80::13 is a link-local/),
  r(2, ["peer", "add", "127.0.0.0/24", "--via", "10.0.12.13"], "127.0.0.0/24"),
  r(2, ["peer", "add", "224.0.0.0/4", "--via", "10.0.12.13"], "224.0.0.0/4"),
  r(2, ["peer", "add", "{sub1}", "--via", "10.0.12.13"], "{sub1}"),
  r(2, ["peer", "add", "10.0.12.0/22", "--via", "10.0.12.13"], "10.0.12.0/22"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.12.13", "--dev", "cni0"], "cni0"),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.12.13", "--dev", "nosuch0"], "nosuch0"),
  r(2, ["peer", "add", "1.1.2.5/24", "--via", "10.0.12.12"], /did you mean 1\.1\.2\.0\/24/),
  r(
    2,
    ["peer", "add", "1.1.90.0/24", "--via", "10.0.12.12", "--devv", "eth0"],
    /--devv.*did you mean --dev\b/,
  ),
  r(2, ["peer", "add", "1.1.90.0/24", "--via", "10.0.20.99", "--vtep-mac", "zz"], '"zz"'),
  r(
    2,
    ["peer", "add", "1.1.90.0/24", "--via", "10.0.20.99", "--vtep-mac", "01:00:5e:00:00:01"],
    "multicast",
  ),
  // A host without hg's VXLAN device: nothing to tunnel through (an environment problem).
  r(
    1,
    ["peer", "add", "1.1.90.0/24", "--via", "10.0.20.99", "--vtep-mac", "0e:56:0a:00:14:63"],
    "no VXLAN device of hg's",
  ),
  r(2, ["peer", "rm", UNUSED_SUBNET], UNUSED_SUBNET),
  r(2, ["peer", "rm", "1.1.7.5/24"], /did you mean 1\.1\.7\.0\/24/),
  r(2, ["peer", "rm", "{sub1}"], "{sub1}"),
  r(2, ["peer", "ls", "extra"]),
  r(2, ["peer", "sync"], "--store"),
  r(2, ["peer", "sync", "--store", "{reg}", "--node", "bad node"], "bad node"),
  r(2, ["peer", "sync", "--store", "{reg}", "--node", "{h1}", "--bridge", "a b"], "a b"),
  r(2, ["peer", "sync", "--store", "ftp://10.0.12.2/x"], "ftp://10.0.12.2/x"),
  r(2, ["--dry-run", "peer", "add", "1.1.90.0/24", "--via", "255.255.255.255"], "255.255.255.255"),
  r(2, ["--dry-run", "peer", "rm", UNUSED_SUBNET], UNUSED_SUBNET),
  r(2, ["--json", "peer", "add", "1.1.90.0/24", "--via", "224.0.0.1"], "224.0.0.1"),

  // --- hg subnet: config values, lease addresses, durations, names, releases
  r(2, ["subnet", "config", "--store", "{newreg}"], "--network"),
  r(
    2,
    ["subnet", "config", "--store", "{newreg}", "--network", "1.1.0.0/16", "--backend", "ipip"],
    '"ipip"',
  ),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--backend",
    "vxlan",
    "--port",
    "0",
  ], "--port"),
  r(
    2,
    ["subnet", "config", "--store", "{newreg}", "--network", "1.1.0.0/16", "--direct-routing"],
    "--direct-routing",
  ),
  r(2, ["subnet", "config", "--store", "{newreg}", "--network", "1.1.0.0/33"], "1.1.0.0/33"),
  r(2, ["subnet", "config", "--store", "{newreg}", "--network", "224.0.0.0/8"], "224.0.0.0/8"),
  r(2, ["subnet", "config", "--store", "{newreg}", "--network", "127.0.0.0/8"], "127.0.0.0/8"),
  r(2, ["subnet", "config", "--store", "{newreg}", "--network", "240.0.0.0/8"], "240.0.0.0/8"),
  // An IPv6 --network alone is an IPv6-only network; beside --ipv6-network it must be IPv4.
  r(
    2,
    [
      "subnet",
      "config",
      "--store",
      "{newreg}",
      "--network",
      "fd00::/48",
      "--ipv6-network",
      "fd01::/48",
    ],
    "fd00::/48 is IPv6",
  ),
  r(
    2,
    [
      "subnet",
      "config",
      "--store",
      "{newreg}",
      "--network",
      "1.1.0.0/16",
      "--ipv6-network",
      "1.2.0.0/16",
    ],
    "1.2.0.0/16 is not IPv6",
  ),
  r(
    2,
    [
      "subnet",
      "config",
      "--store",
      "{newreg}",
      "--network",
      "1.1.0.0/16",
      "--ipv6-subnet-len",
      "64",
    ],
    "--ipv6-network",
  ),
  r(
    2,
    [
      "subnet",
      "config",
      "--store",
      "{newreg}",
      "--network",
      "1.1.0.0/16",
      "--ipv6-network",
      "fe80::/56",
    ],
    "link-local",
  ),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--ipv6-network",
    "fd00::/56",
    "--backend",
    "vxlan",
  ], "IPv4 only"),
  r(
    2,
    ["subnet", "config", "--store", "{newreg}", "--network", "fd00::/56", "--subnet-len", "127"],
    "127",
  ),
  r(
    2,
    ["subnet", "config", "--store", "{newreg}", "--network", "1.1.3.0/16"],
    /did you mean 1\.1\.0\.0\/16/,
  ),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--subnet-len",
    "31",
  ]),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--subnet-len",
    "12",
  ]),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--subnet-min",
    "2.2.2.0",
  ], "2.2.2.0"),
  r(2, [
    "subnet",
    "config",
    "--store",
    "{newreg}",
    "--network",
    "1.1.0.0/16",
    "--subnet-min",
    "1.1.9.0",
    "--subnet-max",
    "1.1.3.0",
  ]),
  r(1, ["subnet", "config", "--store", "{myreg}", "--network", "1.2.0.0/16"], "lease"),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ip", "224.0.0.1"],
    "224.0.0.1",
  ),
  r(2, [
    "subnet",
    "alloc",
    "--store",
    "{myreg}",
    "--node",
    "bi-n1",
    "--public-ip",
    "255.255.255.255",
  ], "255.255.255.255"),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ip", "127.0.0.1"],
    "127.0.0.1",
  ),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ip", "240.0.0.1"],
    "240.0.0.1",
  ),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ip", "fd00::1"],
    "fd00::1",
  ),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ip", "10.0.12.0"],
    "10.0.12.0",
  ),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--public-ipv6", "10.0.12.77"],
    "--public-ipv6 10.0.12.77 is IPv4",
  ),
  r(
    2,
    ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--iface", "nosuch0"],
    "nosuch0",
  ),
  r(2, [
    "subnet",
    "alloc",
    "--store",
    "{myreg}",
    "--node",
    "bi-n1",
    "--public-ip",
    "10.0.12.11",
    "--iface",
    "eth0",
  ]),
  r(2, ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--ttl", "0"], '"0"'),
  r(2, ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--ttl", "10y"], "10y"),
  r(2, ["subnet", "alloc", "--store", "{myreg}", "--node", "bi-n1", "--ttl", "366d"], "366d"),
  r(2, ["subnet", "alloc", "--store", "{myreg}", "--node", "a/b"], "a/b"),
  r(2, ["subnet", "alloc", "--store", "{myreg}", "--node", "n".repeat(65)], "n".repeat(65)),
  r(2, ["subnet", "alloc", "--node", "bi-n1", "--public-ip", "10.0.12.99"], "--store"),
  r(2, ["subnet", "renew", "--store", "{myreg}", "--node", "{h1}", "--ttl", "-5"], "-5"),
  r(
    2,
    ["subnet", "renew", "--store", "{myreg}", "--node", "{h1}", "--public-ip", "224.0.0.1"],
    "224.0.0.1",
  ),
  r(2, ["subnet", "release", "--store", "{myreg}", UNUSED_SUBNET], UNUSED_SUBNET),
  r(2, ["subnet", "release", "--store", "{myreg}", "1.1.7.5/24"], /did you mean 1\.1\.7\.0\/24/),
  r(2, ["subnet", "release", "--store", "{myreg}", "{sub1}", "--node", "{h1}"]),
  r(2, ["subnet", "release", "--store", "{myreg}", "--node", "bad node"], "bad node"),
  r(2, ["subnet", "ls"], "--store"),
  r(2, ["subnet", "ls", "--store", "{myreg}", "extra"]),
  r(2, ["subnet", "ls", "--store", "etcd://"]),
  r(2, ["subnet", "frob"], "frob"),
  r(
    2,
    ["--dry-run", "subnet", "config", "--store", "{newreg}", "--network", "1.1.0.0/33"],
    "1.1.0.0/33",
  ),
  r(2, [
    "--dry-run",
    "subnet",
    "alloc",
    "--store",
    "{myreg}",
    "--node",
    "bi-n2",
    "--public-ip",
    "224.0.0.1",
  ], "224.0.0.1"),
  r(2, ["--dry-run", "subnet", "release", "--store", "{myreg}", UNUSED_SUBNET], UNUSED_SUBNET),
  r(2, [
    "--json",
    "subnet",
    "alloc",
    "--store",
    "{myreg}",
    "--node",
    "bi-n1",
    "--public-ip",
    "0.0.0.0",
  ], "0.0.0.0"),

  // --- hg agent (a row wrongly accepted runs an agent: stopped after the row's time limit)
  r(2, ["agent", "--node", "{h1}", "--public-ip", "10.0.12.11", "--subnet-file", AG], "--store"),
  r(2, [
    "agent",
    "--store",
    "{myreg}",
    "--node",
    "{h1}",
    "--public-ip",
    "224.0.0.1",
    "--subnet-file",
    AG,
  ], "224.0.0.1"),
  r(2, [
    "agent",
    "--store",
    "{myreg}",
    "--node",
    "{h1}",
    "--public-ip",
    "fd00::1",
    "--subnet-file",
    AG,
  ], "fd00::1"),
  r(2, [
    "agent",
    "--store",
    "{myreg}",
    "--node",
    "{h1}",
    "--public-ip",
    "10.0.12.11",
    "--mtu",
    "65000",
    "--subnet-file",
    AG,
  ], "65000"),
  r(2, ["agent", "--store", "{myreg}", "--mtu", "10", "--subnet-file", AG], "10"),
  r(2, ["agent", "--store", "{myreg}", "--log-format", "xml", "--subnet-file", AG], "xml"),
  r(2, ["agent", "--store", "{myreg}", "--ttl", "0", "--subnet-file", AG], '"0"'),
  r(2, ["agent", "--store", "{myreg}", "--bridge", "a b", "--subnet-file", AG], "a b"),
  r(2, ["agent", "--print-systemd-unit", "--store", "{myreg}", "--log-format", "yaml"], "yaml"),
  r(2, ["agent", "--print-systemd-unit", "--store", "{myreg}", "--ttl", "1y"], "1y"),
  r(
    2,
    ["agent", "--print-systemd-unit", "--store", "{myreg}", "--public-ip", "224.0.0.1"],
    "224.0.0.1",
  ),
  r(
    2,
    [
      "agent",
      "--print-systemd-unit",
      "--store",
      "etcd://10.0.12.2:2379",
      "--etcd-password",
      "s3cret",
    ],
    "--etcd-user",
    "s3cret",
  ),
  r(2, [
    "--dry-run",
    "agent",
    "--store",
    "{myreg}",
    "--node",
    "{h1}",
    "--public-ip",
    "127.0.0.1",
    "--subnet-file",
    AG,
  ]),

  // --- hg status
  r(2, ["status", "--bogus"], "--bogus"),
  r(2, ["status", "extra"]),
  r(2, ["status", "--bridge", "bad/br"], "bad/br"),
  r(2, ["status", "--bridge", "b".repeat(16)], "b".repeat(16)),
  r(2, ["status", "--json", "--bogus"], "--bogus"),

  // --- hg doctor and hg snapshot
  r(2, ["doctor", "--to", "300.1.1.1"], "300.1.1.1"),
  r(2, ["doctor", "--to", "fd00::1::2"], "fd00::1::2"),
  r(2, ["doctor", "--to", "1.1.2"], "1.1.2"),
  r(2, ["doctor", "--to", "{c2ip}", "--from", "{lab}-nosuch", "--no-probe"], "{lab}-nosuch"),
  r(2, ["doctor", "--to", "{c2ip}", "--from", "bad name"], "bad name"),
  r(2, ["doctor", "--to", "{c2ip}", "--peer-netns", "{lab}-nosuch"], "{lab}-nosuch"),
  r(2, ["doctor", "--peer-netns", "{h2}"], "--to"),
  r(2, ["doctor", "--snapshot", "{out}/nosuch.json"], "{out}/nosuch.json"),
  r(2, ["doctor", "--snapshot", "{notjson}"], "{notjson}"),
  r(2, ["doctor", "--snapshot", "{notjson}", "--store", "{reg}"], "--snapshot"),
  r(2, ["doctor", "--node", "bad node", "--no-probe"], "bad node"),
  r(2, ["--json", "doctor", "--to", "300.1.1.1"], "300.1.1.1"),
  r(2, ["snapshot", "--bogus"], "--bogus"),
  r(2, ["snapshot", "extra"]),
  r(2, ["snapshot", "--node", "bad node"], "bad node"),
  r(2, ["snapshot", "--bridge", "a b"], "a b"),
  r(2, ["snapshot", "--store", "ftp://10.0.12.2/x"], "ftp://10.0.12.2/x"),

  // --- hg completions and the command line itself
  r(2, ["completions", "powershell"], "powershell"),
  r(2, ["completions"]),
  r(2, ["completions", "bash", "extra"]),
  r(2, ["--json", "completions", "powershell"], "powershell"),
  r(2, ["frobnicate"], "frobnicate"),
  r(2, ["stauts"], /'stauts'.*did you mean status/),
  r(2, ["--bogus"], "--bogus"),
  r(2, [""]),
  r(2, ["--json", "frobnicate"], "frobnicate"),
  r(2, ["-q", "peer", "add", "1.1.90.0/24", "--via", "224.0.0.1"], "224.0.0.1"),

  // --- hg lab (unknown labs are bad input like unknown containers; builds are refused early)
  r(2, ["lab", "up", "--nodes", "0", "--name", "{nolab}"], '"0"'),
  r(2, ["lab", "up", "--nodes", "51", "--name", "{nolab}"], '"51"'),
  r(2, ["lab", "up", "--nodes", "two", "--name", "{nolab}"], "two"),
  r(2, ["lab", "up", "--name", "Bad"], "Bad"),
  r(2, ["lab", "up", "--name", "l".repeat(13)], "l".repeat(13)),
  r(2, ["lab", "up", "--store", "consul", "--name", "{nolab}"], "consul"),
  r(2, ["lab", "up", "--etcd-members", "2", "--name", "{nolab}"], "--etcd-members"),
  r(
    2,
    ["lab", "up", "--etcd-members", "3", "--store", "file", "--name", "{nolab}"],
    "--etcd-members",
  ),
  r(2, ["lab", "up", "--ttl", "30", "--name", "{nolab}"], "--agent"),
  r(2, ["lab", "up", "--agent", "--ttl", "1", "--name", "{nolab}"], '"1"'),
  r(2, ["--json", "lab", "up", "--nodes", "0", "--name", "{nolab}"], '"0"'),
  r(2, ["lab", "status", "--name", "{nolab}"], "{nolab}"),
  r(2, ["lab", "status", "--name", "a b"], "a b"),
  r(2, ["lab", "doctor", "--name", "{nolab}"], "{nolab}"),
  r(2, ["lab", "add-node", "--name", "{nolab}"], "{nolab}"),
  r(2, ["lab", "add-node", "--name", "BAD"], "BAD"),
  r(2, ["lab", "rm-node", "{lab}-h9", "--name", "{lab}"], "{lab}-h9"),
  r(2, ["lab", "rm-node", "{h1}", "--name", "{nolab}"], "{nolab}"),
  r(2, ["lab", "rm-node", "--name", "{lab}"]),
  r(2, ["--dry-run", "lab", "rm-node", "{lab}-h9", "--name", "{lab}"], "{lab}-h9"),
  r(2, ["lab", "start-agent", "{lab}-h9", "--name", "{lab}"], "{lab}-h9"),
  r(2, ["lab", "start-agent", "--name", "{lab}"]),
  r(2, ["lab", "up", "--segments", "0", "--name", "{nolab}"], '"0"'),
  r(2, ["lab", "up", "--segments", "5", "--name", "{nolab}"], '"5"'),
  r(2, ["lab", "up", "--nodes", "4", "--segments", "two", "--name", "{nolab}"], "two"),
  r(2, ["lab", "up", "--segments", "2", "--backend", "udp", "--name", "{nolab}"], "udp"),
  r(2, ["lab", "move-node", "9", "--segment", "0", "--name", "{lab}"], "{lab}-h9"),
  r(2, ["lab", "move-node", "{lab}-h9", "--segment", "0", "--name", "{lab}"], "{lab}-h9"),
  r(2, ["lab", "move-node", "1", "--segment", "1", "--name", "{lab}"], "--segment 1"),
  r(2, ["lab", "move-node", "1", "--segment", "4", "--name", "{lab}"], '"4"'),
  r(2, ["lab", "move-node", "1", "--segment", "-1", "--name", "{lab}"], "-1"),
  r(2, ["lab", "move-node", "1", "--name", "{lab}"], "--segment"),
  r(2, ["lab", "move-node", "--segment", "0", "--name", "{lab}"]),
  r(2, ["lab", "move-node", "1", "--segment", "0", "--name", "{nolab}"], "{nolab}"),
  r(
    2,
    ["--dry-run", "lab", "move-node", "{h2}", "--segment", "1", "--name", "{lab}"],
    "--segment 1",
  ),
  // --- hg cni
  r(2, ["cni", "install", "--bin-dir", "relative/bin"], "relative/bin"),
  r(2, ["cni", "install", "--conf-dir", ""], "--conf-dir"),
  r(2, ["cni", "install", "--name", "a b"], "a b"),
  r(2, ["cni", "install", "--cni-version", "0.3.1"], "0.3.1"),
  r(2, ["cni", "conflist", "--bridge", "a/b"], "a/b"),
  r(2, ["cni", "frob"], "frob"),
  r(2, ["doctor", "--to", "{c2ip}", "--from", "a b", "--no-probe"], "a b"),
  r(2, ["lab", "frob"], "frob"),
  r(2, ["lab", "down", "--name", "a b"], "a b"),
  r(2, ["lab", "down", "extra", "--name", "{nolab}"]),
  r(2, ["lab", "down", "--name", "{nolab}"], "{nolab}"),

  // --- last, what would remove the fixture if let through: another host's namespace or
  // container (not this host's containers), and teardown (this host's bridge and container)
  r(2, ["netns", "del", "{h2}"], "{h2}"),
  r(2, ["netns", "del", "{lab}-h2-c1"], "{lab}-h2-c1"),
  r(2, ["teardown", "extra"]),
  r(2, ["teardown", "--bogus"], "--bogus"),
  r(2, ["--dry-run", "teardown", "extra"]),
  r(2, ["--json", "teardown", "--bridge", "cni0"], "--bridge"),
];

/** A row's arguments with the Context's values in place of `{name}`. */
function fill(text: string, ctx: Context): string {
  return text.replace(/\{(\w+)\}/g, (all, key: string) => {
    const value = (ctx as unknown as Record<string, string>)[key];
    return value === undefined ? all : value;
  });
}

/** The command a row exercises (for the count per command): the first word that is no flag. */
export function commandOf(args: readonly string[]): string {
  const words = args.filter((a) => !a.startsWith("-"));
  const top = words[0] ?? "(flags only)";
  const sub = ["netns", "peer", "subnet", "lab"].includes(top) && words[1] ? ` ${words[1]}` : "";
  return top === "" ? "(empty command)" : `${top}${sub}`;
}

/** Seconds a row may run: a wrongly accepted `agent` runs until stopped. */
const ROW_SECONDS = 10;

/** The environment rows run with: the test's run dir, no registry or node from the caller. */
function rowEnv(runDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const k of ["HG_STORE", "HG_NODE", "HG_ETCD_PASSWORD"]) delete env[k];
  env.HG_RUN_DIR = runDir;
  return env;
}

/** Runs hg in `host` with a time limit (TERM, then KILL to the whole process group). */
function hgRow(host: string, args: readonly string[], env: Record<string, string>) {
  const p = spawnSync("timeout", [
    "-k",
    "2",
    String(ROW_SECONDS),
    "nsenter",
    `--net=/run/netns/${host}`,
    "--",
    ...hgArgv(),
    ...args,
  ], { encoding: "utf8", env });
  return {
    code: p.status === 124 || p.status === null ? -1 : p.status,
    stdout: p.stdout ?? "",
    stderr: p.stderr ?? "",
  };
}

/** What a user must never see for bad input: the kernel's or ip's own words, or a crash. */
const RAW =
  /RTNETLINK answers|Nexthop has invalid gateway|Command failed -:\d|^Error: |internal error/m;

const show = (s: string) => JSON.stringify(s.length > 300 ? s.slice(0, 300) + "…" : s);

/** What is wrong with one row's run, or nothing. */
function judge(
  row: Row,
  args: readonly string[],
  ctx: Context,
  got: { code: number; stdout: string; stderr: string },
): string[] {
  const problems: string[] = [];
  if (got.code === -1) problems.push(`still running after ${ROW_SECONDS} s (stopped)`);
  else if (got.code !== row.code) problems.push(`exit ${got.code}, want ${row.code}`);
  const lines = got.stderr.replace(/\n$/, "").split("\n");
  const line = lines[0];
  if (got.stderr === "" || lines.length !== 1 || !got.stderr.endsWith("\n")) {
    problems.push(`stderr is ${lines.length} lines, want exactly one: ${show(got.stderr)}`);
  } else if (!line.startsWith("hg: ")) {
    problems.push(`stderr does not start with "hg: ": ${show(got.stderr)}`);
  } else if (row.says !== undefined) {
    const ok = typeof row.says === "string"
      ? line.includes(fill(row.says, ctx))
      : row.says.test(line);
    if (!ok) problems.push(`stderr does not say ${String(row.says)}: ${show(line)}`);
  }
  if (RAW.test(got.stderr)) problems.push(`stderr is a raw or internal error: ${show(got.stderr)}`);
  if (row.never && (got.stdout + got.stderr).includes(row.never)) {
    problems.push(`the output shows ${JSON.stringify(row.never)}`);
  }
  const end = args.indexOf("--");
  const json = (end < 0 ? args : args.slice(0, end)).includes("--json");
  if (!json) {
    if (got.stdout !== "") problems.push(`stdout not empty: ${show(got.stdout)}`);
  } else {
    try {
      const doc = JSON.parse(got.stdout);
      const error = doc?.error;
      if (typeof error !== "object" || error === null || doc.schema !== 1) {
        problems.push(`--json: stdout is not {"schema": 1, "error": {...}}: ${show(got.stdout)}`);
      } else {
        if (error.exitCode !== got.code) {
          problems.push(`--json: error.exitCode is ${error.exitCode}, exit was ${got.code}`);
        }
        if (error.message !== line.replace(/^hg: /, "")) {
          problems.push(
            `--json: error.message ${show(String(error.message))} is not the stderr line`,
          );
        }
      }
    } catch {
      problems.push(`--json: stdout is not one JSON document: ${show(got.stdout)}`);
    }
  }
  return problems;
}

/** Reads the lab's values for the rows. */
function labContext(lab: string, root: string, runDir: string): Context {
  // deno-lint-ignore no-explicit-any
  const status = (host: string): any => {
    const s = run("nsenter", [`--net=/run/netns/${host}`, "--", ...hgArgv(), "status", "--json"], {
      HG_RUN_DIR: runDir,
    });
    assert.equal(s.code, 0, `hg status in ${host}: ${s.stderr}`);
    return JSON.parse(s.stdout);
  };
  const s1 = status(`${lab}-h1`);
  const s2 = status(`${lab}-h2`);
  const sub1: string = s1.bridge.subnet;
  assert.match(sub1, /^\d+\.\d+\.\d+\.0\/24$/, "the lab's subnets are /24s");
  const base = sub1.split(".").slice(0, 3).join(".");
  return {
    lab,
    nolab: `${lab}z`,
    h1: `${lab}-h1`,
    h2: `${lab}-h2`,
    c1: `${lab}-h1-c1`,
    sub1,
    base1: base,
    net1: `${base}.0`,
    bcast1: `${base}.255`,
    gw1: s1.bridge.address.split("/")[0],
    c1ip: s1.containers[0].address.split("/")[0],
    sub2: s2.bridge.subnet,
    c2ip: s2.containers[0].address.split("/")[0],
    reg: join(runDir, `lab-${lab}`, "subnets.json"),
    myreg: join(root, "reg", "subnets.json"),
    newreg: join(root, "reg", "new.json"),
    out: join(root, "out"),
    notjson: join(root, "files", "notjson.txt"),
  };
}

describe("bad input, table-driven (e2e, root)", () => {
  it(`${ROWS.length} bad inputs: the README's exit code, one line, nothing changed`, () => {
    assert.ok(ROWS.length >= 60);
    const lab = labName();
    const nolab = `${lab}z`;
    const root = mkdtempSync(join(tmpdir(), "hg-bad-input-"));
    const runDir = join(root, "run");
    for (const d of ["run", "reg", "out", "files"]) mkdirSync(join(root, d));
    writeFileSync(join(root, "files", "notjson.txt"), "not json\n");
    const env = rowEnv(runDir);
    const failures: string[] = [];
    let setupError: unknown;
    try {
      const up = hg(["lab", "up", "--nodes", "2", "--name", lab, "--store", "file"], {
        HG_RUN_DIR: runDir,
      });
      assert.equal(up.code, 0, `hg lab up: ${up.stderr}${up.stdout}`);
      const ctx = labContext(lab, root, runDir);
      copyFileSync(ctx.reg, ctx.myreg);
      const scope: StateScope = {
        host: ctx.h1,
        others: [ctx.c1, ctx.h2],
        netnsPrefix: lab,
        dirs: [root],
      };
      let before: NsState = nsState(scope);
      ROWS.forEach((row, i) => {
        const args = row.args.map((a) => fill(a, ctx));
        const t0 = Date.now();
        const got = hgRow(ctx.h1, args, env);
        const t1 = Date.now();
        const after = nsState(scope);
        if (process.env.HG_BAD_INPUT_TIMES) {
          console.log(
            `#${i + 1} hg ${t1 - t0} ms, snapshot ${Date.now() - t1} ms: ${args.join(" ")}`,
          );
        }
        const problems = judge(row, args, ctx, got);
        const changed = diffState(before, after);
        if (changed.length) problems.push(`changed: ${changed.join("; ")}`);
        if (problems.length) {
          if (!problems.some((p) => p.includes("stderr"))) {
            problems.push(`stderr: ${show(got.stderr)}`);
          }
          failures.push(
            `#${i + 1} [${commandOf(row.args)}] hg ${
              args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")
            }\n    ${problems.join("\n    ")}`,
          );
        }
        before = after;
      });
    } catch (e) {
      setupError = e;
    } finally {
      for (const name of [lab, nolab]) hg(["lab", "down", "--name", name], { HG_RUN_DIR: runDir });
      // Anything a wrongly accepted row made outside the labs' own namespaces (a container).
      for (const ns of netnsList().filter((n) => n.startsWith(lab))) {
        run("ip", ["netns", "del", ns]);
        failures.push(`left behind: namespace ${ns}`);
      }
      rmSync(root, { recursive: true, force: true });
    }
    if (setupError) throw setupError;
    if (failures.length) {
      assert.fail(
        `${failures.length} of ${ROWS.length} bad-input rows did not hold:\n${failures.join("\n")}`,
      );
    }
  });
});
