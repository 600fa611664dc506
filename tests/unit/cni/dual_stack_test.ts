/**
 * The CNI plugin on both address families, over a dual-stack host captured from a real one
 * (tests/fixtures/dual: cni0 1.1.144.1/24 + fd00:1:0:90::1/64, hg's own container hgq-h1-c1 at
 * 1.1.144.2 + fd00:1:0:90::2) and the same host made IPv6-only (cni0 without its IPv4 address):
 * the veth mark carries both addresses and old marks still read; ADD takes one address of each
 * family from the one pool (IPv6 without DAD), both default routes on a container's first
 * interface only; the result lists both in every spec version; CHECK names each family's
 * problem on its own; STATUS wants an address left in each subnet.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { checkAttachment, checkReady } from "../../../lib/cni/check.ts";
import { CniError } from "../../../lib/cni/error.ts";
import { planCniAdd } from "../../../lib/cni/plan_add.ts";
import { planCniDel } from "../../../lib/cni/plan_remove.ts";
import type { CniContainer, HgNetConf } from "../../../lib/cni/request.ts";
import { type Attachment, buildResult } from "../../../lib/cni/result.ts";
import { CNI_ERROR, SUPPORTED_VERSIONS } from "../../../lib/cni/spec.ts";
import { takenAddresses } from "../../../lib/containers/address.ts";
import { attachmentVethName } from "../../../lib/containers/name.ts";
import { listContainers } from "../../../lib/containers/list.ts";
import { InputError } from "../../../lib/errors.ts";
import {
  attachmentAlias,
  type AttachmentMark,
  parseAttachmentAlias,
} from "../../../lib/host/marks.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import type { NetState } from "../../../lib/ip/read.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import type { Plan, Step } from "../../../lib/plan/step.ts";
import { buildStatus } from "../../../lib/status/status.ts";
import { dualHost } from "../plan/fixture_state.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/dual/${name}`, import.meta.url), "utf8");

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const NETNS = "/run/netns/netns-0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6";
const GW4 = "1.1.144.1";
const GW6 = "fd00:1:0:90::1";

function netConf(more: Partial<HgNetConf> = {}): HgNetConf {
  return {
    cniVersion: "1.1.0",
    name: "hg",
    bridge: "cni0",
    ipMasq: false,
    hairpinMode: false,
    ...more,
  };
}

function ctr(id: string, more: Partial<CniContainer> = {}): CniContainer & { netns: string } {
  return { id, netns: NETNS, ifname: "eth0", ...more } as CniContainer & { netns: string };
}

/** A runtime attachment's veth as hg marks it (addresses as "ADDR/LEN"). */
interface Marked {
  readonly id: string;
  readonly ifname?: string;
  readonly address: string;
  readonly ipv6?: string;
}

const cidr = (text: string) => {
  const [a, l] = text.split("/");
  return { address: parseAddress(a), prefixLength: Number(l) };
};

/** The captured dual-stack host (IPv6-only: cni0 without 1.1.144.1), plus attachments. */
function host(attachments: readonly Marked[] = [], family: "dual" | "ipv6" = "dual"): HostState {
  const base = dualHost();
  const links = [...base.links];
  let addresses = base.addresses;
  if (family === "ipv6") {
    addresses = addresses.map((l) =>
      l.ifname === "cni0"
        ? { ...l, addresses: l.addresses.filter((a) => a.address.family === 6) }
        : l
    );
  }
  const template = links.find((l) => l.ifname.startsWith("hgv"))!;
  attachments.forEach((a, i) => {
    const ifname = a.ifname ?? "eth0";
    const { address, prefixLength } = cidr(a.address);
    links.push({
      ...template,
      ifindex: 200 + i,
      ifname: attachmentVethName("hg", a.id, ifname),
      alias: attachmentAlias({
        containerId: a.id,
        ifname,
        network: "hg",
        address,
        prefixLength,
        ...(a.ipv6 ? { ipv6: cidr(a.ipv6) } : {}),
        netns: NETNS,
        defaultRoute: ifname === "eth0",
      }),
      master: "cni0",
      up: true,
    });
  });
  return { ...base, links, addresses };
}

const ipSteps = (plan: Plan, netns?: string) =>
  plan.filter((s): s is Extract<Step, { kind: "ip" }> => s.kind === "ip" && s.netns === netns);
const lines = (plan: Plan, netns?: string) => ipSteps(plan, netns).map((s) => s.args.join(" "));

