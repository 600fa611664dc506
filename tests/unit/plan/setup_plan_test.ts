import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EnvironmentError, InputError } from "../../../lib/errors.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { planSetup } from "../../../lib/setup/plan.ts";
import { bareHost, capturedHost } from "./fixture_state.ts";

const subnet = parsePrefix("1.1.1.0/24");

describe("planSetup", () => {
  it("creates, marks, addresses and raises the bridge and turns forwarding on", () => {
    assert.deepEqual(renderPlan(planSetup(bareHost(), { subnet, bridge: "cni0" })), [
      "ip link add cni0 type bridge",
      "ip link set cni0 alias hg:bridge",
      "ip addr add 1.1.1.1/24 dev cni0",
      "ip link set cni0 up",
      "sysctl -w net.ipv4.ip_forward=1",
    ]);
  });

  it("sets the MTU when asked", () => {
    assert.equal(
      renderPlan(planSetup(bareHost(), { subnet, bridge: "br9", mtu: 1400 }))[0],
      "ip link add br9 mtu 1400 type bridge",
    );
  });

  it("plans nothing for a host that already matches", () => {
    assert.deepEqual(planSetup(capturedHost(), { subnet, bridge: "cni0" }), []);
  });

  it("labels the address it adds to a bridge it did not create, not one it created", () => {
    const host = capturedHost();
    const bare = {
      ...host,
      addresses: host.addresses.map((l) => l.ifname === "cni0" ? { ...l, addresses: [] } : l),
    };
    assert.ok(
      renderPlan(planSetup(bare, { subnet, bridge: "cni0" }))
        .includes("ip addr add 1.1.1.1/24 dev cni0 label cni0:hg"),
    );
    const ours = { ...bare, links: bare.links.map((l) => ({ ...l, alias: "hg:bridge" })) };
    assert.ok(
      renderPlan(planSetup(ours, { subnet, bridge: "cni0" }))
        .includes("ip addr add 1.1.1.1/24 dev cni0"),
    );
  });

  it("adds only the masquerade rule when it is missing, and nothing once it is there", () => {
    const network = parsePrefix("1.1.0.0/16");
    const plan = renderPlan(
      planSetup(capturedHost(), { subnet, bridge: "cni0", masqueradeNetwork: network }, []),
    );
    assert.deepEqual(plan, [
      "iptables -t nat -A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
    ]);
    const rules = [
      "-P POSTROUTING ACCEPT",
      "-A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
    ];
    assert.deepEqual(
      planSetup(capturedHost(), { subnet, bridge: "cni0", masqueradeNetwork: network }, rules),
      [],
    );
  });

  it("refuses a subnet that overlaps a network on the host", () => {
    assert.throws(
      () => planSetup(bareHost(), { subnet: parsePrefix("10.0.0.0/8"), bridge: "cni0" }),
      (e) =>
        e instanceof InputError && /overlaps 10\.0\.12\.0\/22 \(address on eth0\)/.test(e.message),
    );
    assert.throws(
      () => planSetup(capturedHost(), { subnet: parsePrefix("1.1.2.0/24"), bridge: "br1" }),
      (e) => e instanceof InputError && /hg peer route/.test(e.message),
    );
  });

  it("refuses too-small subnets of either family and a dual-stack pair of one family", () => {
    assert.throws(
      () => planSetup(bareHost(), { subnet: parsePrefix("fd00::/127"), bridge: "cni0" }),
      /at most \/126/,
    );
    assert.throws(
      () =>
        planSetup(bareHost(), {
          subnet: parsePrefix("1.1.1.0/24"),
          ipv6Subnet: parsePrefix("1.1.2.0/24"),
          bridge: "cni0",
        }),
      /an IPv4 and an IPv6 subnet/,
    );
    assert.throws(
      () => planSetup(bareHost(), { subnet: parsePrefix("1.1.1.0/31"), bridge: "cni0" }),
      InputError,
    );
  });

  it("refuses to re-address a bridge that holds another subnet, and a non-bridge device", () => {
    const host = capturedHost({ routes: capturedHost().routes.filter((r) => r.protocol !== 104) });
    assert.throws(
      () => planSetup(host, { subnet: parsePrefix("1.1.2.0/24"), bridge: "cni0" }),
      (e) => e instanceof InputError && /already has 1\.1\.1\.1\/24/.test(e.message),
    );
    assert.throws(() => planSetup(bareHost(), { subnet, bridge: "eth0" }), EnvironmentError);
  });
});
