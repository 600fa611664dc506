/**
 * The pure CNI planners and checks over host states built from captured `ip -j` output (the lab
 * host of tests/fixtures: cni0 1.1.1.1/24 and one container's veth), with runtime attachments
 * marked the way hg marks them: ADD draws from the one address pool of the bridge, DEL and GC
 * remove exactly their own attachments, CHECK compares with what ADD made (and prevResult),
 * STATUS says 50 unless the bridge can take containers.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { checkAttachment, checkReady } from "../../../lib/cni/check.ts";
import { CniError } from "../../../lib/cni/error.ts";
import { planCniAdd } from "../../../lib/cni/plan_add.ts";
import { planCniDel, planCniGc } from "../../../lib/cni/plan_remove.ts";
import type { CniContainer, HgNetConf } from "../../../lib/cni/request.ts";
import { attachmentVethName } from "../../../lib/containers/name.ts";
import { EnvironmentError, HgError, InputError } from "../../../lib/errors.ts";
import { attachmentAlias, parseAttachmentAlias } from "../../../lib/host/marks.ts";
import type { HostState } from "../../../lib/host/state.ts";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { type Link, parseLinks } from "../../../lib/ip/link.ts";
import type { NetState } from "../../../lib/ip/read.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";
import type { Plan, Step } from "../../../lib/plan/step.ts";
import { capturedHost } from "../plan/fixture_state.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), "utf8");

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const ID_C = "c".repeat(64);
const NETNS = "/run/netns/netns-0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6";

function netConf(more: Partial<HgNetConf> = {}): HgNetConf {
  return {
    cniVersion: "1.0.0",
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

/** A runtime attachment's host veth, as hg names and marks it. */
interface Marked {
  readonly network?: string;
  readonly id: string;
  readonly ifname?: string;
  readonly address: string;
  readonly master?: string;
  readonly up?: boolean;
}

/**
 * The captured host, its container c1 marked as hg's own (`hg netns add`, 1.1.1.2) unless
 * `withC1` is false, plus runtime attachments.
 */
function host(attachments: readonly Marked[] = [], withC1 = true): HostState {
  const base = capturedHost();
  const template = base.links.find((l) => l.ifname === "hgv1")!;
  const links: Link[] = base.links.map((l) =>
    l.ifname === "hgv1" ? { ...l, alias: withC1 ? "hg:c1@1.1.1.2/24" : undefined } : l
  );
  attachments.forEach((a, i) => {
    const network = a.network ?? "hg";
    const ifname = a.ifname ?? "eth0";
    links.push({
      ...template,
      ifindex: 100 + i,
      ifname: attachmentVethName(network, a.id, ifname),
      alias: attachmentAlias({
        containerId: a.id,
        ifname,
        network,
        address: parseAddress(a.address),
        prefixLength: 24,
        netns: NETNS,
        // ADD gives the default route to a container's first interface on hg.
        defaultRoute: ifname === "eth0",
      }),
      master: a.master === undefined ? "cni0" : a.master || undefined,
      up: a.up ?? true,
    });
  });
  return { ...base, links };
}

/**
 * The captured container: eth0 up with 1.1.1.2/24, default route via 1.1.1.1, and the MAC ADD
 * gives it (0a:58 and the address; the captured one was made by hg netns add).
 */
function inside(): NetState {
  return {
    links: parseLinks(fixture("link_container.json")).map((l) =>
      l.ifname === "eth0" ? { ...l, mac: "0a:58:01:01:01:02" } : l
    ),
    addresses: parseAddresses(fixture("addr_container.json")),
    routes: parseRoutes(fixture("route_container.json"), 4),
    neighbours: [],
  };
}

const ipSteps = (plan: Plan, netns?: string) =>
  plan.filter((s): s is Extract<Step, { kind: "ip" }> => s.kind === "ip" && s.netns === netns);
const hasArgs = (plan: Plan, netns: string | undefined, args: readonly string[]) =>
  ipSteps(plan, netns).some((s) => args.every((a, i) => s.args[i] === a));