describe("the attachment mark with both families", () => {
  const base: AttachmentMark = {
    containerId: ID_A,
    ifname: "eth0",
    network: "hg",
    address: parseAddress("1.1.1.5"),
    prefixLength: 24,
  };
  const plain = (m: AttachmentMark | undefined) =>
    m && {
      ...m,
      address: formatAddress(m.address),
      ...(m.ipv6 ? { ipv6: { ...m.ipv6, address: formatAddress(m.ipv6.address) } } : {}),
    };

  it("dual-stack: the IPv6 address after the IPv4 one, read back as written", () => {
    const m: AttachmentMark = {
      ...base,
      containerId: "abc",
      ipv6: cidr("fd00:1:1::5/64"),
      defaultRoute: true,
      netns: NETNS,
      name: "web",
    };
    const alias = attachmentAlias(m);
    assert.equal(
      alias,
      `hgc:abc/eth0@1.1.1.5/24,fd00:1:1::5/64,net=hg,default=1,ns=${NETNS},name=web`,
    );
    assert.deepEqual(plain(parseAttachmentAlias(alias)), plain(m));
  });

  it("IPv6-only: the IPv6 address alone, as the primary one", () => {
    const m: AttachmentMark = { ...base, address: parseAddress("fd00:1:1::5"), prefixLength: 64 };
    const alias = attachmentAlias(m);
    assert.equal(alias, `hgc:${ID_A}/eth0@fd00:1:1::5/64,net=hg`);
    const back = parseAttachmentAlias(alias);
    assert.deepEqual(plain(back), plain(m));
    assert.equal(back?.ipv6, undefined);
  });

  it("marks written before dual-stack read as before (one IPv4 address, no ipv6)", () => {
    for (
      const old of [
        "hgc:abc/eth0@1.1.1.5/24,net=hg",
        `hgc:${ID_A}/net1@10.244.0.7/24,net=k8s-pod-network,ns=/proc/4242/ns/net,name=default/web-0`,
        `hgc:${ID_A}/eth0@1.1.1.5/24,net=hg,default=1,ns=${NETNS}`,
      ]
    ) {
      const back = parseAttachmentAlias(old);
      assert.ok(back, old);
      assert.equal(back.address.family, 4);
      assert.equal(back.ipv6, undefined, old);
      assert.equal(attachmentAlias(back), old, "writes back the same alias");
    }
  });

  it("is not a mark: two IPv4 addresses, an IPv6 pair, a prefix too long for its family", () => {
    for (
      const bad of [
        "hgc:abc/eth0@1.1.1.5/24,1.1.1.6/24,net=hg",
        "hgc:abc/eth0@fd00::5/64,fd00::6/64,net=hg",
        "hgc:abc/eth0@1.1.1.5/33,net=hg",
        "hgc:abc/eth0@1.1.1.5/24,fd00::5/129,net=hg",
        "hgc:abc/eth0@1.1.1.5/24,fd00::5/64",
        "hgc:abc/eth0@fd00::zz/64,net=hg",
      ]
    ) {
      assert.equal(parseAttachmentAlias(bad), undefined, bad);
    }
  });

  it("listContainers and status see the runtime container's IPv6 address; the pool holds both", () => {
    const state = host([{ id: ID_A, address: "1.1.144.3/24", ipv6: "fd00:1:0:90::7/64" }]);
    const entry = listContainers(state).find((c) => c.kind === "cni");
    assert.ok(entry);
    assert.equal(entry.ipv6 && formatAddress(entry.ipv6.address), "fd00:1:0:90::7");
    const status = buildStatus(state, "cni0", new Set([entry.hostVeth]));
    const shown = status.containers.find((c) => c.kind === "cni");
    assert.equal(shown?.address, "1.1.144.3/24");
    assert.equal(shown?.ipv6Address, "fd00:1:0:90::7/64");
    const taken = takenAddresses(state, parseAddress(GW6)).map(formatAddress);
    assert.ok(taken.includes("fd00:1:0:90::7"), taken.join(" "));
    assert.ok(taken.includes("1.1.144.3"), taken.join(" "));
  });
});

