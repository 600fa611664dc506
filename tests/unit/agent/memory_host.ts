/**
 * A host in memory for the agent's unit tests: links, addresses and routes as `ip -j` shows
 * them, changed by the agent's plans (routes, the bridge's address) as the kernel would.
 *
 * @module
 */
import type { AgentHost } from "../../../lib/agent/agent.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import type { NetChange } from "../../../lib/ip/monitor.ts";
import { parseRoutes, type Route } from "../../../lib/ip/route.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { formatPrefix, parseInterfaceAddress, parsePrefix } from "../../../lib/net/prefix.ts";
import { renderStep } from "../../../lib/plan/render.ts";
import type { Plan } from "../../../lib/plan/step.ts";
import { Wakeup } from "../../../lib/agent/wakeup.ts";

/** One link as `ip -j link show` prints an up Ethernet-like one, with `extra` fields. */
export function linkJson(ifindex: number, ifname: string, extra: Record<string, unknown> = {}) {
  return {
    ifindex,
    ifname,
    flags: ["BROADCAST", "UP", "LOWER_UP"],
    mtu: 1500,
    operstate: "UP",
    ...extra,
  };
}

/**
 * A host set up already (bridge cni0 with `bridgeAddress` if any, uplink eth0 10.0.12.11/22) in memory,
 * with hg containers on the bridge (`containers`: their veth aliases' NAME@ADDRESS/LEN).
 */
export function memoryHost(
  bridgeAddress: string | null = "1.1.1.1/24",
  containers: readonly string[] = [],
) {
  const addr = (ifindex: number, ifname: string, local: string, prefixlen: number) => ({
    ifindex,
    ifname,
    mtu: 1500,
    flags: ["UP"],
    addr_info: [{ family: "inet", local, prefixlen, scope: "global" }],
  });
  const kernelRoute = (dst: string, dev: string) => ({
    dst,
    dev,
    protocol: "kernel",
    scope: "link",
    flags: [],
  });
  /** The bridge's address (with its kernel route) becomes `text`. */
  const bridgeAt = (text: string) => {
    const { address, prefix } = parseInterfaceAddress(text);
    state.addresses = [
      ...state.addresses.filter((a) => a.ifname !== "cni0"),
      ...parseAddresses([addr(3, "cni0", formatAddress(address), prefix.length)]),
    ];
    state.routes = [
      ...state.routes.filter((r) => r.dev !== "cni0"),
      ...parseRoutes([kernelRoute(formatPrefix(prefix), "cni0")], 4),
    ];
  };
  const state: { -readonly [K in keyof HostState]: HostState[K] } = {
    links: parseLinks([
      linkJson(2, "eth0"),
      linkJson(3, "cni0", { ifalias: "hg:bridge", linkinfo: { info_kind: "bridge" } }),
      ...containers.map((mark, i) =>
        linkJson(10 + i, `veth${i}`, { ifalias: `hg:${mark}`, master: "cni0" })
      ),
    ]),
    addresses: parseAddresses([addr(2, "eth0", "10.0.12.11", 22)]),
    routes: parseRoutes([kernelRoute("10.0.12.0/22", "eth0")], 4),
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: false,
  };
  if (bridgeAddress !== null) bridgeAt(bridgeAddress);
  const applied: string[] = [];
  const events = changeEvents();
  /** How often the agent looked at the host (observations), and changed it. */
  const counts = { observed: 0, changes: 0, forwardingReads: 0 };
  const observe = () => {
    counts.observed++;
    return { ...state };
  };
  const change = async <T extends { readonly plan: Plan }>(
    planner: (host: HostState) => T | Promise<T>,
  ) => {
    const planned = await planner(observe());
    if (planned.plan.length > 0) counts.changes++;
    for (const step of planned.plan) {
      const line = renderStep(step);
      applied.push(line);
      const m = /^ip route replace (\S+) via (\S+) dev (\S+) proto 104$/.exec(line);
      const del = /^ip route del (\S+) proto 104$/.exec(line);
      if (m) {
        state.routes = [
          ...state.routes.filter((r) => formatPrefix(r.dst) !== m[1]),
          {
            type: "unicast",
            dst: parsePrefix(m[1]),
            gateway: parseAddress(m[2]),
            dev: m[3],
            protocol: 104,
            scope: 0,
            metric: 0,
            flags: [],
          } as Route,
        ];
      } else if (del) {
        state.routes = state.routes.filter((r) => formatPrefix(r.dst) !== del[1]);
      } else if (line === "ip route flush proto 104") {
        state.routes = state.routes.filter((r) => r.protocol !== 104);
      } else if (/^ip addr add \S+ dev cni0$/.test(line)) {
        bridgeAt(line.split(" ")[3]);
      } else if (/^ip addr del \S+ dev cni0$/.test(line)) {
        state.addresses = state.addresses.filter((a) => a.ifname !== "cni0");
        state.routes = state.routes.filter((r) => r.dev !== "cni0");
      }
    }
    // It "takes the lock" exactly when it has something to apply, as changeHostWhenNeeded does.
    return { ...planned, lockHeldMs: planned.plan.length > 0 ? 1 : 0 };
  };
  const host: AgentHost = {
    natRules: () => Promise.resolve([]),
    present: (containers) => new Set(containers.map((c) => c.hostVeth)),
    observe: () => Promise.resolve(observe()),
    changes: (signal) => events.changes(signal),
    change,
    changeNow: async (planner, after) => {
      const result = await change(planner);
      await after(result, () => Promise.resolve(observe()));
      return result;
    },
    forwarding: () => {
      counts.forwardingReads++;
      return Promise.resolve([state.forwarding, state.forwarding6] as const);
    },
  };
  const peers = () => state.routes.filter((r) => r.protocol === 104).length;
  const routeTo = (subnet: string) =>
    state.routes.find((r) => r.protocol === 104 && formatPrefix(r.dst) === subnet);
  const bridgeNow = () =>
    state.addresses.find((a) => a.ifname === "cni0")?.addresses.map((a) =>
      `${formatAddress(a.address)}/${a.prefix.length}`
    )[0];
  return {
    host,
    state,
    applied,
    counts,
    peers,
    routeTo,
    bridgeAddress: bridgeNow,
    changed: events.poke,
  };
}

/** The host's change events: one each time `poke` is called, as `ip monitor` prints a line. */
function changeEvents() {
  const wakeup = new Wakeup();
  let change: NetChange | undefined;
  return {
    /**
     * A change event, stamped `when` (ms since the epoch, as `ip -ts monitor`), else unstamped;
     * `hgRoutes`: the destinations of hg's routes it set or deleted, when that is all it was.
     */
    poke: (when?: number, hgRoutes?: readonly string[]) => {
      change = when === undefined ? undefined : { at: when, hgRoutes };
      wakeup.poke();
    },
    async *changes(signal: AbortSignal): AsyncIterable<NetChange | void> {
      while (await wakeup.wait(3_600_000, signal)) yield change;
    },
  };
}
