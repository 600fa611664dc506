/**
 * A snapshot of everything an hg command could change on a lab host, cheap enough to take before
 * and after every call of a table-driven test: one `sh` in the host's namespace (a dozen `ip -j`,
 * `nft`, `iptables-save` and one `grep` of /proc/sys/net) plus an in-process read of the
 * namespace list and of the test's files. Counters, timers and what the kernel does by itself
 * (IPv6 link-local addresses and their routes, DAD flags, lifetimes) are left out, so a host that
 * nothing touched compares equal.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** What to capture. */
export interface StateScope {
  /** The namespace hg runs in: links, addresses, routes, rules, sysctls and firewall. */
  readonly host: string;
  /** More namespaces (a container, another host) whose links, addresses and routes count too. */
  readonly others?: readonly string[];
  /** Only namespaces whose name starts with this are listed (other tests run labs too). */
  readonly netnsPrefix: string;
  /** Directories whose files (names and contents) count: registries, run dir, subnet.env files. */
  readonly dirs?: readonly string[];
}

/** A snapshot: section name → canonical text. Equal snapshots mean nothing changed. */
export type NsState = Record<string, string>;

/**
 * The sysctls read under /proc/sys/net: the global ones hg or doctor care about and, per
 * interface (`all`, `default` and each link), the forwarding, filtering and ARP settings.
 */
const SYSCTLS = [
  "ipv4/ip_forward",
  "ipv4/icmp_echo_ignore_all",
  "ipv4/ip_nonlocal_bind",
  ...[
    "forwarding",
    "rp_filter",
    "proxy_arp",
    "arp_ignore",
    "arp_filter",
    "arp_announce",
    "accept_local",
    "route_localnet",
    "send_redirects",
  ].map((key) => `ipv4/conf/*/${key}`),
  ...["forwarding", "disable_ipv6", "mtu"].map((key) => `ipv6/conf/*/${key}`),
  "bridge/*",
];

function script(scope: StateScope): string {
  const lines = [
    `sec() { printf '\\n@@@ %s\\n' "$1"; }`,
    `sec link; ip -j -d link show`,
    `sec addr; ip -j addr show`,
    `sec route4; ip -j -4 route show table all`,
    `sec route6; ip -j -6 route show table all`,
    `sec rule4; ip -j -4 rule show`,
    `sec rule6; ip -j -6 rule show`,
    // A glob that matches nothing (no br_netfilter) stays as it is: grep's complaint is ignored.
    `sec sysctl; (cd /proc/sys/net && grep -H . ${SYSCTLS.join(" ")} 2>/dev/null)`,
    `sec nft; nft list ruleset 2>&1`,
    `sec iptables; iptables-save 2>&1`,
  ];
  // nsenter, not `ip -n`: that one also makes a mount namespace and remounts /sys, 10x slower.
  for (const ns of scope.others ?? []) {
    const inNs = `nsenter --net=/run/netns/${ns} --`;
    lines.push(
      `sec link@${ns}; ${inNs} ip -j -d link show 2>&1`,
      `sec addr@${ns}; ${inNs} ip -j addr show 2>&1`,
      `sec route4@${ns}; ${inNs} ip -j -4 route show table all 2>&1`,
    );
  }
  return lines.join("\n");
}

// deno-lint-ignore no-explicit-any
type Json = any;

function parse(text: string): Json[] {
  try {
    return JSON.parse(text || "[]");
  } catch {
    return [{ unparsed: text.trim() }];
  }
}

/** Links: what hg sets (name, flags, master, MTU, alias, kind, MAC), no counters or timers. */
function links(text: string): string {
  return parse(text).map((l: Json) =>
    JSON.stringify([
      l.ifname,
      l.flags,
      l.master ?? null,
      l.mtu,
      l.ifalias ?? null,
      l.linkinfo?.info_kind ?? null,
      l.linkinfo?.info_slave_kind ?? null,
      l.address ?? null,
      l.unparsed ?? null,
    ])
  ).join("\n");
}

