/**
 * hg as a CNI plugin on both address families, held to the CNI spec the way
 * tests/e2e/cni_contract_test.ts holds it on IPv4, with no runtime: the executable under test
 * runs with the environment and stdin podman 4.3 passes, in a "host" network namespace whose
 * cni0 is dual-stack (1.1.1.1/24 and fd00:1:1::1/64) or IPv6-only (fd00:1:1::1/64), and the
 * kernel is asked what it then has: each address on the container's interface (the IPv6 one
 * usable at once: no DAD), each default route, real pings of each family (ping -4, ping -6) to the
 * bridge and between containers. Every test builds its own namespaces (a unique prefix) and a
 * private HG_RUN_DIR, and removes them afterwards; nothing touches the root namespace.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Run, run } from "./harness.ts";
import {
  conf,
  hex64,
  Host,
  must,
  podmanEnv,
  quiet,
  show,
  withCniHost,
} from "../support/cni_host.ts";

interface CniResult {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
}
interface KAddr {
  ifname: string;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    scope: string;
    tentative?: boolean;
  }[];
}
interface KRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

const GW4 = "1.1.1.1";
const GW6 = "fd00:1:1::1";

/** Builds the host (cni0 with `addresses`, IPv6 ones without DAD), runs `body`, removes all. */
function withHost(
  addresses: readonly string[],
  body: (h: Host) => void | Promise<void>,
): Promise<void> {
  return withCniHost("hgc6", addresses, body);
}

function added(r: Run, what = "ADD"): CniResult {
  assert.equal(r.code, 0, `${what} should succeed\n${show(r)}`);
  return JSON.parse(r.stdout) as CniResult;
}

