/**
 * The planners on a dual-stack host, captured from a real one (tests/fixtures/dual: h1 with
 * eth0 10.0.12.11/24 + fd00:12::11/64, bridge cni0 1.1.144.1/24 + fd00:1:0:90::1/64, container
 * hgq-h1-c1, routes to h2's 1.1.101.0/24 and fd00:1:0:65::/64 via 10.0.12.12 / fd00:12::12).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { planNetnsAdd } from "../../../lib/containers/plan_add.ts";
import { listContainers } from "../../../lib/containers/list.ts";
import { leaseAddresses } from "../../../lib/host/public_address.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { planSetup } from "../../../lib/setup/plan.ts";
import { formatSubnetEnv, subnetOfEnv } from "../../../lib/setup/subnet_env.ts";
import { buildStatus } from "../../../lib/status/status.ts";
import { parseRegistryFile } from "../../../lib/store/file/format.ts";
import { makeNetworkConfig, makeSubnetRange } from "../../../lib/store/config.ts";
import { leaseAttrsOf, leaseOf, subnetsOfKey } from "../../../lib/store/lease.ts";
import type { RegistryEntry } from "../../../lib/store/store.ts";
import { planTeardown } from "../../../lib/teardown/plan.ts";
import { dualHost } from "./fixture_state.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/dual/${name}`, import.meta.url), "utf8");

/** The same host before hg: eth0 and lo only. */
function bareDualHost(): HostState {
  const host = dualHost();
  const keep = (name: string) => name === "lo" || name === "eth0";
  return {
    ...host,
    links: host.links.filter((l) => keep(l.ifname)),
    addresses: host.addresses.filter((a) => keep(a.ifname)),
    routes: host.routes.filter((r) => r.dev === "eth0" && r.protocol !== 104),
    forwarding: false,
    forwarding6: false,
  };
}

const config = makeNetworkConfig(
  parsePrefix("1.1.0.0/16"),
  24,
  {},
  undefined,
  makeSubnetRange(parsePrefix("fd00:1::/56")),
);

/** The captured registry's leases (h1's and h2's), plus any given. */
function entries(extra: Record<string, string> = {}): RegistryEntry[] {
  const file = parseRegistryFile(fixture("registry.json"), "registry.json");
  const stored = Object.entries(file.leases).map(([key, l]) => [key, l.attrs] as const);
  const added = Object.entries(extra).map(([key, v]) => [key, JSON.parse(v)] as const);
  return [...stored, ...added].map(([key, value]) => ({
    key,
    lease: leaseOf(subnetsOfKey(key)!, leaseAttrsOf(value)),
  }));
}

describe("dual-stack setup", () => {
  const request = {
    subnet: parsePrefix("1.1.144.0/24"),
    ipv6Subnet: parsePrefix("fd00:1:0:90::/64"),
    bridge: "cni0",
  };

  it("gives a new bridge both gateways, the IPv6 one without DAD, and both forwardings", () => {
    assert.deepEqual(renderPlan(planSetup(bareDualHost(), request)), [
      "ip link add cni0 type bridge",
      "ip link set cni0 alias hg:bridge",
      "ip addr add 1.1.144.1/24 dev cni0",
      "ip addr add fd00:1:0:90::1/64 dev cni0 nodad",
      "ip link set cni0 up",
      "sysctl -w net.ipv4.ip_forward=1",
      "sysctl -w net.ipv6.conf.all.forwarding=1",
    ]);
  });

  it("finds the captured host set up: nothing to do", () => {
    assert.deepEqual(renderPlan(planSetup(dualHost(), request)), []);
  });

  it("adds only the missing IPv6 gateway to an IPv4 bridge (a host joining dual-stack)", () => {
    const host = dualHost();
    const v4only: HostState = {
      ...host,
      addresses: host.addresses.map((l) =>
        l.ifname === "cni0"
          ? { ...l, addresses: l.addresses.filter((a) => a.address.family === 4) }
          : l
      ),
      forwarding6: false,
    };
    assert.deepEqual(renderPlan(planSetup(v4only, request)), [
      "ip addr add fd00:1:0:90::1/64 dev cni0 nodad",
      "sysctl -w net.ipv6.conf.all.forwarding=1",
    ]);
  });

  it("refuses an IPv6 subnet that is another than the bridge's, naming it", () => {
    assert.throws(
      () => planSetup(dualHost(), { ...request, ipv6Subnet: parsePrefix("fd00:1:0:91::/64") }),
      /bridge cni0 already has fd00:1:0:90::1\/64 .*hg teardown/,
    );
  });

  it("refuses a request that leaves out a family the bridge serves, unless it may renumber", () => {
    const only4 = { subnet: parsePrefix("1.1.144.0/24"), bridge: "cni0" };
    assert.throws(
      () => planSetup(dualHost(), only4),
      /already has fd00:1:0:90::1\/64 \(subnet fd00:1:0:90::\/64\), which 1\.1\.144\.0\/24 leaves out/,
    );
    // The agent moving a host without containers takes the address off.
    assert.deepEqual(renderPlan(planSetup(dualHost(), { ...only4, renumber: true })), [
      "ip addr del fd00:1:0:90::1/64 dev cni0",
    ]);
  });

  it("an IPv6-only host needs no IPv4 forwarding", () => {
    const plan = renderPlan(
      planSetup(bareDualHost(), { subnet: parsePrefix("fd00:1:0:90::/64"), bridge: "cni0" }),
    );
    assert.ok(plan.includes("sysctl -w net.ipv6.conf.all.forwarding=1"));
    assert.ok(!plan.some((l) => l.includes("ip_forward")), plan.join("\n"));
  });
});

