/**
 * Running hg for real in end-to-end tests: the compiled executable when `HG_BIN` is set,
 * otherwise this source tree under the runtime running the tests. Every lab gets a name of its
 * own and is removed afterwards; nothing here touches the root namespace.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import type { Readable } from "node:stream";
import { readdirSync, readlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The argv that starts hg under test. */
export function hgArgv(): string[] {
  if (process.env.HG_BIN) return [resolve(process.env.HG_BIN)];
  const entry = join(ROOT, "cli", "main.ts");
  return "Bun" in globalThis ? [process.execPath, entry] : [process.execPath, "run", "-A", entry];
}

/** What one hg run did. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `hg ARGS` in the root namespace (only for commands that touch nothing: help, usage errors, labs). */
export function hg(args: readonly string[], env: Record<string, string> = {}): Run {
  const [cmd, ...rest] = hgArgv();
  return run(cmd, [...rest, ...args], env);
}

/** Runs `hg ARGS` inside a lab host's network namespace. */
export function hgIn(
  netns: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Run {
  return run("nsenter", [`--net=/run/netns/${netns}`, "--", ...hgArgv(), ...args], env);
}

/** Runs any program (argv, no shell). */
export function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(cmd, [...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Whether one ping from a container to an address gets an answer. */
export function pings(fromNetns: string, to: string): boolean {
  return run("nsenter", [`--net=/run/netns/${fromNetns}`, "ping", "-n", "-c", "1", "-W", "1", to])
    .code === 0;
}

/**
 * Whether a ping from a namespace gets an answer within 3 s: for asserting that something is
 * reachable, where one packet lost on a loaded machine is not a fault (ping resends every 200 ms
 * and stops at the first answer).
 */
export function answers(fromNetns: string, to: string): boolean {
  const argv = ["ping", "-n", "-c", "1", "-i", "0.2", "-w", "3", to];
  return run("nsenter", [`--net=/run/netns/${fromNetns}`, ...argv]).code === 0;
}

/** Starts `ping` from a container; resolves with its output when it ends. */
export function pingRun(
  from: string,
  to: string,
  count: number,
  interval: string,
): Promise<string> {
  const ping = spawn("nsenter", [
    `--net=/run/netns/${from}`,
    "ping",
    "-n",
    "-c",
    String(count),
    "-i",
    interval,
    "-W",
    "1",
    to,
  ], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  ping.stdout.on("data", (d) => out += d);
  return new Promise((r) => ping.on("close", () => r(out)));
}

/** Polls `check` every 50 ms for at most `ms`; returns how long it took. */
export async function within(ms: number, check: () => boolean, what: string): Promise<number> {
  const start = Date.now();
  while (!check()) {
    assert.ok(Date.now() - start < ms, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

/** The argv that runs a TypeScript file of this tree under the runtime running the tests. */
export function scriptArgv(path: string): string[] {
  const file = join(ROOT, path);
  return "Bun" in globalThis ? [process.execPath, file] : [process.execPath, "run", "-A", file];
}

/** Whether process `pid` has `path` open (a writer holding a file, in the crash tests). */
export function hasOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** `ip -j ...` in a namespace, parsed. */
export function ipJson(netns: string, args: readonly string[]): unknown {
  const r = run("ip", ["-n", netns, "-j", ...args]);
  if (r.code !== 0) throw new Error(`ip -n ${netns} -j ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout || "[]");
}

/** A lab host's container subnet: the network of its bridge's IPv4 address (x.y.z.1/24). */
export function bridgeSubnetOf(netns: string): string {
  const [{ addr_info }] = ipJson(netns, ["-4", "addr", "show", "cni0"]) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  const { local, prefixlen } = addr_info[0];
  return `${local.replace(/\.1$/, ".0")}/${prefixlen}`;
}

/** The destinations of hg's routes (proto 104) in a namespace, as `ip -N` prints them. */
export function hgRouteDestinations(netns: string): string[] {
  return (ipJson(netns, ["-N", "route", "show", "proto", "104"]) as { dst: string }[])
    .map((r) => r.dst);
}

/**
 * A namespace's network state (links, IPv4 addresses, all IPv4 routing tables; IPv6 link-local
 * routes come and go with DAD by themselves) without the counters and
 * timers that change by themselves, to show that a command changed nothing.
 */
export function netState(netns: string): string {
  type Link = { ifname: string; flags: string[]; master?: string; ifalias?: string; mtu: number };
  type Addr = { ifname: string; addr_info: { local: string; prefixlen: number }[] };
  const links = (ipJson(netns, ["-d", "link"]) as Link[]).map((
    l,
  ) => [l.ifname, l.flags, l.master, l.ifalias, l.mtu]);
  const addrs = (ipJson(netns, ["-4", "addr"]) as Addr[]).map((
    a,
  ) => [a.ifname, a.addr_info.map((i) => `${i.local}/${i.prefixlen}`)]);
  return JSON.stringify(
    { links, addrs, routes: ipJson(netns, ["-4", "route", "show", "table", "all"]) },
    null,
    1,
  );
}

/**
 * Gives a lab host a second uplink `eth1` with `address`/22 on the lab's underlay bridge (its
 * port in the underlay named `port`).
 */
export function addUplink(lab: string, host: string, address: string, port: string): void {
  sh(host, `ip link add eth1 type veth peer name ${port} netns ${lab}-ul`);
  sh(`${lab}-ul`, `ip link set ${port} master ul0 up`);
  sh(host, `ip addr add ${address}/22 dev eth1 && ip link set eth1 up`);
}

/** A failed command: one line on stderr starting "hg: ", the exit code, nothing on stdout. */
export function assertOneLine(r: Run, code: number, what: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^hg: /);
  assert.match(r.stderr, what);
  assert.equal(r.stdout, "");
}

/** Runs a shell line in a namespace; it must succeed. */
export function sh(netns: string, line: string): void {
  const r = run("nsenter", [`--net=/run/netns/${netns}`, "--", "sh", "-c", line]);
  assert.equal(r.code, 0, `${netns}: ${line}: ${r.stderr}`);
}

/** `hg status --json` of a lab host. */
// deno-lint-ignore no-explicit-any
export const hostStatus = (host: string): any =>
  JSON.parse(hgIn(host, ["status", "--json"]).stdout);

/** The address of a lab host's first container. */
export const containerIp = (host: string): string =>
  hostStatus(host).containers[0].address.split("/")[0];

/** A fresh lab name, so tests never collide with a user's lab or each other. */
export function labName(): string {
  return "t" + Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, "a");
}

/** The named network namespaces now. */
export function netnsList(): string[] {
  const r = run("ip", ["netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
}

/** Runs etcdctl (API 3) against the etcd of a lab made without `--store`, in its underlay. */
export function labEtcdctl(lab: string, args: readonly string[]): Run {
  return run("nsenter", [
    `--net=/run/netns/${lab}-ul`,
    "etcdctl",
    "--endpoints=http://10.0.12.2:2379",
    ...args,
  ], { ETCDCTL_API: "3" });
}

/**
 * The flags that name the lab's first host to a registry command run there (`hg agent`,
 * `hg setup --store`): its node name, its address on the underlay, its subnet file.
 */
export function firstHostIdentity(lab: string): string[] {
  const h1 = `${lab}-h1`;
  return [
    "--node",
    h1,
    "--public-ip",
    "10.0.12.11",
    "--subnet-file",
    `/run/hg/lab-${lab}/${h1}.env`,
  ];
}

/**
 * Starts `hg agent` on the lab's first host, on the registry of a lab made without `--store`
 * (etcd at 10.0.12.2 in the lab's underlay), its stderr piped; `env` for its environment.
 */
export function spawnLabAgent(
  lab: string,
  env: NodeJS.ProcessEnv = process.env,
): ChildProcessByStdio<null, null, Readable> {
  const h1 = `${lab}-h1`;
  const [cmd, ...rest] = ["nsenter", `--net=/run/netns/${h1}`, "--", ...hgArgv()];
  return spawn(cmd, [
    ...rest,
    "agent",
    "--store",
    "etcd://10.0.12.2:2379",
    ...firstHostIdentity(lab),
  ], { stdio: ["ignore", "ignore", "pipe"], env });
}

/** Builds a lab, runs `body`, and always takes the lab down, asserting nothing is left behind. */
export async function withLab(
  nodes: number,
  body: (name: string) => void | Promise<void>,
  store?: "file" | "etcd",
  agents = false,
  moreLabUpArgs: readonly string[] = [],
): Promise<void> {
  const name = labName();
  let failure: unknown;
  try {
    const up = hg([
      "lab",
      "up",
      "--nodes",
      String(nodes),
      "--name",
      name,
      ...(store ? ["--store", store] : []),
      ...(agents ? ["--agent"] : []),
      ...moreLabUpArgs,
    ]);
    if (up.code !== 0) throw new Error(`hg lab up failed (${up.code}): ${up.stderr}\n${up.stdout}`);
    await body(name);
  } catch (e) {
    failure = e;
  }
  const down = hg(["lab", "down", "--name", name]);
  const left = netnsList().filter((ns) => ns.startsWith(`${name}-`));
  if (failure) throw failure;
  if (down.code !== 0 || left.length > 0) {
    throw new Error(
      `hg lab down failed (${down.code}: ${down.stderr}); left behind: ${left.join(" ")}`,
    );
  }
}