function ipAt<T>(path: string, args: readonly string[]): T {
  const r = run("nsenter", [`--net=${path}`, "--", "ip", "-j", ...args]);
  if (r.code !== 0) throw new Error(`ip -j ${args.join(" ")} in ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout || "[]") as T;
}

/** Whether a ping of `family` from the namespace at `path` to `to` is answered within 3 s. */
function answers(path: string, family: 4 | 6, to: string): boolean {
  const argv = ["ping", `-${family}`, "-n", "-c", "1", "-i", "0.2", "-w", "3", to];
  return run("nsenter", [`--net=${path}`, "--", ...argv]).code === 0;
}

/** One address of each family the result gives `ifname` in `netns`. */
interface Given {
  readonly v4?: string;
  readonly v6?: string;
}

/**
 * Asserts that the result gives (`netns`, `ifname`) an address of each family in `families`
 * (with the bridge's address of that family as gateway and `interface` the index of that
 * interface), that the kernel has each on the interface, the IPv6 one not tentative, and each
 * default route when `defaults`; returns the addresses.
 */
function assertFamilies(
  result: CniResult,
  netns: string,
  ifname: string,
  families: readonly (4 | 6)[],
  defaults = true,
): Given {
  const text = JSON.stringify(result);
  const index = result.interfaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  assert.ok(index >= 0, `the result names ${ifname} in ${netns}: ${text}`);
  const mine = result.ips.filter((ip) => ip.interface === index);
  assert.equal(mine.length, families.length, `one address per family: ${text}`);
  const kernel = ipAt<KAddr[]>(netns, ["addr", "show", "dev", ifname])[0]?.addr_info ?? [];
  const routes = [
    ...ipAt<KRoute[]>(netns, ["-4", "route", "show", "default"]),
    ...ipAt<KRoute[]>(netns, ["-6", "route", "show", "default"]),
  ];
  const given: { v4?: string; v6?: string } = {};
  for (const family of families) {
    const ip = mine.find((i) => i.address.includes(":") === (family === 6));
    assert.ok(ip, `an IPv${family} address for ${ifname}: ${text}`);
    const gateway = family === 4 ? GW4 : GW6;
    assert.equal(ip.gateway, gateway, `IPv${family} gateway: ${text}`);
    if (result.cniVersion === "0.4.0") assert.equal(ip.version, String(family));
    else assert.equal(ip.version, undefined);
    const [address, length] = ip.address.split("/");
    const held = kernel.find((a) => a.local === address && a.prefixlen === Number(length));
    assert.ok(held, `${ifname} has ${ip.address}: ${JSON.stringify(kernel)}`);
    assert.ok(!held.tentative, `${ip.address} is usable at once (no DAD)`);
    const dst = family === 4 ? "0.0.0.0/0" : "::/0";
    const listed = (result.routes ?? []).some((r) => r.dst === dst && r.gw === gateway);
    const routed = routes.some((r) =>
      r.dst === "default" && r.gateway === gateway && r.dev === ifname
    );
    assert.equal(listed, defaults, `result routes ${dst}: ${JSON.stringify(result.routes)}`);
    assert.equal(routed, defaults, `kernel default via ${gateway}: ${JSON.stringify(routes)}`);
    given[family === 4 ? "v4" : "v6"] = address;
  }
  return given;
}

/** The prevResult config for CHECK and DEL. */
const withPrev = (version: string, result: CniResult) => conf(version, { prevResult: result });

describe("CNI plugin on both address families (e2e, root, no runtime)", () => {
  it("dual-stack: ADD gives each container both families; ping -4 and -6 to the bridge and each other; CHECK; status; DEL", async () => {
    await withHost([`${GW4}/24`, `${GW6}/64`], async (h) => {
      const [n1, n2] = [h.container("c1"), h.container("c2")];
      const [id1, id2] = [hex64(), hex64()];
      const r1 = added(h.cni(podmanEnv("ADD", id1, n1, "eth0", "a1"), conf("1.1.0")));
      const r2 = added(h.cni(podmanEnv("ADD", id2, n2, "eth0", "a2"), conf("1.1.0")));
      assert.equal(r1.cniVersion, "1.1.0");
      const a1 = assertFamilies(r1, n1, "eth0", [4, 6]);
      const a2 = assertFamilies(r2, n2, "eth0", [4, 6]);
      assert.notEqual(a1.v4, a2.v4);
      assert.notEqual(a1.v6, a2.v6);
      for (const [from, to] of [[n1, a2], [n2, a1]] as const) {
        assert.ok(answers(from, 4, GW4), `${from} pings ${GW4}`);
        assert.ok(answers(from, 6, GW6), `${from} pings ${GW6}`);
        assert.ok(answers(from, 4, to.v4!), `${from} pings ${to.v4}`);
        assert.ok(answers(from, 6, to.v6!), `${from} pings ${to.v6}`);
      }

      quiet(h.cni(podmanEnv("CHECK", id1, n1), withPrev("1.1.0", r1)), "CHECK");
      quiet(h.cni(podmanEnv("CHECK", id1, n1), conf("1.1.0")), "CHECK without prevResult");

      const status = await h.hg(["status", "--json"]);
      assert.equal(status.code, 0, show(status));
      const listed = (JSON.parse(status.stdout).containers as {
        containerId?: string;
        address: string;
        ipv6Address: string | null;
      }[]).find((c) => c.containerId === id1);
      assert.equal(listed?.address, `${a1.v4}/24`);
      assert.equal(listed?.ipv6Address, `${a1.v6}/64`, "status shows the IPv6 address");

      quiet(h.cni(podmanEnv("DEL", id1, n1), withPrev("1.1.0", r1)), "DEL");
      quiet(h.cni(podmanEnv("DEL", id1, n1), withPrev("1.1.0", r1)), "DEL again");
      const links = ipAt<{ ifname: string }[]>(n1, ["link"]).map((l) => l.ifname);
      assert.deepEqual(links, ["lo"], "eth0 is gone");
      assert.ok(!answers(n2, 6, a1.v6!), "the freed IPv6 address answers no more");
      // The next ADD gets the freed addresses of both families back.
      const n3 = h.container("c3");
      const a3 = assertFamilies(
        added(h.cni(podmanEnv("ADD", hex64(), n3), conf("1.1.0"))),
        n3,
        "eth0",
        [4, 6],
      );
      assert.deepEqual(a3, a1);
    });
  });

  it("IPv6-only: ADD gives the IPv6 address and route alone; ping -6; CHECK fails for a lost IPv6 default route; DEL", async () => {
    await withHost([`${GW6}/64`], (h) => {
      const [n1, n2] = [h.container("c1"), h.container("c2")];
      const [id1, id2] = [hex64(), hex64()];
      const r1 = added(h.cni(podmanEnv("ADD", id1, n1), conf("1.0.0")));
      const r2 = added(h.cni(podmanEnv("ADD", id2, n2), conf("1.0.0")));
      const a1 = assertFamilies(r1, n1, "eth0", [6]);
      const a2 = assertFamilies(r2, n2, "eth0", [6]);
      assert.deepEqual(r1.routes, [{ dst: "::/0", gw: GW6 }]);
      assert.deepEqual(ipAt<KRoute[]>(n1, ["-4", "route"]), [], "no IPv4 route at all");
      assert.ok(answers(n1, 6, GW6));
      assert.ok(answers(n1, 6, a2.v6!));
      assert.ok(answers(n2, 6, a1.v6!));

      quiet(h.cni(podmanEnv("CHECK", id1, n1), withPrev("1.0.0", r1)), "CHECK");
      must("nsenter", [`--net=${n1}`, "ip", "-6", "route", "del", "default"]);
      const broken = h.cni(podmanEnv("CHECK", id1, n1), withPrev("1.0.0", r1));
      assert.notEqual(broken.code, 0, show(broken));
      const doc = JSON.parse(broken.stdout);
      assert.equal(doc.code, 101);
      assert.match(doc.msg, /no IPv6 default route via fd00:1:1::1/);

      quiet(h.cni(podmanEnv("DEL", id1, n1), withPrev("1.0.0", r1)), "DEL");
      quiet(h.cni(podmanEnv("DEL", id2, n2), withPrev("1.0.0", r2)), "DEL");
      const left = ipAt<{ ifname: string }[]>(`/run/netns/${h.name}`, ["link"]);
      assert.deepEqual(left.filter((l) => l.ifname.startsWith("hgc")), [], "no veth left");
    });
  });

  it('a 0.4.0 config on a dual-stack host: version "4" and "6", CHECK, DEL', async () => {
    await withHost([`${GW4}/24`, `${GW6}/64`], (h) => {
      const n1 = h.container("c1");
      const id = hex64();
      const r = added(h.cni(podmanEnv("ADD", id, n1), conf("0.4.0")));
      assert.equal(r.cniVersion, "0.4.0");
      assertFamilies(r, n1, "eth0", [4, 6]);
      quiet(h.cni(podmanEnv("CHECK", id, n1), withPrev("0.4.0", r)), "CHECK");
      quiet(h.cni(podmanEnv("DEL", id, n1), withPrev("0.4.0", r)), "DEL");
    });
  });

  it("a second interface (net1) on a dual-stack host: both addresses, no default routes; eth0 keeps both; CHECK each", async () => {
    await withHost([`${GW4}/24`, `${GW6}/64`], (h) => {
      const n1 = h.container("c1");
      const id = hex64();
      const r0 = added(h.cni(podmanEnv("ADD", id, n1, "eth0"), conf("1.0.0")), "ADD eth0");
      const r1 = added(h.cni(podmanEnv("ADD", id, n1, "net1"), conf("1.0.0")), "ADD net1");
      const eth0 = assertFamilies(r0, n1, "eth0", [4, 6]);
      const net1 = assertFamilies(r1, n1, "net1", [4, 6], false);
      assert.equal(r1.routes?.length ?? 0, 0, JSON.stringify(r1.routes));
      // eth0's default routes are still there (assertFamilies read them again).
      assertFamilies(r0, n1, "eth0", [4, 6]);
      assert.notEqual(eth0.v6, net1.v6);
      quiet(h.cni(podmanEnv("CHECK", id, n1, "eth0"), withPrev("1.0.0", r0)), "CHECK eth0");
      quiet(h.cni(podmanEnv("CHECK", id, n1, "net1"), withPrev("1.0.0", r1)), "CHECK net1");
      // The bridge answers on net1's addresses too (its own subnet routes).
      const h6 = run("nsenter", [
        `--net=/run/netns/${h.name}`,
        "ping",
        "-6",
        "-c",
        "1",
        "-w",
        "3",
        net1.v6!,
      ]);
      assert.equal(h6.code, 0, `the host pings ${net1.v6}: ${h6.stdout}`);
      quiet(h.cni(podmanEnv("DEL", id, n1, "net1"), withPrev("1.0.0", r1)), "DEL net1");
      quiet(h.cni(podmanEnv("CHECK", id, n1, "eth0"), withPrev("1.0.0", r0)), "CHECK eth0 after");
    });
  });

  it("ADDs at once, interleaved with hg netns add, never share an address of either family", async () => {
    await withHost([`${GW4}/24`, `${GW6}/64`], async (h) => {
      const own = (name: string) =>
        (ipAt<KAddr[]>(`/run/netns/${name}`, ["addr", "show", "dev", "eth0"])[0]?.addr_info ?? [])
          .filter((a) => a.scope === "global").map((a) => a.local);
      const adds = Array.from({ length: 8 }, (_, i) => {
        const netns = h.container(`c${i}`);
        return { netns, run: h.cniAsync(podmanEnv("ADD", hex64(), netns), conf("1.1.0")) };
      });
      const mine = [0, 1, 2].map((i) => h.hg(["netns", "add", `${h.prefix}-n${i}`]));
      const v4: string[] = [];
      const v6: string[] = [];
      for (const job of adds) {
        const given = assertFamilies(added(await job.run), job.netns, "eth0", [4, 6]);
        v4.push(given.v4!);
        v6.push(given.v6!);
      }
      for (const [i, r] of (await Promise.all(mine)).entries()) {
        assert.equal(r.code, 0, show(r));
        const held = own(`${h.prefix}-n${i}`);
        assert.equal(held.length, 2, `hg netns add gave both families: ${held}`);
        v4.push(held.find((a) => !a.includes(":"))!);
        v6.push(held.find((a) => a.includes(":"))!);
      }
      assert.equal(new Set(v4).size, 11, `distinct IPv4: ${v4.join(" ")}`);
      assert.equal(new Set(v6).size, 11, `distinct IPv6: ${v6.join(" ")}`);
      assert.ok(!v4.includes(GW4) && !v6.includes(GW6), "never a gateway");
      // Everyone reaches everyone over IPv6 (one sample pair each way).
      assert.ok(answers(adds[0].netns, 6, v6[7]));
      assert.ok(answers(`/run/netns/${h.prefix}-n0`, 6, v6[0]));
    });
  });
});