describe("planCniAdd", () => {
  it("a veth whose container end is CNI_IFNAME in CNI_NETNS, marked, on the bridge; address, lo, up, default route inside", () => {
    const { plan, attachment } = planCniAdd(
      host(),
      netConf(),
      ctr(ID_A, { name: "default/web-0" }),
    );
    const address = formatAddress(attachment.address);
    assert.equal(address, "1.1.1.3", "1.1.1.1 is the bridge's, 1.1.1.2 hg's own container's");
    assert.equal(attachment.ifname, "eth0");
    assert.equal(attachment.netns, NETNS);
    assert.equal(formatAddress(attachment.gateway), "1.1.1.1");
    assert.equal(attachment.prefixLength, 24);

    const add = ipSteps(plan).find((s) => s.args[0] === "link" && s.args[1] === "add");
    assert.ok(add, "a veth is created from the host");
    const veth = add.args[2];
    assert.equal(veth, attachment.hostVeth);
    const peer = add.args.indexOf("peer");
    assert.ok(peer > 0 && add.args[peer + 2] === "eth0", `its peer is eth0: ${add.args}`);
    assert.equal(add.args[add.args.indexOf("netns", peer) + 1], NETNS, "created in CNI_NETNS");

    const alias = ipSteps(plan).find((s) => s.args.includes("alias"));
    const mark = parseAttachmentAlias(alias?.args[alias.args.indexOf("alias") + 1]);
    assert.ok(mark, "the veth is marked");
    assert.equal(mark.containerId, ID_A);
    assert.equal(mark.ifname, "eth0");
    assert.equal(mark.network, "hg");
    assert.equal(formatAddress(mark.address), "1.1.1.3");
    assert.ok(hasArgs(plan, undefined, ["link", "set", veth, "master", "cni0"]), "on cni0");
    assert.ok(hasArgs(plan, NETNS, ["addr", "add", "1.1.1.3/24", "dev", "eth0"]));
    assert.ok(hasArgs(plan, NETNS, ["link", "set", "lo", "up"]));
    assert.ok(hasArgs(plan, NETNS, ["link", "set", "eth0", "up"]));
    assert.ok(
      ipSteps(plan, NETNS).some((s) =>
        s.args[0] === "route" && s.args.includes("default") && s.args.includes("1.1.1.1")
      ),
      "a default route via 1.1.1.1 inside",
    );
    assert.equal(attachment.defaultRoute, true);
  });

  it("draws from the one pool: hg's containers and every network's attachments on the bridge", () => {
    const state = host([
      { id: ID_B, address: "1.1.1.3" },
      { network: "other", id: ID_C, address: "1.1.1.4" },
    ]);
    assert.equal(
      formatAddress(planCniAdd(state, netConf(), ctr(ID_A)).attachment.address),
      "1.1.1.5",
    );
    // A freed address (no veth any more) is the next one handed out.
    const freed = host([{ network: "other", id: ID_C, address: "1.1.1.4" }]);
    assert.equal(
      formatAddress(planCniAdd(freed, netConf(), ctr(ID_A)).attachment.address),
      "1.1.1.3",
    );
  });

  it("a container's second interface: its own veth and address, no second default route", () => {
    const state = host([{ id: ID_A, address: "1.1.1.3" }]);
    const { plan, attachment } = planCniAdd(state, netConf(), ctr(ID_A, { ifname: "net1" }));
    assert.equal(formatAddress(attachment.address), "1.1.1.4");
    assert.notEqual(attachment.hostVeth, attachmentVethName("hg", ID_A, "eth0"));
    assert.ok(hasArgs(plan, NETNS, ["addr", "add", "1.1.1.4/24", "dev", "net1"]));
    assert.ok(
      !ipSteps(plan, NETNS).some((s) =>
        s.args[0] === "route" && s.args[1] === "add" && s.args.includes("default")
      ),
      "no second 'route add default' (the kernel refuses it: File exists)",
    );
  });

  it("a namespace given by a path outside /run/netns", () => {
    for (const netns of ["/proc/4242/ns/net", "/tmp/hgct-x/netns-file"]) {
      const { plan, attachment } = planCniAdd(host(), netConf(), ctr(ID_A, { netns }));
      assert.equal(attachment.netns, netns);
      assert.ok(hasArgs(plan, netns, ["addr", "add", "1.1.1.3/24", "dev", "eth0"]), netns);
    }
  });

  it("a requested address (CNI_ARGS IP=) when free; refused when taken or outside the subnet", () => {
    const ask = (ip: string) =>
      planCniAdd(host(), netConf(), ctr(ID_A, { requestedIp: parseAddress(ip) }));
    assert.equal(formatAddress(ask("1.1.1.50").attachment.address), "1.1.1.50");
    assert.throws(() => ask("1.1.1.2"), InputError);
    assert.throws(() => ask("1.1.1.1"), InputError);
    assert.throws(() => ask("1.1.2.5"), InputError);
    assert.throws(() => ask("1.1.1.255"), InputError);
  });

  it("the config's mtu (at most the bridge's) on both ends", () => {
    const { plan, attachment } = planCniAdd(host(), netConf({ mtu: 1400 }), ctr(ID_A));
    assert.equal(attachment.mtu, 1400);
    const add = ipSteps(plan).find((s) => s.args[1] === "add")!;
    assert.deepEqual(
      add.args.map((a, i) => a === "mtu" ? add.args[i + 1] : undefined).filter(Boolean),
      ["1400", "1400"],
    );
    assert.throws(() => planCniAdd(host(), netConf({ mtu: 9000 }), ctr(ID_A)), InputError);
  });

  it("no bridge, or one without an IPv4 address: refused, saying to run hg setup", () => {
    const base = host();
    const noBridge: HostState = {
      ...base,
      links: base.links.filter((l) => l.ifname !== "cni0"),
      addresses: base.addresses.filter((a) => a.ifname !== "cni0"),
    };
    const noAddress: HostState = {
      ...base,
      addresses: base.addresses.filter((a) => a.ifname !== "cni0"),
    };
    for (const state of [noBridge, noAddress]) {
      assert.throws(
        () => planCniAdd(state, netConf(), ctr(ID_A)),
        (e) => e instanceof EnvironmentError && /hg setup/.test(e.message),
      );
    }
    assert.throws(
      () => planCniAdd(host(), netConf({ bridge: "br-none" }), ctr(ID_A)),
      /br-none.*hg setup/,
    );
  });

  it("refuses when the subnet is full", () => {
    const full = Array.from({ length: 252 }, (_, i) => ({
      id: `c${i}`,
      address: `1.1.1.${i + 3}`,
    }));
    assert.throws(() => planCniAdd(host(full), netConf(), ctr(ID_A)), HgError);
  });

  it("refuses a veth name that another, unmarked link has", () => {
    const base = host();
    const template = base.links.find((l) => l.ifname === "hgv1")!;
    const clash: HostState = {
      ...base,
      links: [...base.links, {
        ...template,
        ifindex: 99,
        ifname: attachmentVethName("hg", ID_A, "eth0"),
        alias: undefined,
      }],
    };
    assert.throws(() => planCniAdd(clash, netConf(), ctr(ID_A)), CniError);
  });

  it("ipMasq adds hg's masquerade rule once; hairpinMode sets hairpin on the port", () => {
    const masq = planCniAdd(host(), netConf({ ipMasq: true }), ctr(ID_A)).plan;
    const rules = masq.filter((s) => s.kind === "iptables");
    assert.equal(rules.length, 1);
    const rule = (rules[0] as { args: readonly string[] }).args;
    assert.ok(rule.includes("MASQUERADE") && rule.includes("1.1.1.0/24"), rule.join(" "));
    const existing = ["-A POSTROUTING " + rule.slice(4).join(" ")];
    const again = planCniAdd(host(), netConf({ ipMasq: true }), ctr(ID_A), existing).plan;
    assert.equal(again.filter((s) => s.kind === "iptables").length, 0, existing[0]);
    const hairpin = planCniAdd(host(), netConf({ hairpinMode: true }), ctr(ID_A)).plan;
    assert.ok(ipSteps(hairpin).some((s) => s.args.includes("hairpin")));
  });
});

