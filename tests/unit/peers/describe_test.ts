/**
 * describeChanges (lib/peers/describe.ts): the words `hg peer sync` and the agent print for a
 * plan, over steps built by the planners' own argument builders: host-gw routes with and without
 * a known node, VXLAN routes, neighbour and fdb entries and their removals; steps that are not
 * peers' (a sysctl, an iptables rule, a link) say nothing; a peer named twice takes the last.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { describeChanges } from "../../../lib/peers/describe.ts";
import { bridgeStep, ipStep, type Step } from "../../../lib/plan/step.ts";
import { fdbArgs, neighbourArgs, vxlanRouteArgs } from "../../../lib/vxlan/peer.ts";

const hostGw = (subnet: string, via: string) =>
  ipStep(["route", "replace", subnet, "via", via, "dev", "eth0", "proto", "104"]);

describe("describeChanges", () => {
  it("names the node of each added route, host-gw and VXLAN, and says what goes", () => {
    const plan: Step[] = [
      hostGw("1.1.3.0/24", "10.0.12.13"),
      hostGw("1.1.9.0/24", "10.0.12.19"),
      ipStep(vxlanRouteArgs(parsePrefix("1.1.5.0/24"), "flannel.1")),
      ipStep(neighbourArgs("1.1.5.0", "0e:56:0a:00:14:0c", "flannel.1")),
      bridgeStep(fdbArgs("0e:56:0a:00:14:0c", "flannel.1", "10.0.20.12")),
      ipStep(["route", "del", "1.1.4.0/24", "proto", "104"]),
      ipStep(["neigh", "del", "1.1.6.0", "dev", "flannel.1"]),
      bridgeStep(["fdb", "del", "0e:56:0a:00:14:0d", "dev", "flannel.1", "self"]),
    ];
    const peers = [
      { subnet: "1.1.3.0/24", via: "10.0.12.13", node: "node3" },
      { subnet: "1.1.5.0/24", via: "10.0.20.12", node: "node5", mode: "vxlan" as const },
      { subnet: "1.1.7.0/24", via: "10.0.12.17", node: "node7" }, // not in the plan
    ];
    assert.deepEqual(describeChanges(plan, peers), [
      "route add 1.1.3.0/24 via 10.0.12.13 (node3)",
      "route add 1.1.9.0/24 via 10.0.12.19", // no peer known: no name
      "route add 1.1.5.0/24 over vxlan to 10.0.20.12 (node5)",
      "vxlan neighbour 1.1.5.0 -> 0e:56:0a:00:14:0c",
      "vxlan fdb 0e:56:0a:00:14:0c -> 10.0.20.12",
      "route del 1.1.4.0/24",
      "vxlan neighbour del 1.1.6.0",
      "vxlan fdb del 0e:56:0a:00:14:0d",
    ]);
  });

  it("says nothing of steps that are not a peer's, and takes the last of a peer named twice", () => {
    const plan: Step[] = [
      { kind: "sysctl", key: "net.ipv4.ip_forward", value: "1" },
      { kind: "iptables", args: ["-t", "nat", "-A", "POSTROUTING", "-j", "HG-MASQ"] },
      ipStep(["link", "set", "cni0", "up"]),
      ipStep(["neigh", "replace", "10.0.12.13", "lladdr", "0e:00:00:00:00:01", "dev", "eth0"]),
      bridgeStep(["link", "set", "dev", "veth1", "learning", "off"]),
      hostGw("1.1.3.0/24", "10.0.12.33"),
    ];
    const peers = [
      { subnet: "1.1.3.0/24", via: "10.0.12.13", node: "old" },
      { subnet: "1.1.3.0/24", via: "10.0.12.33", node: "new" },
    ];
    assert.deepEqual(describeChanges(plan, peers), ["route add 1.1.3.0/24 via 10.0.12.33 (new)"]);
  });

  it("an empty plan says nothing", () => {
    assert.deepEqual(describeChanges([], [{ subnet: "1.1.3.0/24", via: "10.0.12.13" }]), []);
  });
});