describe("ADD on a dual-stack bridge", () => {
  it("an address of each family (IPv6 nodad), both default routes, a mark with both", () => {
    const { plan, attachment } = planCniAdd(host(), netConf(), ctr(ID_A, { name: "web" }));
    // .2 and ::2 are hg's own container's.
    assert.equal(formatAddress(attachment.address), "1.1.144.3");
    assert.equal(attachment.ipv6 && formatAddress(attachment.ipv6.address), "fd00:1:0:90::3");
    assert.equal(attachment.ipv6 && formatAddress(attachment.ipv6.gateway), GW6);
    assert.deepEqual(lines(plan, NETNS), [
      "addr add 1.1.144.3/24 dev eth0",
      "addr add fd00:1:0:90::3/64 dev eth0 nodad",
      "link set lo up",
      "link set eth0 up",
      `route add default via ${GW4} dev eth0`,
      `route add default via ${GW6} dev eth0`,
    ]);
    const alias = ipSteps(plan).find((s) => s.args.includes("alias"))!;
    const mark = parseAttachmentAlias(alias.args[alias.args.indexOf("alias") + 1]);
    assert.equal(mark?.ipv6 && formatAddress(mark.ipv6.address), "fd00:1:0:90::3");
    assert.equal(mark?.defaultRoute, true);
  });

  it("never hands out an address of either family another attachment holds", () => {
    const state = host([
      { id: ID_B, address: "1.1.144.3/24", ipv6: "fd00:1:0:90::3/64" },
      // An attachment whose IPv6 address is not the partner of its IPv4 one (CNI_ARGS IP=).
      { id: "c".repeat(64), address: "1.1.144.9/24", ipv6: "fd00:1:0:90::4/64" },
    ]);
    const { attachment } = planCniAdd(state, netConf(), ctr(ID_A));
    assert.equal(formatAddress(attachment.address), "1.1.144.4");
    assert.equal(attachment.ipv6 && formatAddress(attachment.ipv6.address), "fd00:1:0:90::5");
  });

  it("a second interface (net1) gets both addresses and no default route of either family", () => {
    const state = host([{ id: ID_A, address: "1.1.144.3/24", ipv6: "fd00:1:0:90::3/64" }]);
    const { plan, attachment } = planCniAdd(state, netConf(), ctr(ID_A, { ifname: "net1" }));
    assert.equal(attachment.defaultRoute, false);
    assert.deepEqual(lines(plan, NETNS), [
      "addr add 1.1.144.4/24 dev net1",
      "addr add fd00:1:0:90::4/64 dev net1 nodad",
      "link set lo up",
      "link set net1 up",
    ]);
    const doc = buildResult(attachment, "1.1.0");
    assert.equal(doc.ips.length, 2);
    assert.deepEqual(doc.routes, []);
  });

  it("CNI_ARGS IP= of either family sets that family's address; the other comes from the pool", () => {
    const ask = (ip: string) =>
      planCniAdd(host(), netConf(), ctr(ID_A, { requestedIp: parseAddress(ip) })).attachment;
    const v6 = ask("fd00:1:0:90::50");
    assert.equal(formatAddress(v6.address), "1.1.144.3");
    assert.equal(v6.ipv6 && formatAddress(v6.ipv6.address), "fd00:1:0:90::50");
    const v4 = ask("1.1.144.50");
    assert.equal(formatAddress(v4.address), "1.1.144.50");
    assert.equal(v4.ipv6 && formatAddress(v4.ipv6.address), "fd00:1:0:90::3");
    assert.throws(() => ask("fd00:1:0:90::2"), InputError, "hg's own container's");
    assert.throws(() => ask("fd00:1:0:91::5"), InputError, "outside the subnet");
    assert.throws(
      () =>
        planCniAdd(
          host(),
          netConf(),
          ctr(ID_A, { requestedIp: parseAddress("fd00:1:0:90::50"), requestedPrefixLength: 48 }),
        ),
      /is a \/64/,
    );
  });

  it("ipMasq masquerades the IPv4 subnet only", () => {
    const { plan } = planCniAdd(host(), netConf({ ipMasq: true }), ctr(ID_A));
    const rules = plan.filter((s) => s.kind === "iptables");
    assert.equal(rules.length, 1);
    assert.ok(JSON.stringify(rules).includes("1.1.144.0/24"));
    assert.ok(!JSON.stringify(rules).includes("fd00"));
  });

  it("refuses an id and network name too long for both addresses in the 255-byte mark", () => {
    const id = "d".repeat(128);
    const name = "n".repeat(64);
    assert.throws(
      () => planCniAdd(host(), netConf({ name }), ctr(id, { ifname: "abcdefghijklmno" })),
      (e: unknown) => e instanceof CniError && e.code === CNI_ERROR.invalidEnvironment,
    );
    // A runtime's 64-hex id with the longest name and interface fits.
    const { plan } = planCniAdd(
      host(),
      netConf({ name }),
      ctr(ID_A, { ifname: "abcdefghijklmno" }),
    );
    const alias = ipSteps(plan).find((s) => s.args.includes("alias"))!;
    assert.ok(alias.args[alias.args.indexOf("alias") + 1].length <= 255);
  });

  it("DEL removes the dual-stack attachment's veth", () => {
    const state = host([{ id: ID_A, address: "1.1.144.3/24", ipv6: "fd00:1:0:90::3/64" }]);
    assert.deepEqual(
      planCniDel(state, netConf(), ctr(ID_A)).map((s) => s.kind === "ip" && s.args.join(" ")),
      [`link del ${attachmentVethName("hg", ID_A, "eth0")}`],
    );
  });
});