describe("planCniDel", () => {
  const state = host([
    { id: ID_A, address: "1.1.1.3" },
    { id: ID_A, ifname: "net1", address: "1.1.1.4" },
    { network: "other", id: ID_B, address: "1.1.1.5" },
  ]);

  it("removes exactly the attachment's veth (the kernel takes the container's end)", () => {
    const plan = planCniDel(state, netConf(), ctr(ID_A));
    assert.deepEqual(
      ipSteps(plan).map((s) => s.args.join(" ")),
      [`link del ${attachmentVethName("hg", ID_A, "eth0")}`],
    );
    assert.equal(plan.length, 1, "nothing inside the container: it may be gone");
  });

  it("plans nothing when it is gone, never added, or another network's; CNI_NETNS may be empty", () => {
    assert.deepEqual(planCniDel(host(), netConf(), ctr(ID_A)), []);
    assert.deepEqual(planCniDel(state, netConf(), ctr(ID_C)), []);
    assert.deepEqual(planCniDel(state, netConf(), ctr(ID_B)), [], "ID_B is on network other");
    assert.deepEqual(planCniDel(state, netConf(), { id: ID_C, ifname: "eth0" }), []);
    assert.equal(planCniDel(state, netConf(), { id: ID_A, ifname: "net1" }).length, 1);
  });
});

