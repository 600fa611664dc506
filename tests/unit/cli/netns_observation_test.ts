/**
 * `hg netns add` and `del` plan from the host's links and addresses alone (lib/containers/
 * observe.ts, change.ts): on captured hosts, of one family and of two, the plans from those alone
 * equal the plans from everything hg observes. Containers are looked up without sorting, and
 * sorted, when shown, without a collator for plain names: the same order as localeCompare's.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareNames, containerEntries, listContainers } from "../../../lib/containers/list.ts";
import type { HostLinks } from "../../../lib/containers/observe.ts";
import { planNetnsAdd } from "../../../lib/containers/plan_add.ts";
import { planNetnsDel } from "../../../lib/containers/plan_del.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { renderPlan } from "../../../lib/plan/render.ts";
import { capturedHost, dualHost } from "../plan/fixture_state.ts";

const linksOf = (host: HostState): HostLinks => ({ links: host.links, addresses: host.addresses });

/** `host` with one more hg container, `name` at `address`, on the bridge. */
function withContainer(host: HostState, name: string, address: string): HostState {
  const veth = host.links.find((l) => l.ifname === "hgv1") ?? host.links[host.links.length - 1];
  return {
    ...host,
    links: [...host.links, { ...veth, ifname: `hgv-${name}`, alias: `hg:${name}@${address}` }],
  };
}

describe("netns add and del from links and addresses alone", () => {
  const hosts = {
    "IPv4 host": withContainer(capturedHost(), "c7", "1.1.1.7/24"),
    "dual-stack host": dualHost(),
  };
  for (const [what, host] of Object.entries(hosts)) {
    it(`plans the same on the ${what}`, () => {
      const inputs = [
        { name: "web1", netnsExists: false },
        { name: "web2", netnsExists: false, requested: undefined },
        ...(what === "IPv4 host"
          ? [{ name: "web3", netnsExists: false, requested: parseAddress("1.1.1.200") }]
          : []),
      ];
      for (const input of inputs) {
        const full = planNetnsAdd({ host, bridge: "cni0", ...input });
        const light = planNetnsAdd({ host: linksOf(host), bridge: "cni0", ...input });
        assert.deepEqual(renderPlan(light.plan), renderPlan(full.plan));
        assert.deepEqual(light.address, full.address);
        assert.ok(light.plan.length >= 7, "a new container's whole plan");
      }
      const marked = containerEntries(host).find((c) => c.kind === "netns")!;
      assert.deepEqual(
        renderPlan(planNetnsDel(linksOf(host), marked.name, true)),
        renderPlan(planNetnsDel(host, marked.name, true)),
      );
    });
  }

  it("still refuses what the full observation refuses", () => {
    const host = withContainer(capturedHost(), "c7", "1.1.1.7/24");
    const taken = { name: "web9", netnsExists: false, requested: parseAddress("1.1.1.7") };
    assert.throws(
      () => planNetnsAdd({ host: linksOf(host), bridge: "cni0", ...taken }),
      /1\.1\.1\.7 is already used/,
    );
    assert.throws(
      () => planNetnsAdd({ host: linksOf(host), bridge: "br9", name: "web9", netnsExists: false }),
      /no bridge br9/,
    );
  });
});

describe("container order", () => {
  it("looks containers up in the links' order and lists them sorted, hg's own first", () => {
    const host = withContainer(
      withContainer(capturedHost(), "web10", "1.1.1.10/24"),
      "app2",
      "1.1.1.11/24",
    );
    const unsorted = containerEntries(host).map((c) => c.name);
    const listed = listContainers(host).map((c) => c.name);
    assert.deepEqual([...listed].sort(), [...unsorted].sort());
    assert.deepEqual(
      listed,
      [...unsorted].sort((a, b) => a.localeCompare(b)),
    );
    assert.notDeepEqual(unsorted, listed, "the fixture's links are not in name order");
  });

  it("compares plain names as localeCompare does, and others through it", () => {
    // A fixed pseudo-random walk over the plain alphabet, weighted to the characters that sort
    // differently by code unit and by collation elsewhere ("-", ".", digits).
    const alphabet = "-.0123456789abcdefghijklmnopqrstuvwxyz";
    let seed = 15;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const word = () =>
      Array.from(
        { length: 1 + Math.floor(next() * 6) },
        () => alphabet[Math.floor(next() * (next() < 0.5 ? 12 : alphabet.length))],
      ).join("");
    for (let i = 0; i < 20_000; i++) {
      const a = word();
      const b = word();
      assert.equal(Math.sign(compareNames(a, b)), Math.sign(a.localeCompare(b)), `${a} ${b}`);
    }
    // Names with capitals or "_" are compared by localeCompare itself.
    for (const [a, b] of [["Web", "api"], ["a_b", "a-b"], ["B", "a"], ["web_1", "web1"]]) {
      assert.equal(compareNames(a, b), a.localeCompare(b), `${a} ${b}`);
    }
  });
});
