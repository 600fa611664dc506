/**
 * Addresses that can never be right are refused wherever they enter (issue 11), and the odd ones
 * that do work are not: /31 uplinks, an uplink that is itself a bridge, CGNAT and documentation
 * ranges, jumbo uplinks.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EnvironmentError, InputError } from "../../../lib/errors.ts";
import type { HostState } from "../../../lib/host/state.ts";
import type { AddressedLink } from "../../../lib/ip/addr.ts";
import type { Link } from "../../../lib/ip/link.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parseInterfaceAddress, parsePrefix } from "../../../lib/net/prefix.ts";
import { specialAddress, specialPrefixError } from "../../../lib/net/special.ts";
import { containerSpaces, planPeerAdd } from "../../../lib/peers/plan.ts";
import { planPeerSync } from "../../../lib/peers/sync.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { planSetup } from "../../../lib/setup/plan.ts";
import { uplinkOf } from "../../../lib/host/public_address.ts";
import { allocate } from "../../../lib/store/allocate.ts";
import { makeNetworkConfig } from "../../../lib/store/config.ts";
import { MemoryStore } from "../agent/memory_store.ts";
import { bareHost, capturedHost } from "./fixture_state.ts";

const refusedWith = (pattern: RegExp) => (e: unknown) =>
  e instanceof InputError && pattern.test(e.message);

/** A host whose only uplink `ifname` has `cidr` (and `kind`, `mtu`), plus lo. */
function hostWithUplink(ifname: string, cidr: string, extra: Partial<Link> = {}): HostState {
  const { address, prefix } = parseInterfaceAddress(cidr);
  const base = bareHost();
  const link: Link = { ...base.links.find((l) => l.ifname === "eth0")!, ifname, ...extra };
  const addressed: AddressedLink = {
    ifindex: link.ifindex,
    ifname,
    mtu: link.mtu,
    up: true,
    addresses: [{ address, prefix, scope: "global" }],
  };
  return {
    links: [...base.links.filter((l) => l.ifname === "lo"), link],
    addresses: [...base.addresses.filter((a) => a.ifname === "lo"), addressed],
    routes: [],
    neighbours: [],
    fdb: [],
    forwarding: true,
    forwarding6: false,
  };
}

describe("special address ranges", () => {
  it("names every range no host address comes from", () => {
    const cases: [string, string][] = [
      ["0.0.0.0", "this network"],
      ["0.1.2.3", "this network"],
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["224.0.0.1", "multicast"],
      ["239.255.255.255", "multicast"],
      ["240.0.0.1", "class E"],
      ["255.255.255.254", "class E"],
      ["255.255.255.255", "limited broadcast"],
      ["::", "unspecified"],
      ["::1", "loopback"],
      ["ff02::1", "multicast"],
      // On every IPv6 link at once: as a gateway it names no interface, and no subnet lives there.
      ["fe80::1", "link-local"],
      ["febf::1", "link-local"],
    ];
    for (const [text, what] of cases) {
      assert.match(specialAddress(parseAddress(text)) ?? "(none)", new RegExp(what), text);
    }
  });

  it("lets every unicast range through, the odd ones included", () => {
    for (
      const text of [
        "1.0.0.0",
        "10.0.0.0",
        "100.64.0.1", // CGNAT
        "126.255.255.255",
        "128.0.0.0",
        "169.254.3.4", // link-local uplinks are odd but route
        "192.0.2.1", // documentation range, used by labs
        "223.255.255.255",
        "fd00::1",
        "fec0::1", // past fe80::/10
      ]
    ) {
      assert.equal(specialAddress(parseAddress(text)), undefined, text);
    }
  });

  it("refuses a prefix that overlaps a special range, in or around it", () => {
    assert.match(
      specialPrefixError("subnet", parsePrefix("127.1.0.0/24"))!.message,
      /is in the loopback range 127.0.0.0\/8/,
    );
    assert.match(
      specialPrefixError("network", parsePrefix("192.0.0.0/2"))!.message,
      /overlaps the multicast range 224.0.0.0\/4/,
    );
    assert.equal(specialPrefixError("subnet", parsePrefix("223.255.255.0/24")), undefined);
    assert.equal(specialPrefixError("subnet", parsePrefix("100.64.0.0/10")), undefined);
  });
});