describe("a dual-stack host's public addresses", () => {
  const found = (given: Parameters<typeof leaseAddresses>[1], iface?: string) => {
    const a = leaseAddresses(dualHost(), given, iface);
    return [a.publicIp, a.publicIpv6].map((x) => x && formatAddress(x));
  };

  it("finds a global address of each family on the interface, never the link-local one", () => {
    assert.deepEqual(found({}, "eth0"), ["10.0.12.11", "fd00:12::11"]);
  });

  it("keeps a given address as the primary one and finds only its IPv6 partner beside it", () => {
    assert.deepEqual(found({ publicIp: parseAddress("10.0.12.11") }), [
      "10.0.12.11",
      "fd00:12::11",
    ]);
    assert.deepEqual(
      found({ publicIp: parseAddress("10.0.12.11"), publicIpv6: parseAddress("fd00:12::99") }),
      ["10.0.12.11", "fd00:12::99"],
    );
    // An IPv6 --public-ip stands alone: an IPv4 network then refuses it with its reason.
    assert.deepEqual(found({ publicIp: parseAddress("fd00:12::11") }), ["fd00:12::11", undefined]);
    // An address not on this host (a NAT's): nothing is guessed beside it.
    assert.deepEqual(found({ publicIp: parseAddress("192.0.2.7") }), ["192.0.2.7", undefined]);
  });

  it("refuses a link-local or wrong-family --public-ipv6", () => {
    assert.throws(() => found({ publicIpv6: parseAddress("fe80::1") }, "eth0"), /link-local/);
    assert.throws(
      () => found({ publicIpv6: parseAddress("10.0.12.11") }, "eth0"),
      /--public-ipv6 10\.0\.12\.11 is IPv4/,
    );
  });
});

describe("dual-stack containers", () => {
  it("gives a new container an address of each family and both default routes", () => {
    const planned = planNetnsAdd({
      host: dualHost(),
      bridge: "cni0",
      name: "web2",
      netnsExists: false,
    });
    assert.equal(formatAddress(planned.address), "1.1.144.3");
    assert.equal(formatAddress(planned.ipv6!.address), "fd00:1:0:90::3");
    const plan = renderPlan(planned.plan);
    assert.ok(plan.includes("ip -n web2 addr add 1.1.144.3/24 dev eth0"), plan.join("\n"));
    assert.ok(plan.includes("ip -n web2 addr add fd00:1:0:90::3/64 dev eth0 nodad"));
    assert.ok(plan.includes("ip -n web2 route add default via 1.1.144.1 dev eth0"));
    assert.ok(plan.includes("ip -n web2 route add default via fd00:1:0:90::1 dev eth0"));
    assert.ok(plan.some((l) => l.endsWith("alias hg:web2@1.1.144.3/24,fd00:1:0:90::3/64")));
  });

  it("reads the captured container's two addresses from its veth", () => {
    const [c] = listContainers(dualHost());
    assert.equal(c.name, "hgq-h1-c1");
    assert.equal(formatAddress(c.ipv6!.address), "fd00:1:0:90::2");
    const status = buildStatus(dualHost(), "cni0", new Set([c.hostVeth]));
    assert.equal(status.containers[0].ipv6Address, "fd00:1:0:90::2/64");
    assert.equal(status.bridge.ipv6Subnet, "fd00:1:0:90::/64");
    assert.equal(status.forwarding6, true);
  });

  it("takes a requested IPv6 address for that family and picks the IPv4 one", () => {
    const planned = planNetnsAdd({
      host: dualHost(),
      bridge: "cni0",
      name: "web2",
      requested: parseAddress("fd00:1:0:90::99"),
      netnsExists: false,
    });
    assert.equal(formatAddress(planned.ipv6!.address), "fd00:1:0:90::99");
    assert.equal(formatAddress(planned.address), "1.1.144.3");
    assert.throws(
      () =>
        planNetnsAdd({
          host: dualHost(),
          bridge: "cni0",
          name: "web2",
          requested: parseAddress("fd00:1:0:90::2"), // the captured container's
          netnsExists: false,
        }),
      /already used on this host/,
    );
  });
});

