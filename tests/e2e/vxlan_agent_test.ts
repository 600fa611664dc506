/**
 * The agent on a VXLAN network: a 4-host lab on two segments (h1, h3 on segment 0; h2, h4 on
 * segment 1) with an agent on etcd in every host. Every container reaches every other; status
 * says host-gw within a segment and vxlan across; deleted fdb and neighbour entries come back
 * within 2 s; a host moved to the other segment switches mode; an agent that leaves takes
 * everything it added with it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { answers, hg, hgIn, ipJson, run, sh, within, withLab } from "./harness.ts";

interface Peer {
  readonly subnet: string;
  readonly peer: string | null;
  readonly mode: string;
  readonly vtepMac: string | null;
  readonly via: string | null;
}

// deno-lint-ignore no-explicit-any
const status = (host: string): any => JSON.parse(hgIn(host, ["status", "--json"]).stdout);
const peers = (host: string): Peer[] => status(host).peers;
const containerOf = (host: string): string =>
  status(host).containers[0].address.split("/")[0] as string;
const modeTo = (from: string, toAddress: string) =>
  peers(from).find((p) => p.peer === toAddress)?.mode;
const fdbMacs = (host: string): string[] => {
  const r = run("bridge", ["-n", host, "-j", "fdb", "show", "dev", "flannel.1"]);
  return (JSON.parse(r.stdout || "[]") as { mac: string }[]).map((f) => f.mac);
};

describe("the agent on a VXLAN network (e2e, root, real etcd)", () => {
  it("reaches everything, repairs fdb and neighbour entries, follows a moved host, cleans up after a leaving one", async () => {
    await withLab(
      4,
      async (lab) => {
        const h = (n: number) => `${lab}-h${n}`;
        const all = [1, 2, 3, 4];
        const addresses = new Map(all.map((n) => [n, containerOf(h(n))]));
        for (const from of all) {
          for (const to of all) {
            if (from !== to) {
              assert.ok(answers(`${h(from)}-c1`, addresses.get(to)!), `h${from} -> h${to}`);
            }
          }
        }
        const labStatus = JSON.parse(hg(["lab", "status", "--name", lab, "--json"]).stdout);
        assert.deepEqual([labStatus.segments, labStatus.backend], [2, "vxlan"]);
        assert.deepEqual(
          peers(h(1)).map((p) => [p.peer, p.mode]).sort(),
          [["10.0.12.13", "host-gw"], ["10.0.20.12", "vxlan"], ["10.0.20.14", "vxlan"]],
        );

        // A deleted fdb entry and a deleted neighbour entry come back within 2 s.
        const toH2 = peers(h(1)).find((p) => p.peer === "10.0.20.12")!;
        sh(h(1), `bridge fdb del ${toH2.vtepMac} dev flannel.1 self`);
        await within(2000, () => fdbMacs(h(1)).includes(toH2.vtepMac!), "the fdb entry is back");
        sh(h(1), `ip neigh del ${toH2.via} dev flannel.1`);
        await within(2000, () => {
          const n = ipJson(h(1), ["neigh", "show", "dev", "flannel.1"]) as { dst: string }[];
          return n.some((e) => e.dst === toH2.via);
        }, "the neighbour entry is back");
        assert.ok(answers(`${h(1)}-c1`, addresses.get(2)!), "h1 -> h2 after the repairs");

        // h2 moves to segment 0: h1 and h3 reach it host-gw now, h4 over VXLAN.
        const moved = hg(["lab", "move-node", "2", "--segment", "0", "--name", lab]);
        assert.equal(moved.code, 0, moved.stderr);
        await within(
          10_000,
          () => modeTo(h(1), "10.0.12.12") === "host-gw",
          "h1 routes h2 host-gw",
        );
        await within(10_000, () => modeTo(h(4), "10.0.12.12") === "vxlan", "h4 tunnels to h2");
        assert.equal(
          peers(h(1)).some((p) => p.peer === "10.0.20.12"),
          false,
          "the old way is gone",
        );
        for (const from of [1, 3, 4]) {
          assert.ok(answers(`${h(from)}-c1`, addresses.get(2)!), `h${from} -> moved h2`);
          assert.ok(answers(`${h(2)}-c1`, addresses.get(from)!), `moved h2 -> h${from}`);
        }

        // h4's agent leaves (SIGTERM with --release-on-exit): its own host loses hg's routes and
        // VXLAN device, the others its route, neighbour and fdb entry.
        const pid = Number(readFileSync(`/run/hg/lab-${lab}/${h(4)}.agent.pid`, "utf8").trim());
        const h4Mac = peers(h(1)).find((p) => p.peer === "10.0.20.14")!.vtepMac!;
        process.kill(pid, "SIGTERM");
        await within(10_000, () => {
          const links = (ipJson(h(4), ["link"]) as { ifname: string }[]).map((l) => l.ifname);
          return !links.includes("flannel.1") && peers(h(4)).length === 0;
        }, "h4 removed its routes and its VXLAN device");
        for (const n of [1, 2, 3]) {
          await within(
            10_000,
            () => !fdbMacs(h(n)).includes(h4Mac),
            `h${n} dropped h4's fdb entry`,
          );
          assert.ok(!peers(h(n)).some((p) => p.peer === "10.0.20.14"), `h${n} has no route to h4`);
        }
      },
      "etcd",
      true,
      ["--segments", "2"],
    );
  });
});
