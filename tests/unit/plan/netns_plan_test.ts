import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { pickAddress } from "../../../lib/containers/address.ts";
import { hostVethName, validateName } from "../../../lib/containers/name.ts";
import { planNetnsAdd } from "../../../lib/containers/plan_add.ts";
import { planNetnsDel } from "../../../lib/containers/plan_del.ts";
import { EnvironmentError, HgError, InputError } from "../../../lib/errors.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { planTeardown } from "../../../lib/teardown/plan.ts";
import { bareHost, capturedHost } from "./fixture_state.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), "utf8");

/** The captured host with its container c1 marked the way hg marks it. */
function hostWithC1(): HostState {
  const host = capturedHost();
  return {
    ...host,
    links: host.links.map((l) => l.ifname === "hgv1" ? { ...l, alias: "hg:c1@1.1.1.2/24" } : l),
  };
}

const inside = {
  addresses: parseAddresses(fixture("addr_container.json")),
  routes: parseRoutes(fixture("route_container.json"), 4),
};

describe("planNetnsAdd", () => {
  it("creates namespace, veth on the bridge, address, lo, eth0 and default route in two namespaces", () => {
    const planned = planNetnsAdd({
      host: hostWithC1(),
      bridge: "cni0",
      name: "web1",
      netnsExists: false,
    });
    const veth = hostVethName("web1");
    assert.equal(
      formatAddress(planned.address),
      "1.1.1.3",
      "1.1.1.1 is the gateway and 1.1.1.2 is c1's",
    );
    assert.deepEqual(renderPlan(planned.plan), [
      "ip netns add web1",
      `ip link add ${veth} mtu 1500 type veth peer name eth0 mtu 1500 netns web1`,
      `ip link set ${veth} alias hg:web1@1.1.1.3/24`,
      `ip link set ${veth} master cni0 up`,
      "ip -n web1 addr add 1.1.1.3/24 dev eth0",
      "ip -n web1 link set lo up",
      "ip -n web1 link set eth0 up",
      "ip -n web1 route add default via 1.1.1.1 dev eth0",
    ]);
  });

  it("takes a requested address and refuses a taken, outside or wrong-family one", () => {
    const host = hostWithC1();
    const add = (ip: string) =>
      planNetnsAdd({
        host,
        bridge: "cni0",
        name: "web1",
        netnsExists: false,
        requested: parseAddress(ip),
      });
    assert.equal(formatAddress(add("1.1.1.200").address), "1.1.1.200");
    assert.throws(
      () => add("1.1.1.2"),
      (e) => e instanceof InputError && /already used/.test(e.message),
    );
    assert.throws(() => add("1.1.1.1"), /already used/);
    assert.throws(() => add("1.1.2.5"), /outside this host's subnet 1\.1\.1\.0\/24/);
    assert.throws(() => add("1.1.1.255"), /broadcast/);
    assert.throws(() => add("fd00::5"), /fd00::5 is IPv6: bridge cni0 serves 1\.1\.1\.0\/24/);
  });

  it("plans nothing for a complete existing container, and only the missing parts otherwise", () => {
    const host = hostWithC1();
    assert.deepEqual(
      planNetnsAdd({ host, bridge: "cni0", name: "c1", netnsExists: true, container: inside }).plan,
      [],
    );
    const noRoute = { ...inside, routes: inside.routes.filter((r) => r.dst.length !== 0) };
    assert.deepEqual(
      renderPlan(
        planNetnsAdd({ host, bridge: "cni0", name: "c1", netnsExists: true, container: noRoute })
          .plan,
      ),
      [
        "ip -n c1 route replace default via 1.1.1.1 dev eth0",
      ],
    );
    assert.throws(
      () =>
        planNetnsAdd({
          host,
          bridge: "cni0",
          name: "c1",
          netnsExists: true,
          container: inside,
          requested: parseAddress("1.1.1.9"),
        }),
      (e) => e instanceof HgError && /exists with address 1\.1\.1\.2/.test(e.message),
    );
  });

  it("refuses without a bridge, and a foreign namespace of the same name", () => {
    assert.throws(
      () => planNetnsAdd({ host: bareHost(), bridge: "cni0", name: "web1", netnsExists: false }),
      EnvironmentError,
    );
    assert.throws(
      () => planNetnsAdd({ host: hostWithC1(), bridge: "cni0", name: "web1", netnsExists: true }),
      /not made by hg/,
    );
  });
});

describe("planNetnsDel", () => {
  it("deletes an hg container's namespace, or its leftover veth", () => {
    assert.deepEqual(renderPlan(planNetnsDel(hostWithC1(), "c1", true)), ["ip netns del c1"]);
    assert.deepEqual(renderPlan(planNetnsDel(hostWithC1(), "c1", false)), ["ip link del hgv1"]);
  });

  it("refuses an unknown container", () => {
    assert.throws(
      () => planNetnsDel(hostWithC1(), "web9", true),
      (e) => e instanceof InputError && /unknown container "web9"/.test(e.message),
    );
  });
});

describe("planTeardown", () => {
  it("removes hg's containers, routes, bridge and rules, and leaves the rest", () => {
    const host = hostWithC1();
    const marked = {
      ...host,
      links: host.links.map((l) => l.ifname === "cni0" ? { ...l, alias: "hg:bridge" } : l),
    };
    const rules = [
      "-P POSTROUTING ACCEPT",
      "-A POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
      "-A POSTROUTING -j ADMIN",
    ];
    assert.deepEqual(renderPlan(planTeardown(marked, new Set(["hgv1"]), rules)), [
      "ip netns del c1",
      "ip route flush proto 104",
      "ip link del cni0",
      "iptables -t nat -D POSTROUTING -s 1.1.1.0/24 ! -d 1.1.0.0/16 -m comment --comment hg -j MASQUERADE",
    ]);
  });

  it("does not delete a bridge hg did not create, and plans nothing on a clean host", () => {
    assert.deepEqual(renderPlan(planTeardown(capturedHost(), new Set(), [])), [
      "ip route flush proto 104",
    ]);
    assert.deepEqual(planTeardown(bareHost(), new Set(), []), []);
  });

  it("removes the address hg added (labelled BRIDGE:hg) from a bridge it found, nothing else", () => {
    const host = capturedHost();
    const labelled = {
      ...host,
      addresses: host.addresses.map((l) =>
        l.ifname === "cni0"
          ? { ...l, addresses: l.addresses.map((a) => ({ ...a, label: "cni0:hg" })) }
          : l
      ),
    };
    const plan = renderPlan(planTeardown(labelled, new Set(), []));
    assert.ok(plan.includes("ip addr del 1.1.1.1/24 dev cni0"), plan.join("\n"));
    assert.ok(!plan.some((c) => c.includes("link del cni0")));
    // The same address without hg's label is the admin's: it stays.
    assert.ok(!renderPlan(planTeardown(host, new Set(), [])).some((c) => c.includes("addr del")));
  });
});

describe("container names and addresses", () => {
  it("accepts good names and refuses bad ones with one line naming the value", () => {
    assert.equal(validateName("web-1.a_b"), "web-1.a_b");
    for (const bad of ["", "a b", "x\nroute flush", "..", "a/b", "é", "x".repeat(33)]) {
      assert.throws(
        () => validateName(bad),
        (e) => e instanceof InputError && !e.message.includes("\n"),
      );
    }
  });

  it("derives a stable, short, distinct veth name", () => {
    assert.match(hostVethName("web1"), /^hgv[0-9a-f]{8}$/);
    assert.equal(hostVethName("web1"), hostVethName("web1"));
    assert.notEqual(hostVethName("web1"), hostVethName("web2"));
  });

  it("reports a full subnet", () => {
    const subnet = parsePrefix("1.1.1.0/30");
    assert.throws(
      () => pickAddress(subnet, [parseAddress("1.1.1.1"), parseAddress("1.1.1.2")]),
      /no free address/,
    );
  });
});