/** Addresses of both families, without lifetimes and DAD flags, without IPv6 link-local. */
function addrs(text: string): string {
  return parse(text).map((l: Json) =>
    JSON.stringify([
      l.ifname,
      (l.addr_info ?? [])
        .filter((a: Json) => !(a.family === "inet6" && a.scope === "link"))
        .map((a: Json) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope} ${a.label ?? ""}`),
      l.unparsed ?? null,
    ])
  ).join("\n");
}

/** IPv6 routes the kernel makes by itself for every link that is up (link-local, multicast). */
function kernelLinkRoute(r: Json): boolean {
  return r.protocol === "kernel" &&
    (/^fe80:/.test(r.dst ?? "") || r.dst === "ff00::/8");
}

function routes(text: string): string {
  return parse(text)
    .filter((r: Json) => !kernelLinkRoute(r))
    .map((r: Json) => {
      const { expires: _e, cache: _c, ...rest } = r;
      return JSON.stringify(rest);
    })
    .sort()
    .join("\n");
}

/** The firewall as text, without packet/byte counters, timeouts and generation comments. */
function firewall(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) =>
      l.replace(/counter packets \d+ bytes \d+/g, "counter")
        .replace(/\[\d+:\d+\]/g, "[]")
        .replace(/ expires \S+/g, "")
    )
    .join("\n")
    .trim();
}

function sections(out: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const part of out.split("\n@@@ ").slice(1)) {
    const nl = part.indexOf("\n");
    found[part.slice(0, nl < 0 ? part.length : nl)] = nl < 0 ? "" : part.slice(nl + 1);
  }
  return found;
}

function files(dir: string, into: NsState): void {
  if (!existsSync(dir)) {
    into[`files ${dir}`] = "(absent)";
    return;
  }
  const list: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) {
        list.push(`${path}/`);
        walk(path);
      } else {
        const content = st.size <= 1 << 16
          ? readFileSync(path, "utf8")
          : `(${st.size} bytes, modified ${st.mtimeMs})`;
        list.push(`${path} (mode ${(st.mode & 0o7777).toString(8)}):\n${content}`);
      }
    }
  };
  walk(dir);
  into[`files ${dir}`] = list.join("\n");
}

/**
 * Takes a snapshot of `scope`.
 *
 * @example
 * ```ts
 * const before = nsState({ host: "t1-h1", netnsPrefix: "t1" });
 * // ... run hg ...
 * diffState(before, nsState({ host: "t1-h1", netnsPrefix: "t1" })); // [] when nothing changed
 * ```
 */
export function nsState(scope: StateScope): NsState {
  const r = spawnSync(
    "nsenter",
    [`--net=/run/netns/${scope.host}`, "--", "sh", "-c", script(scope)],
    { encoding: "utf8" },
  );
  if (r.status !== 0 && !r.stdout) {
    throw new Error(`snapshot of ${scope.host} failed (${r.status}): ${r.stderr}`);
  }
  const raw = sections(r.stdout ?? "");
  const state: NsState = {};
  for (const [name, text] of Object.entries(raw)) {
    const kind = name.split("@")[0];
    state[name] = kind === "link"
      ? links(text)
      : kind === "addr"
      ? addrs(text)
      : kind.startsWith("route")
      ? routes(text)
      : kind.startsWith("rule")
      ? parse(text).map((rule: Json) => JSON.stringify(rule)).join("\n")
      : kind === "sysctl"
      ? text.split("\n").filter(Boolean).sort().join("\n")
      : firewall(text);
  }
  state.netns = readdirSync("/run/netns").filter((n) => n.startsWith(scope.netnsPrefix)).sort()
    .join(" ");
  for (const dir of scope.dirs ?? []) files(dir, state);
  return state;
}

/**
 * What differs between two snapshots, as short lines: `section: -old line` / `+new line`
 * (at most a few per section).
 */
export function diffState(before: NsState, after: NsState): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  for (const name of names) {
    const a = before[name] ?? "(missing)";
    const b = after[name] ?? "(missing)";
    if (a === b) continue;
    const al = a.split("\n");
    const bl = b.split("\n");
    const removed = al.filter((l) => !bl.includes(l));
    const added = bl.filter((l) => !al.includes(l));
    const shown = [...removed.map((l) => `-${l}`), ...added.map((l) => `+${l}`)];
    const clip = (l: string) => (l.length > 200 ? l.slice(0, 200) + "…" : l);
    out.push(
      `${name}: ${shown.slice(0, 4).map(clip).join(" | ") || "(reordered)"}${
        shown.length > 4 ? ` (+${shown.length - 4} more)` : ""
      }`,
    );
  }
  return out;
}