describe("planCniGc", () => {
  const state = host([
    { id: ID_A, address: "1.1.1.3" },
    { id: ID_A, ifname: "net1", address: "1.1.1.4" },
    { id: ID_B, address: "1.1.1.5" },
    { network: "other", id: ID_C, address: "1.1.1.6" },
  ]);
  const deleted = (plan: Plan) => ipSteps(plan).map((s) => s.args.at(-1)).sort();

  it("removes the network's attachments the runtime does not list, by (container id, ifname)", () => {
    const plan = planCniGc(
      state,
      netConf({ cniVersion: "1.1.0", validAttachments: [{ containerId: ID_A, ifname: "eth0" }] }),
    );
    assert.deepEqual(
      deleted(plan),
      [attachmentVethName("hg", ID_A, "net1"), attachmentVethName("hg", ID_B, "eth0")].sort(),
    );
  });

  it("leaves other networks' attachments and hg's own containers alone", () => {
    const plan = planCniGc(state, netConf({ cniVersion: "1.1.0", validAttachments: [] }));
    assert.equal(deleted(plan).length, 3);
    assert.ok(!deleted(plan).includes(attachmentVethName("other", ID_C, "eth0")));
    assert.ok(!deleted(plan).includes("hgv1"));
  });

  it("plans nothing when every attachment is listed", () => {
    const validAttachments = [
      { containerId: ID_A, ifname: "eth0" },
      { containerId: ID_A, ifname: "net1" },
      { containerId: ID_B, ifname: "eth0" },
    ];
    assert.deepEqual(planCniGc(state, netConf({ cniVersion: "1.1.0", validAttachments })), []);
  });
});