describe("peer gateways", () => {
  const add = (host: HostState, subnet: string, via: string) =>
    renderPlan(
      planPeerAdd(
        host,
        { subnet: parsePrefix(subnet), via: parseAddress(via) },
        containerSpaces(host, "cni0"),
      ).plan,
    );

  it("refuses the network and broadcast address of the shared segment", () => {
    for (const via of ["10.0.12.0", "10.0.15.255"]) {
      assert.throws(
        () => add(capturedHost(), "1.1.4.0/24", via),
        refusedWith(/network or broadcast address of 10.0.12.0\/22 on eth0/),
      );
    }
  });

  it("refuses multicast, loopback, class E and the limited broadcast before anything else", () => {
    for (const via of ["224.0.0.1", "127.0.0.1", "240.0.0.1", "255.255.255.255", "0.0.0.0"]) {
      assert.throws(
        () => add(capturedHost(), "1.1.4.0/24", via),
        refusedWith(/give a host's unicast address/),
      );
    }
  });

  it("refuses a gateway inside this host's own container subnet (on-link through the bridge)", () => {
    assert.throws(
      () => add(capturedHost(), "1.1.4.0/24", "1.1.1.5"),
      refusedWith(/inside the container subnet of bridge cni0 \(1.1.1.0\/24\)/),
    );
  });

  it("refuses a peer subnet in a special range", () => {
    assert.throws(
      () => add(capturedHost(), "224.0.0.0/24", "10.0.12.12"),
      refusedWith(/multicast range/),
    );
    assert.throws(
      () => add(capturedHost(), "240.0.0.0/24", "10.0.12.12"),
      refusedWith(/class E/),
    );
  });

  it("routes through both ends of a /31 uplink and through an uplink that is a bridge", () => {
    const p2p = hostWithUplink("eth0", "10.9.0.0/31");
    assert.deepEqual(add(p2p, "1.1.4.0/24", "10.9.0.1"), [
      "ip route replace 1.1.4.0/24 via 10.9.0.1 dev eth0 proto 104",
    ]);
    const p2pOther = hostWithUplink("eth0", "10.9.0.1/31");
    assert.deepEqual(add(p2pOther, "1.1.4.0/24", "10.9.0.0"), [
      "ip route replace 1.1.4.0/24 via 10.9.0.0 dev eth0 proto 104",
    ]);
    // A hypervisor's br0 holds the uplink address: a bridge, but not hg's container bridge.
    const br0 = hostWithUplink("br0", "192.0.2.10/24", { kind: "bridge" });
    assert.deepEqual(add(br0, "1.1.4.0/24", "192.0.2.11"), [
      "ip route replace 1.1.4.0/24 via 192.0.2.11 dev br0 proto 104",
    ]);
  });

  it("names a gateway behind a link that is down instead of the kernel's invalid gateway", () => {
    const host = hostWithUplink("eth0", "10.0.12.11/22");
    const down = { ...host, addresses: host.addresses.map((l) => ({ ...l, up: false })) };
    assert.throws(
      () => add(down, "1.1.4.0/24", "10.0.12.12"),
      (e) => e instanceof EnvironmentError && /on eth0, which is down/.test(e.message),
    );
    assert.equal(add(host, "1.1.4.0/24", "10.0.12.12").length, 1);
  });

  it("peer sync refuses a lease whose address is inside the cluster network or multicast", () => {
    const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
    const lease = (key: string, ip: string) => ({
      key,
      lease: {
        subnet: parsePrefix(key.replace("-", "/")),
        attrs: { publicIp: parseAddress(ip), backendType: "host-gw" },
      },
    });
    const sync = planPeerSync(capturedHost(), config, [
      lease("1.1.4.0-24", "1.1.9.9"),
      lease("1.1.5.0-24", "224.0.0.5"),
      lease("1.1.6.0-24", "10.0.12.16"),
    ], { node: "me", bridge: "cni0" });
    assert.deepEqual(sync.refused.map((r) => r.key), ["1.1.4.0-24", "1.1.5.0-24"]);
    assert.match(sync.refused[0].reason, /inside the cluster network \(1.1.0.0\/16\)/);
    assert.deepEqual(renderPlan(sync.plan).filter((c) => c.includes("1.1.6.0")), [
      "ip route replace 1.1.6.0/24 via 10.0.12.16 dev eth0 proto 104",
    ]);
  });
});

describe("setup: subnets and the bridge MTU", () => {
  const setup = (host: HostState, subnet: string, mtu?: number) =>
    renderPlan(
      planSetup(host, {
        subnet: parsePrefix(subnet),
        bridge: "cni0",
        mtu,
        uplink: uplinkOf(host, undefined),
      }),
    );

  it("refuses a container subnet in a special range", () => {
    assert.throws(() => setup(bareHost(), "127.1.0.0/24"), refusedWith(/loopback range/));
    assert.throws(() => setup(bareHost(), "224.1.0.0/24"), refusedWith(/multicast range/));
    assert.throws(() => setup(bareHost(), "0.0.1.0/24"), refusedWith(/"this network" range/));
  });

  it("refuses a bridge MTU above the uplink's, found with or without a default route", () => {
    assert.throws(
      () => setup(bareHost(), "1.1.1.0/24", 1501),
      refusedWith(/--mtu 1501 is above the MTU 1500 of the uplink eth0/),
    );
    // A lab host has no default route: its one addressed interface is the uplink.
    const noDefault = hostWithUplink("eth0", "10.0.12.11/22");
    assert.throws(() => setup(noDefault, "1.1.1.0/24", 9000), refusedWith(/uplink eth0/));
  });

  it("takes an MTU at or below the uplink's, and a jumbo one on a jumbo uplink", () => {
    assert.ok(
      setup(bareHost(), "1.1.1.0/24", 1500).includes("ip link add cni0 mtu 1500 type bridge"),
    );
    assert.ok(
      setup(bareHost(), "1.1.1.0/24", 1400).includes("ip link add cni0 mtu 1400 type bridge"),
    );
    const jumbo = hostWithUplink("eth0", "10.0.12.11/22", { mtu: 9000 });
    assert.ok(setup(jumbo, "1.1.1.0/24", 9000).includes("ip link add cni0 mtu 9000 type bridge"));
  });

  it("does not guess an uplink on a host with two addressed interfaces and no default route", () => {
    const host = hostWithUplink("eth0", "10.0.12.11/22");
    const second = hostWithUplink("eth1", "10.0.16.11/22");
    const both: HostState = {
      ...host,
      links: [...host.links, second.links[1]],
      addresses: [...host.addresses, second.addresses[1]],
    };
    assert.equal(uplinkOf(both, undefined), undefined);
    assert.equal(uplinkOf(both, parseAddress("10.0.16.11"))?.ifname, "eth1");
  });
});

describe("allocate: the registry never holds a lease peer sync would refuse", () => {
  const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);

  for (
    const [ip, why] of [
      ["1.1.7.7", /inside the cluster network/],
      ["127.0.0.1", /loopback/],
      ["224.0.0.9", /multicast/],
      ["fd00::7", /IPv6/],
    ] as const
  ) {
    it(`refuses public address ${ip} and writes nothing`, async () => {
      const store = new MemoryStore(config);
      await assert.rejects(
        allocate(store, {
          attrs: { publicIp: parseAddress(ip), backendType: "host-gw", node: "h1" },
          ttlSeconds: 60,
        }),
        refusedWith(why),
      );
      assert.equal((await store.listLeases()).entries.length, 0);
    });
  }

  it("leases a subnet to a host whose address is in an odd but unicast range", async () => {
    const store = new MemoryStore(config);
    const { lease } = await allocate(store, {
      attrs: { publicIp: parseAddress("100.64.0.7"), backendType: "host-gw", node: "h1" },
      ttlSeconds: 60,
    });
    assert.equal((await store.listLeases()).entries[0].key.endsWith("-24"), true);
    assert.equal(lease.attrs.node, "h1");
  });
});
