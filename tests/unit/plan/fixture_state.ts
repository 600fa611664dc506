import { readFileSync } from "node:fs";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), "utf8");

/**
 * The captured lab host: eth0 10.0.12.11/22, bridge cni0 1.1.1.1/24 with container c1's veth,
 * an hg route to 1.1.2.0/24 via 10.0.12.7, an admin route to 1.1.3.0/24, a default route.
 */
export function capturedHost(overrides: Partial<HostState> = {}): HostState {
  return {
    links: parseLinks(fixture("link_host.json")),
    addresses: parseAddresses(fixture("addr_host.json")),
    routes: parseRoutes(fixture("route_host.json"), 4),
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: false,
    ...overrides,
  };
}

/** A host with only its uplink eth0 (10.0.12.11/22) and lo: nothing of hg's yet. */
export function bareHost(): HostState {
  const host = capturedHost();
  const keep = (name: string) => name === "lo" || name === "eth0";
  return {
    links: host.links.filter((l) => keep(l.ifname)),
    addresses: host.addresses.filter((a) => keep(a.ifname)),
    routes: host.routes.filter((r) => r.dev === "eth0" && r.protocol === 2),
    neighbours: [],
    fdb: [],
    forwarding: false,
    forwarding6: false,
  };
}

const dualFixture = (name: string) => fixture(`dual/${name}`);

/**
 * The captured dual-stack host (tests/fixtures/dual): eth0 10.0.12.11/24 + fd00:12::11/64, bridge
 * cni0 1.1.144.1/24 + fd00:1:0:90::1/64 with container hgq-h1-c1, routes to h2's 1.1.101.0/24 and
 * fd00:1:0:65::/64 via 10.0.12.12 / fd00:12::12, both forwardings on.
 */
export function dualHost(overrides: Partial<HostState> = {}): HostState {
  return {
    links: parseLinks(dualFixture("link_host.json")),
    addresses: parseAddresses(dualFixture("addr_host.json")),
    routes: [
      ...parseRoutes(dualFixture("route_host.json"), 4),
      ...parseRoutes(dualFixture("route6_host.json"), 6),
    ],
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: true,
    ...overrides,
  };
}