describe("checkAttachment", () => {
  // The captured container has 1.1.1.2: here that is attachment ID_A's (no hg netns c1).
  const healthy = () => host([{ id: ID_A, address: "1.1.1.2" }], false);
  const result = (address = "1.1.1.2/24", version?: string) => ({
    cniVersion: "1.0.0",
    interfaces: [
      { name: attachmentVethName("hg", ID_A, "eth0") },
      { name: "eth0", mac: "0a:58:01:01:01:02", sandbox: NETNS },
    ],
    ips: [{ ...(version ? { version } : {}), address, gateway: "1.1.1.1", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: "1.1.1.1" }],
    dns: {},
  });

  it("finds nothing wrong with what ADD made, with or without prevResult (0.4.0 and 1.x shapes)", () => {
    assert.deepEqual(checkAttachment(healthy(), netConf(), ctr(ID_A), inside()), []);
    assert.deepEqual(
      checkAttachment(healthy(), netConf({ prevResult: result() }), ctr(ID_A), inside()),
      [],
    );
    assert.deepEqual(
      checkAttachment(
        healthy(),
        netConf({ cniVersion: "0.4.0", prevResult: result("1.1.1.2/24", "4") }),
        ctr(ID_A),
        inside(),
      ),
      [],
    );
  });

  it("allows what a later plugin added (more routes, another address)", () => {
    const state = inside();
    const later = parseRoutes(
      JSON.stringify([{ dst: "10.96.0.0/12", gateway: "1.1.1.1", dev: "eth0", flags: [] }]),
      4,
    );
    const extra = { ...state, routes: [...state.routes, ...later] };
    assert.deepEqual(checkAttachment(healthy(), netConf(), ctr(ID_A), extra), []);
  });

  it("reports a missing default route, address or interface, a down interface, a veth off the bridge or down", () => {
    const state = inside();
    const cases: [string, HostState, NetState][] = [
      ["no default route", healthy(), {
        ...state,
        routes: state.routes.filter((r) => r.dst.length !== 0),
      }],
      ["no address", healthy(), {
        ...state,
        addresses: state.addresses.filter((a) => a.ifname !== "eth0"),
      }],
      ["no eth0", healthy(), {
        ...state,
        links: state.links.filter((l) => l.ifname !== "eth0"),
        addresses: state.addresses.filter((a) => a.ifname !== "eth0"),
      }],
      ["eth0 down", healthy(), {
        ...state,
        links: state.links.map((l) => l.ifname === "eth0" ? { ...l, up: false } : l),
      }],
      ["veth off the bridge", host([{ id: ID_A, address: "1.1.1.2", master: "" }], false), state],
      ["veth down", host([{ id: ID_A, address: "1.1.1.2", up: false }], false), state],
    ];
    for (const [what, h, c] of cases) {
      assert.notDeepEqual(checkAttachment(h, netConf(), ctr(ID_A), c), [], what);
    }
  });

  it("reports a prevResult that does not list the container's address", () => {
    assert.notDeepEqual(
      checkAttachment(
        healthy(),
        netConf({ prevResult: result("1.1.1.9/24") }),
        ctr(ID_A),
        inside(),
      ),
      [],
    );
  });

  it("judges a second interface by its own result: no default route was made for it", () => {
    // net1 (ID_A's second attachment) on 1.1.1.2; the container's eth0 is gone, and with it the
    // default route, which net1's result never listed.
    const state = host([{ id: ID_A, ifname: "net1", address: "1.1.1.2" }], false);
    const c = inside();
    const renamed: NetState = {
      links: c.links.map((l) => l.ifname === "eth0" ? { ...l, ifname: "net1" } : l),
      addresses: c.addresses.map((a) => a.ifname === "eth0" ? { ...a, ifname: "net1" } : a),
      routes: c.routes.filter((r) => r.dst.length !== 0).map((r) => ({ ...r, dev: "net1" })),
      neighbours: [],
    };
    const net1Result = {
      ...result(),
      interfaces: [{ name: attachmentVethName("hg", ID_A, "net1") }, {
        name: "net1",
        sandbox: NETNS,
      }],
      routes: [],
    };
    assert.deepEqual(
      checkAttachment(
        state,
        netConf({ prevResult: net1Result }),
        ctr(ID_A, { ifname: "net1" }),
        renamed,
      ),
      [],
    );
  });

  it("throws code 3 for an attachment that does not exist", () => {
    for (const key of [ctr(ID_B), ctr(ID_A, { ifname: "net1" })]) {
      assert.throws(
        () => checkAttachment(healthy(), netConf(), key, inside()),
        (e) => e instanceof CniError && e.code === 3,
      );
    }
    assert.throws(
      () => checkAttachment(healthy(), netConf({ name: "other" }), ctr(ID_A), inside()),
      (e) => e instanceof CniError && e.code === 3,
    );
  });
});

describe("checkReady (STATUS)", () => {
  it("passes with the bridge up and addressed", () => {
    checkReady(host(), netConf({ cniVersion: "1.1.0" }));
  });

  it("50 when the bridge is missing, unaddressed or down", () => {
    const base = host();
    const states: [string, HostState][] = [
      ["missing", {
        ...base,
        links: base.links.filter((l) => l.ifname !== "cni0"),
        addresses: base.addresses.filter((a) => a.ifname !== "cni0"),
      }],
      ["unaddressed", { ...base, addresses: base.addresses.filter((a) => a.ifname !== "cni0") }],
      ["down", {
        ...base,
        links: base.links.map((l) => l.ifname === "cni0" ? { ...l, up: false } : l),
      }],
    ];
    for (const [what, state] of states) {
      assert.throws(
        () => checkReady(state, netConf({ cniVersion: "1.1.0" })),
        (e) => e instanceof CniError && e.code === 50,
        what,
      );
    }
  });
});