describe("ADD on an IPv6-only bridge", () => {
  it("the IPv6 address alone (nodad) and the IPv6 default route; a MAC from its last bytes", () => {
    const { plan, attachment } = planCniAdd(host([], "ipv6"), netConf(), ctr(ID_A));
    assert.equal(formatAddress(attachment.address), "fd00:1:0:90::3");
    assert.equal(attachment.ipv6, undefined);
    assert.equal(attachment.mac, "0a:58:00:00:00:03");
    assert.deepEqual(lines(plan, NETNS), [
      "addr add fd00:1:0:90::3/64 dev eth0 nodad",
      "link set lo up",
      "link set eth0 up",
      `route add default via ${GW6} dev eth0`,
    ]);
    const doc = buildResult(attachment, "0.4.0");
    assert.deepEqual(doc.ips, [{
      version: "6",
      address: "fd00:1:0:90::3/64",
      gateway: GW6,
      interface: 1,
    }]);
    assert.deepEqual(doc.routes, [{ dst: "::/0", gw: GW6 }]);
  });

  it("refuses an IPv4 CNI_ARGS IP= and ipMasq (nothing IPv4 to masquerade), each with one line", () => {
    assert.throws(
      () =>
        planCniAdd(
          host([], "ipv6"),
          netConf(),
          ctr(ID_A, { requestedIp: parseAddress("1.1.144.5") }),
        ),
      /IP=1\.1\.144\.5 is IPv4: bridge cni0 serves fd00:1:0:90::\/64/,
    );
    assert.throws(
      () => planCniAdd(host([], "ipv6"), netConf({ ipMasq: true }), ctr(ID_A)),
      /"ipMasq" covers IPv4 only/,
    );
  });
});

describe("the result with both families", () => {
  const dual: Attachment = {
    hostVeth: "hgc0123abcd",
    ifname: "eth0",
    mac: "0a:58:01:01:90:03",
    mtu: 1500,
    netns: NETNS,
    address: parseAddress("1.1.144.3"),
    prefixLength: 24,
    gateway: parseAddress(GW4),
    ipv6: {
      address: parseAddress("fd00:1:0:90::3"),
      prefixLength: 64,
      gateway: parseAddress(GW6),
    },
    defaultRoute: true,
  };

  for (const version of SUPPORTED_VERSIONS) {
    it(`${version}: both addresses on the container's interface, both default routes`, () => {
      const doc = JSON.parse(JSON.stringify(buildResult(dual, version)));
      assert.equal(doc.cniVersion, version);
      const index = doc.interfaces.findIndex((i: { sandbox?: string }) => i.sandbox === NETNS);
      const tag = (v: string) => version === "0.4.0" ? { version: v } : {};
      assert.deepEqual(doc.ips, [
        { ...tag("4"), address: "1.1.144.3/24", gateway: GW4, interface: index },
        { ...tag("6"), address: "fd00:1:0:90::3/64", gateway: GW6, interface: index },
      ]);
      assert.deepEqual(doc.routes, [{ dst: "0.0.0.0/0", gw: GW4 }, { dst: "::/0", gw: GW6 }]);
    });
  }

  it("chained: the earlier plugin's entries first, both of hg's pointing past its interfaces", () => {
    const prev = {
      interfaces: [{ name: "x0" }, { name: "x1", sandbox: NETNS }],
      ips: [{ address: "10.99.0.5/24", interface: 1 }],
    };
    const doc = buildResult(dual, "1.0.0", prev);
    assert.deepEqual(doc.ips.map((i) => i.interface), [1, 3, 3]);
  });
});