describe("dual-stack peer sync", () => {
  it("finds the captured routes right, and routes a new host's two subnets", () => {
    assert.deepEqual(
      renderPlan(planPeerSync(dualHost(), config, entries(), { node: "h1", bridge: "cni0" }).plan),
      [],
    );
    const sync = planPeerSync(
      dualHost(),
      config,
      entries({
        "1.1.7.0-24&fd00:1:0:7::-64":
          '{"PublicIP":"10.0.12.13","PublicIPv6":"fd00:12::13","BackendType":"host-gw","HgNode":"h3"}',
      }),
      { node: "h1", bridge: "cni0" },
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.7.0/24 via 10.0.12.13 dev eth0 proto 104",
      "ip route replace fd00:1:0:7::/64 via fd00:12::13 dev eth0 proto 104",
    ]);
    assert.deepEqual(sync.refused, []);
  });

  it("removes both routes of a host that left", () => {
    const own = entries().filter((e) => "lease" in e && e.lease.attrs.node === "h1");
    assert.deepEqual(
      renderPlan(planPeerSync(dualHost(), config, own, { node: "h1", bridge: "cni0" }).plan),
      ["ip route del 1.1.101.0/24 proto 104", "ip route del fd00:1:0:65::/64 proto 104"],
    );
  });

  it("refuses an IPv6 subnet outside the IPv6 network and still routes the lease's IPv4 one", () => {
    const sync = planPeerSync(
      dualHost(),
      config,
      entries({
        "1.1.7.0-24&fd00:2:0:7::-64":
          '{"PublicIP":"10.0.12.13","PublicIPv6":"fd00:12::13","HgNode":"h3"}',
      }),
      { node: "h1", bridge: "cni0" },
    );
    assert.deepEqual(renderPlan(sync.plan), [
      "ip route replace 1.1.7.0/24 via 10.0.12.13 dev eth0 proto 104",
    ]);
    assert.deepEqual(sync.refused.map((r) => r.reason), [
      "fd00:2:0:7::/64 is outside the cluster network fd00:1::/56",
    ]);
  });

  it("refuses an IPv6 peer whose address is not on any segment of this host", () => {
    const sync = planPeerSync(
      dualHost(),
      config,
      entries({
        "1.1.7.0-24&fd00:1:0:7::-64":
          '{"PublicIP":"10.0.12.13","PublicIPv6":"fd00:99::13","HgNode":"h3"}',
      }),
      { node: "h1", bridge: "cni0" },
    );
    assert.equal(sync.refused.length, 1);
    assert.match(sync.refused[0].reason, /fd00:99::13 is not on a directly connected network/);
  });
});

describe("dual-stack teardown and subnet.env", () => {
  it("removes hg's IPv6 routes one by one beside the IPv4 flush", () => {
    const [c] = listContainers(dualHost());
    assert.deepEqual(renderPlan(planTeardown(dualHost(), new Set([c.hostVeth]), [])), [
      "ip netns del hgq-h1-c1",
      "ip route flush proto 104",
      "ip route del fd00:1:0:65::/64 proto 104",
      "ip link del cni0",
    ]);
  });

  it("writes flannel's FLANNEL_IPV6_* lines and reads the primary subnet back", () => {
    const text = formatSubnetEnv({
      network: parsePrefix("1.1.0.0/16"),
      subnet: parsePrefix("1.1.144.0/24"),
      ipv6: { network: parsePrefix("fd00:1::/56"), subnet: parsePrefix("fd00:1:0:90::/64") },
      mtu: 1500,
      ipMasq: false,
    });
    assert.equal(
      text,
      "FLANNEL_NETWORK=1.1.0.0/16\nFLANNEL_SUBNET=1.1.144.1/24\n" +
        "FLANNEL_IPV6_NETWORK=fd00:1::/56\nFLANNEL_IPV6_SUBNET=fd00:1:0:90::1/64\n" +
        "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n",
    );
    assert.equal(subnetOfEnv(text)?.address.family, 4);
    const only6 = formatSubnetEnv({
      network: parsePrefix("fd00:1::/48"),
      subnet: parsePrefix("fd00:1:0:90::/64"),
      mtu: 1500,
      ipMasq: false,
    });
    assert.ok(!only6.includes("FLANNEL_NETWORK="), only6);
    assert.equal(subnetOfEnv(only6)?.address.family, 6);
  });
});