/** The container as ADD left it: both addresses, both default routes (or those given). */
function inside(
  opts: { v6Address?: boolean; v6Default?: boolean; v4Default?: boolean } = {},
): NetState {
  const { v6Address = true, v6Default = true, v4Default = true } = opts;
  const link = parseLinks(fixture("link_host.json")).find((l) => l.ifname === "eth0")!;
  const addr = (local: string, prefixlen: number) => ({
    family: local.includes(":") ? "inet6" : "inet",
    local,
    prefixlen,
    scope: "global",
  });
  const addresses = parseAddresses(JSON.stringify([{
    ifindex: link.ifindex,
    ifname: "eth0",
    flags: ["UP"],
    mtu: 1500,
    operstate: "UP",
    addr_info: [
      addr("1.1.144.3", 24),
      ...(v6Address ? [addr("fd00:1:0:90::3", 64)] : []),
    ],
  }]));
  const routes4 = v4Default ? [{ dst: "default", gateway: GW4, dev: "eth0" }] : [];
  const routes6 = v6Default ? [{ dst: "default", gateway: GW6, dev: "eth0" }] : [];
  return {
    links: [{ ...link, mac: "0a:58:01:01:90:03", up: true }],
    addresses,
    routes: [
      ...parseRoutes(JSON.stringify(routes4), 4),
      ...parseRoutes(JSON.stringify(routes6), 6),
    ],
    neighbours: [],
  };
}

describe("CHECK with both families", () => {
  const state = host([{ id: ID_A, address: "1.1.144.3/24", ipv6: "fd00:1:0:90::3/64" }]);
  const check = (container: NetState, conf = netConf(), on = state) =>
    checkAttachment(on, conf, ctr(ID_A), container);

  it("is content when both addresses and both default routes are there", () => {
    assert.deepEqual(check(inside()), []);
  });

  it("names the missing IPv6 address and IPv6 default route, and only those", () => {
    assert.deepEqual(check(inside({ v6Address: false, v6Default: false })), [
      "eth0 in the container lacks its address fd00:1:0:90::3/64",
      `the container has no IPv6 default route via ${GW6}`,
    ]);
    assert.deepEqual(check(inside({ v4Default: false })), [
      `the container has no IPv4 default route via ${GW4}`,
    ]);
  });

  it("with prevResult: each of its addresses listed; its routes say which defaults must be there", () => {
    const { attachment } = planCniAdd(
      host(),
      netConf(),
      ctr(ID_A),
    );
    const result = buildResult(attachment, "1.1.0") as unknown as Record<string, unknown>;
    assert.deepEqual(check(inside(), netConf({ prevResult: result })), []);
    // A result without the IPv6 default route (a later plugin took it): none wanted.
    const no6 = { ...result, routes: [{ dst: "0.0.0.0/0", gw: GW4 }] };
    assert.deepEqual(check(inside({ v6Default: false }), netConf({ prevResult: no6 })), []);
    // A result that lost the IPv6 address.
    const lost = { ...result, ips: (result.ips as unknown[]).slice(0, 1) };
    assert.deepEqual(check(inside(), netConf({ prevResult: lost })), [
      "prevResult does not list fd00:1:0:90::3/64, the address hg gave the container",
    ]);
  });

  it("names a bridge that lost the IPv6 gateway", () => {
    const v4only: HostState = {
      ...state,
      addresses: state.addresses.map((l) =>
        l.ifname === "cni0"
          ? { ...l, addresses: l.addresses.filter((a) => a.address.family === 4) }
          : l
      ),
    };
    assert.deepEqual(check(inside(), netConf(), v4only), [
      "bridge cni0 has no IPv6 address, the gateway of fd00:1:0:90::3/64",
    ]);
  });
});

describe("STATUS with both families", () => {
  it("ready on the dual-stack and the IPv6-only host", () => {
    checkReady(host(), netConf());
    checkReady(host([], "ipv6"), netConf());
  });

  it("50 when the IPv4 subnet is full, though the IPv6 one is not", () => {
    const full = Array.from({ length: 252 }, (_, i) => ({
      id: `e${i}`,
      address: `1.1.144.${i + 3}/24`,
      ipv6: `fd00:1:0:90::${(i + 3).toString(16)}/64`,
    }));
    assert.throws(
      () => checkReady(host(full), netConf()),
      (e: unknown) =>
        e instanceof CniError && e.code === CNI_ERROR.notAvailable &&
        /1\.1\.144\.0\/24 has no address left/.test(e.message),
    );
  });
});
