/**
 * hg as a CNI plugin, held to the CNI spec (1.1.0, with 1.0.0 and 0.4.0 configs) and to the way
 * runtimes call plugins, with no runtime: each test runs the executable under test with the
 * environment and stdin a runtime passes (podman 4.3 as measured in the project's notes;
 * containerd/Kubernetes: `/var/run/netns/cni-UUID`, `IgnoreUnknown=1;K8S_POD_NAMESPACE=...`), in
 * a "host" network namespace of its own with bridge cni0 1.1.1.1/24, and checks what the kernel
 * then has: the address on the container's interface, its default route, its veth on the
 * bridge, a ping from the host. Every test builds its own namespaces (a unique prefix) and a
 * private HG_RUN_DIR, and removes them afterwards; nothing touches the root namespace.
 *
 * Expectations come from the spec and the runtimes, not from hg's code: a test that fails here
 * names a place where hg and the contract disagree.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { answers, ipJson, netState, type Run, run } from "./harness.ts";
import {
  CNI_PATH,
  conf,
  type Env,
  hex64,
  Host,
  must,
  podmanEnv,
  quiet,
  show,
  withCniHost,
} from "../support/cni_host.ts";

// ---------------------------------------------------------------------------------------------
// What the spec's documents look like (section 5).

interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}
interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: string;
}
interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}
interface CniErrorDoc {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

// What `ip -j` prints.
interface KLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  master?: string;
  link_index?: number;
  linkinfo?: { info_kind?: string };
}
interface KAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}
interface KRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

const GATEWAY = "1.1.1.1";

// ---------------------------------------------------------------------------------------------
// The environments runtimes pass.

/** containerd/CRI-O for a Kubernetes pod sandbox (the same CNI_ARGS for ADD, CHECK, DEL). */
function k8sEnv(command: string, id: string, netns: string, pod: string, ifname = "eth0"): Env {
  const uid = [
    id.slice(0, 8),
    id.slice(8, 12),
    id.slice(12, 16),
    id.slice(16, 20),
    id.slice(20, 32),
  ]
    .join("-");
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: ifname,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};` +
      `K8S_POD_INFRA_CONTAINER_ID=${id};K8S_POD_UID=${uid}`,
    CNI_PATH: "/opt/cni/bin",
  };
}

// ---------------------------------------------------------------------------------------------
// One lab host per test.

interface HostOptions {
  /** The bridge's address; false: no bridge at all. */
  readonly bridge?: string | false;
}

/** Builds a host namespace (cni0 with `bridge`, up), runs `body`, always removes everything. */
function withHost(body: (h: Host) => void | Promise<void>, opts: HostOptions = {}): Promise<void> {
  const bridge = opts.bridge ?? `${GATEWAY}/24`;
  return withCniHost("hgct", bridge === false ? false : [bridge], body);
}

// ---------------------------------------------------------------------------------------------
// What a run printed.

/** A successful ADD: exit 0 and one result document on stdout. */
function added(r: Run, what = "ADD"): CniResult {
  assert.equal(r.code, 0, `${what} should succeed\n${show(r)}`);
  let doc: CniResult;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    assert.fail(`${what}: stdout is not one JSON document\n${show(r)}`);
  }
  assert.ok(Array.isArray(doc.interfaces), `${what}: result has interfaces\n${r.stdout}`);
  assert.ok(Array.isArray(doc.ips), `${what}: result has ips\n${r.stdout}`);
  return doc;
}

/** A failure: non-zero exit and the spec's error document on stdout. */
function failed(r: Run, what: string): CniErrorDoc {
  assert.notEqual(r.code, 0, `${what} should fail\n${show(r)}`);
  let doc: CniErrorDoc;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    assert.fail(`${what}: stdout is not one JSON error document\n${show(r)}`);
  }
  assert.equal(typeof doc.code, "number", `${what}: error has a numeric code\n${r.stdout}`);
  assert.equal(typeof doc.msg, "string", `${what}: error has a msg\n${r.stdout}`);
  assert.equal(typeof doc.cniVersion, "string", `${what}: error has a cniVersion\n${r.stdout}`);
  return doc;
}

// ---------------------------------------------------------------------------------------------
// What the kernel has.

/** `ip -j ARGS` in the namespace at `path` (any path: /run/netns/..., /proc/PID/ns/net, a file). */
function ipAt<T>(path: string, args: readonly string[]): T {
  const r = run("nsenter", [`--net=${path}`, "--", "ip", "-j", ...args]);
  if (r.code !== 0) throw new Error(`ip -j ${args.join(" ")} in ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout || "[]") as T;
}

function linkAt(path: string, ifname: string): KLink | undefined {
  return ipAt<KLink[]>(path, ["-d", "link"]).find((l) => l.ifname === ifname);
}

function hostLinks(h: Host): KLink[] {
  return ipJson(h.name, ["-d", "link"]) as KLink[];
}

/** What one attachment is on the host and in the container. */
interface Attached {
  readonly address: string;
  readonly prefixLength: number;
  readonly hostVeth: string;
  readonly mac: string;
}

/**
 * Asserts that the result describes what the kernel has for (`netns`, `ifname`): the result
 * names the interface in that sandbox and an address on it; the interface is up with that
 * address (and MAC and MTU when the result gives them); the container has a default route via
 * the gateway; the interface's veth peer is on the host's bridge and named in the result; the
 * host pings the address.
 */
function assertAttached(
  h: Host,
  result: CniResult,
  netns: string,
  ifname: string,
  bridge = "cni0",
): Attached {
  const text = JSON.stringify(result);
  const index = result.interfaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  assert.ok(index >= 0, `the result names ${ifname} with sandbox ${netns}: ${text}`);
  for (const ip of result.ips) {
    if (ip.interface === undefined) continue;
    assert.ok(
      Number.isInteger(ip.interface) && ip.interface >= 0 &&
        ip.interface < result.interfaces.length,
      `ips[].interface ${ip.interface} is an index into interfaces: ${text}`,
    );
  }
  const ip = result.ips.find((i) => i.interface === index);
  assert.ok(ip, `the result gives ${ifname} an address: ${text}`);
  const [address, length] = ip.address.split("/");
  assert.ok(length !== undefined, `ips[].address ${ip.address} is in CIDR notation`);
  assert.equal(ip.gateway, GATEWAY, `the gateway is the bridge's address: ${text}`);
  assert.ok(address.startsWith("1.1.1.") && address !== GATEWAY, `${address} is in 1.1.1.0/24`);

  const inside = linkAt(netns, ifname);
  assert.ok(inside, `${netns} has ${ifname}`);
  assert.ok(inside.flags.includes("UP"), `${ifname} is up in the container`);
  const entry = result.interfaces[index];
  if (entry.mac !== undefined) {
    assert.equal(entry.mac.toLowerCase(), inside.address, `the result's MAC is ${ifname}'s`);
  }
  if (entry.mtu !== undefined) assert.equal(entry.mtu, inside.mtu, `the result's MTU is real`);
  const addrs = ipAt<KAddr[]>(netns, ["-4", "addr", "show", "dev", ifname])[0]?.addr_info ?? [];
  assert.ok(
    addrs.some((a) => a.local === address && a.prefixlen === Number(length)),
    `${ifname} in the container has ${ip.address}: ${JSON.stringify(addrs)}`,
  );
  const defaults = ipAt<KRoute[]>(netns, ["-4", "route", "show", "default"]);
  assert.ok(
    defaults.some((r) => r.gateway === GATEWAY),
    `the container has a default route via ${GATEWAY}: ${JSON.stringify(defaults)}`,
  );

  const peer = hostLinks(h).find((l) => l.ifindex === inside.link_index);
  assert.ok(peer, `${ifname}'s veth peer is in the host namespace`);
  assert.equal(peer.linkinfo?.info_kind, "veth");
  assert.equal(peer.master, bridge, `${peer.ifname} is a port of ${bridge}`);
  assert.ok(peer.flags.includes("UP"), `${peer.ifname} is up`);
  assert.ok(
    result.interfaces.some((i) => i.name === peer.ifname && !i.sandbox),
    `the result lists the host-side interface ${peer.ifname}: ${text}`,
  );
  assert.ok(answers(h.name, address), `the host pings ${address}`);
  return {
    address,
    prefixLength: Number(length),
    hostVeth: peer.ifname,
    mac: inside.address ?? "",
  };
}

/** Asserts that a DEL (or GC) left nothing of the attachment on the host or in the container. */
/** One container with two interfaces on hg, eth0 then net1, each checked in the kernel. */
function addEth0AndNet1(h: Host) {
  const id = hex64();
  const netns = h.container("c1");
  const r0 = added(h.cni(podmanEnv("ADD", id, netns, "eth0"), conf("1.0.0")), "ADD eth0");
  const a0 = assertAttached(h, r0, netns, "eth0");
  const r1 = added(h.cni(podmanEnv("ADD", id, netns, "net1"), conf("1.0.0")), "ADD net1");
  const a1 = assertAttached(h, r1, netns, "net1");
  return { id, netns, r0, a0, r1, a1 };
}

function assertGone(h: Host, a: Attached, netns: string | undefined, ifname: string): void {
  assert.ok(
    !hostLinks(h).some((l) => l.ifname === a.hostVeth),
    `host veth ${a.hostVeth} is gone`,
  );
  if (netns !== undefined) {
    assert.equal(linkAt(netns, ifname), undefined, `${ifname} is gone from ${netns}`);
  }
}

// ---------------------------------------------------------------------------------------------

describe("CNI plugin contract (e2e, root, no runtime)", () => {
  describe("as podman 4.3 calls it", () => {
    it("VERSION: empty CNI_CONTAINERID, dummy netns/ifname/path; answers in the asked version", async () => {
      await withHost((h) => {
        for (const asked of ["1.0.0", "1.1.0", "0.4.0"]) {
          const r = h.cni({
            CNI_COMMAND: "VERSION",
            CNI_CONTAINERID: "",
            CNI_NETNS: "dummy",
            CNI_IFNAME: "dummy",
            CNI_PATH: "dummy",
          }, JSON.stringify({ cniVersion: asked }));
          assert.equal(r.code, 0, show(r));
          const doc = JSON.parse(r.stdout);
          assert.equal(doc.cniVersion, asked, "cniVersion: the value specified on input");
          assert.ok(Array.isArray(doc.supportedVersions), r.stdout);
          for (const v of ["0.4.0", "1.0.0", "1.1.0"]) {
            assert.ok(doc.supportedVersions.includes(v), `supports ${v}: ${r.stdout}`);
          }
        }
        // Only CNI_COMMAND is required; a whole plugin config on stdin is fine too.
        const bare = h.cni({ CNI_COMMAND: "VERSION" }, conf("1.0.0"));
        assert.equal(bare.code, 0, show(bare));
        assert.equal(JSON.parse(bare.stdout).cniVersion, "1.0.0");
      }, { bridge: false });
    });

    it("ADD, CHECK with prevResult, DEL with prevResult, DEL again", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container(`netns-${randomUUID()}`);
        const stdin = conf("1.0.0");
        const version = h.cni(
          {
            CNI_COMMAND: "VERSION",
            CNI_CONTAINERID: "",
            CNI_NETNS: "dummy",
            CNI_IFNAME: "dummy",
            CNI_PATH: "dummy",
          },
          '{"cniVersion":"1.0.0"}',
        );
        assert.equal(version.code, 0, show(version));

        const result = added(h.cni(podmanEnv("ADD", id, netns), stdin));
        assert.equal(result.cniVersion, "1.0.0", "the result is in the config's version");
        const a = assertAttached(h, result, netns, "eth0");
        assert.ok(
          result.routes?.some((r) => r.dst === "0.0.0.0/0"),
          `the default route is in the result: ${JSON.stringify(result)}`,
        );

        const withPrev = conf("1.0.0", { prevResult: result });
        quiet(h.cni(podmanEnv("CHECK", id, netns), withPrev), "CHECK");
        quiet(h.cni(podmanEnv("DEL", id, netns), withPrev), "DEL");
        assertGone(h, a, netns, "eth0");
        const again = h.cni(podmanEnv("DEL", id, netns), withPrev);
        assert.equal(again.code, 0, `a second DEL succeeds\n${show(again)}`);
      });
    });
  });

  describe("as containerd/CRI-O call it for a Kubernetes pod", () => {
    it("ADD (1.1.0, mtu 1400) into /var/run/netns/cni-UUID, CHECK, DEL, DEL after the netns is gone", async () => {
      await withHost((h) => {
        const id = hex64();
        const nsName = `${h.prefix}-cni-${randomUUID()}`;
        must("ip", ["netns", "add", nsName]);
        const netns = `/var/run/netns/${nsName}`;
        const stdin = conf("1.1.0", { mtu: 1400 });
        const result = added(h.cni(k8sEnv("ADD", id, netns, "web-0"), stdin));
        assert.equal(result.cniVersion, "1.1.0");
        const a = assertAttached(h, result, netns, "eth0");
        assert.equal(linkAt(netns, "eth0")?.mtu, 1400, "the container's interface has mtu 1400");
        assert.equal(
          hostLinks(h).find((l) => l.ifname === a.hostVeth)?.mtu,
          1400,
          "so has its host side",
        );

        const withPrev = conf("1.1.0", { mtu: 1400, prevResult: result });
        quiet(h.cni(k8sEnv("CHECK", id, netns, "web-0"), withPrev), "CHECK");
        quiet(h.cni(k8sEnv("DEL", id, netns, "web-0"), withPrev), "DEL");
        assertGone(h, a, netns, "eth0");
        must("ip", ["netns", "del", nsName]);
        // kubelet retries StopPodSandbox: DEL again with a namespace that no longer exists.
        const late = h.cni(k8sEnv("DEL", id, netns, "web-0"), withPrev);
        assert.equal(late.code, 0, `DEL after the namespace is gone\n${show(late)}`);
      });
    });
  });

  describe("DEL", () => {
    it("with an empty CNI_NETNS removes the attachment; twice, without prevResult, never added: success", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const a = assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", id, netns), conf("1.0.0"))),
          netns,
          "eth0",
        );

        quiet(h.cni(podmanEnv("DEL", id, ""), conf("1.0.0")), "DEL with CNI_NETNS empty");
        assertGone(h, a, netns, "eth0");
        for (const netnsValue of [netns, ""]) {
          const r = h.cni(podmanEnv("DEL", id, netnsValue), conf("1.0.0"));
          assert.equal(r.code, 0, `DEL again (CNI_NETNS=${netnsValue})\n${show(r)}`);
        }
        const never = h.cni(podmanEnv("DEL", hex64(), netns), conf("1.0.0"));
        assert.equal(never.code, 0, `DEL of an attachment never added\n${show(never)}`);

        // The address is free again.
        const id2 = hex64();
        const netns2 = h.container("c2");
        const b = assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", id2, netns2), conf("1.0.0"))),
          netns2,
          "eth0",
        );
        assert.equal(b.address, a.address, "DEL freed the address for the next ADD");

        // The runtime removed the namespace before DEL (the kernel takes the veth with it).
        must("ip", ["netns", "del", `${h.prefix}-c2`]);
        const r = h.cni(podmanEnv("DEL", id2, netns2), conf("1.0.0"));
        assert.equal(r.code, 0, `DEL with a CNI_NETNS that no longer exists\n${show(r)}`);
        const netns3 = h.container("c3");
        const c = assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", hex64(), netns3), conf("1.0.0"))),
          netns3,
          "eth0",
        );
        assert.equal(c.address, a.address, "the address is free once the namespace is gone");
      });
    });
  });

  describe("ADD without a bridge", () => {
    it("fails with an error document saying to run hg setup and changes nothing; DEL, STATUS after it", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const before = [netState(h.name), netState(`${h.prefix}-c1`)];
        const doc = failed(h.cni(podmanEnv("ADD", id, netns), conf("1.0.0")), "ADD without cni0");
        assert.match(doc.msg + (doc.details ?? ""), /hg setup/, `says to run hg setup: ${doc.msg}`);
        assert.equal(doc.cniVersion, "1.0.0", "the error is in the config's version");
        assert.deepEqual(
          [netState(h.name), netState(`${h.prefix}-c1`)],
          before,
          "nothing changed on the host or in the container",
        );
        // "A delete must still be executed even if the add fails."
        const del = h.cni(podmanEnv("DEL", id, netns), conf("1.0.0"));
        assert.equal(del.code, 0, `DEL after a failed ADD\n${show(del)}`);
        const status = failed(
          h.cni({ CNI_COMMAND: "STATUS", CNI_PATH }, conf("1.1.0")),
          "STATUS without cni0",
        );
        assert.equal(status.code, 50, "STATUS: 50, the plugin is not available");
      }, { bridge: false });
    });
  });

  describe("CHECK", () => {
    it("is quiet when healthy (with and without prevResult) and fails once the container is broken", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const env = (command: string) => podmanEnv(command, id, netns);
        const result = added(h.cni(env("ADD"), conf("1.1.0")));
        const a = assertAttached(h, result, netns, "eth0");
        const plain = conf("1.1.0");
        const withPrev = conf("1.1.0", { prevResult: result });
        const healthy = (when: string) => {
          quiet(h.cni(env("CHECK"), plain), `CHECK without prevResult ${when}`);
          quiet(h.cni(env("CHECK"), withPrev), `CHECK with prevResult ${when}`);
        };
        const broken = (when: string) => {
          failed(h.cni(env("CHECK"), plain), `CHECK without prevResult ${when}`);
          failed(h.cni(env("CHECK"), withPrev), `CHECK with prevResult ${when}`);
        };
        const inside = (args: string[]) => must("nsenter", [`--net=${netns}`, "--", "ip", ...args]);
        healthy("after ADD");

        inside(["route", "del", "default"]);
        broken("after the default route was deleted");
        inside(["route", "add", "default", "via", GATEWAY, "dev", "eth0"]);
        healthy("once the route is back");

        inside(["addr", "del", `${a.address}/${a.prefixLength}`, "dev", "eth0"]);
        broken("after the address was deleted");
        inside(["addr", "add", `${a.address}/${a.prefixLength}`, "dev", "eth0"]);
        inside(["route", "replace", "default", "via", GATEWAY, "dev", "eth0"]);
        healthy("once the address is back");

        must("ip", ["-n", h.name, "link", "set", a.hostVeth, "nomaster"]);
        broken("after the host veth left the bridge");
        must("ip", ["-n", h.name, "link", "set", a.hostVeth, "master", "cni0"]);
        healthy("once the veth is back on the bridge");

        // prevResult naming another address than the container has.
        const other = JSON.parse(JSON.stringify(result)) as CniResult;
        other.ips = other.ips.map((ip) => ({ ...ip, address: "1.1.1.200/24" }));
        failed(
          h.cni(env("CHECK"), conf("1.1.0", { prevResult: other })),
          "CHECK, prevResult wrong",
        );

        // Code 3: an attachment that does not exist.
        const unknown = failed(
          h.cni(podmanEnv("CHECK", hex64(), netns), plain),
          "CHECK of an attachment never added",
        );
        assert.equal(unknown.code, 3, "3: container unknown");
      });
    });

    it("a MAC changed by a later plugin (tuning) passes when prevResult lists it, fails when not", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const result = added(h.cni(podmanEnv("ADD", id, netns), conf("1.1.0")));
        assertAttached(h, result, netns, "eth0");
        const mac = "02:00:00:00:00:66";
        must("nsenter", [`--net=${netns}`, "--", "ip", "link", "set", "eth0", "address", mac]);
        const tuned = JSON.parse(JSON.stringify(result)) as CniResult;
        for (const i of tuned.interfaces) if (i.sandbox) i.mac = mac;
        quiet(h.cni(podmanEnv("CHECK", id, netns), conf("1.1.0", { prevResult: tuned })), "CHECK");
        // The spec: an interface prevResult lists, found in another state, is an error.
        failed(
          h.cni(podmanEnv("CHECK", id, netns), conf("1.1.0", { prevResult: result })),
          "CHECK against the result before the MAC changed",
        );
      });
    });
  });

  describe("STATUS", () => {
    it("succeeds quietly with cni0 up and addressed; 50 when it is down, unaddressed or missing", async () => {
      await withHost((h) => {
        const status = () => h.cni({ CNI_COMMAND: "STATUS", CNI_PATH }, conf("1.1.0"));
        quiet(status(), "STATUS");
        must("ip", ["-n", h.name, "link", "set", "cni0", "down"]);
        assert.equal(failed(status(), "STATUS, cni0 down").code, 50);
        must("ip", ["-n", h.name, "link", "set", "cni0", "up"]);
        must("ip", ["-n", h.name, "addr", "flush", "dev", "cni0"]);
        assert.equal(failed(status(), "STATUS, cni0 without address").code, 50);
        must("ip", ["-n", h.name, "link", "del", "cni0"]);
        assert.equal(failed(status(), "STATUS, no cni0").code, 50);
      });
    });

    it("SHOULD fail (50) when the subnet has no address left for another ADD", async () => {
      await withHost((h) => {
        // A /30: 1.1.1.1 is the bridge, 1.1.1.2 the only address for a container.
        const netns = h.container("c1");
        assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", hex64(), netns), conf("1.1.0"))),
          netns,
          "eth0",
        );
        const full = h.cni(podmanEnv("ADD", hex64(), h.container("c2")), conf("1.1.0"));
        failed(full, "ADD into a full subnet");
        const status = h.cni({ CNI_COMMAND: "STATUS", CNI_PATH }, conf("1.1.0"));
        assert.equal(
          failed(status, "STATUS with the addresses exhausted (spec: resources exhausted)").code,
          50,
        );
      }, { bridge: `${GATEWAY}/30` });
    });
  });

  describe("GC", () => {
    it("removes the network's attachments not in cni.dev/valid-attachments; their addresses go to the next ADD", async () => {
      await withHost(async (h) => {
        const ids = { a: hex64(), b: hex64(), c: hex64() };
        const got: Record<string, Attached> = {};
        const paths: Record<string, string> = {};
        for (const [k, id] of Object.entries(ids)) {
          paths[k] = h.container(k);
          got[k] = assertAttached(
            h,
            added(h.cni(podmanEnv("ADD", id, paths[k]), conf("1.1.0"))),
            paths[k],
            "eth0",
          );
        }
        // Not this network's: hg's own container, and an attachment of another network.
        const own = await h.hg(["netns", "add", `${h.prefix}-n1`]);
        assert.equal(own.code, 0, show(own));
        const otherPath = h.container("d");
        const other = assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", hex64(), otherPath), conf("1.1.0", {}, "other"))),
          otherPath,
          "eth0",
        );

        const gc = conf("1.1.0", {
          "cni.dev/valid-attachments": [
            { containerID: ids.a, ifname: "eth0" },
            { containerID: ids.c, ifname: "eth0" },
          ],
        });
        quiet(h.cni({ CNI_COMMAND: "GC", CNI_PATH }, gc), "GC");
        assertGone(h, got.b, paths.b, "eth0");
        for (const k of ["a", "c"]) {
          assert.ok(hostLinks(h).some((l) => l.ifname === got[k].hostVeth), `${k} stays`);
          assert.ok(answers(h.name, got[k].address), `${k} still answers`);
        }
        assert.ok(answers(h.name, other.address), "the other network's attachment stays");
        assert.ok(
          (ipJson(`${h.prefix}-n1`, ["-4", "addr", "show", "dev", "eth0"]) as KAddr[])[0]
            ?.addr_info.length === 1,
          "hg's own container stays",
        );

        const e = h.container("e");
        const next = assertAttached(
          h,
          added(h.cni(podmanEnv("ADD", hex64(), e), conf("1.1.0"))),
          e,
          "eth0",
        );
        assert.equal(next.address, got.b.address, "the next ADD gets the collected address");
      });
    });
  });

  describe("concurrency on one host", () => {
    it("8 ADDs at once all succeed with distinct addresses", async () => {
      await withHost(async (h) => {
        const jobs = Array.from({ length: 8 }, (_, i) => {
          const netns = h.container(`c${i}`);
          return { netns, run: h.cniAsync(podmanEnv("ADD", hex64(), netns), conf("1.0.0")) };
        });
        const addresses: string[] = [];
        for (const job of jobs) {
          const r = await job.run;
          addresses.push(assertAttached(h, added(r), job.netns, "eth0").address);
        }
        assert.equal(new Set(addresses).size, 8, `distinct: ${addresses.join(" ")}`);
      });
    });

    it("hg netns add interleaved with ADDs never reuses an address", async () => {
      await withHost(async (h) => {
        const owned = (name: string) =>
          (ipJson(name, ["-4", "addr", "show", "dev", "eth0"]) as KAddr[])[0].addr_info[0].local;
        const addresses: string[] = [];
        // At once: 6 ADDs and 3 hg netns add.
        const adds = Array.from({ length: 6 }, (_, i) => {
          const netns = h.container(`c${i}`);
          return { netns, run: h.cniAsync(podmanEnv("ADD", hex64(), netns), conf("1.0.0")) };
        });
        const own = [0, 1, 2].map((i) => h.hg(["netns", "add", `${h.prefix}-n${i}`]));
        for (const job of adds) {
          addresses.push(assertAttached(h, added(await job.run), job.netns, "eth0").address);
        }
        for (const [i, r] of (await Promise.all(own)).entries()) {
          assert.equal(r.code, 0, show(r));
          addresses.push(owned(`${h.prefix}-n${i}`));
        }
        // One after the other, alternating.
        for (let i = 0; i < 2; i++) {
          const r = await h.hg(["netns", "add", `${h.prefix}-m${i}`]);
          assert.equal(r.code, 0, show(r));
          addresses.push(owned(`${h.prefix}-m${i}`));
          const netns = h.container(`d${i}`);
          addresses.push(
            assertAttached(
              h,
              added(h.cni(podmanEnv("ADD", hex64(), netns), conf("1.0.0"))),
              netns,
              "eth0",
            ).address,
          );
        }
        assert.equal(new Set(addresses).size, addresses.length, `distinct: ${addresses.join(" ")}`);
        assert.equal(addresses.length, 13);
      });
    });
  });

  describe("odd but valid input", () => {
    it("CNI_NETNS outside /run/netns: /proc/PID/ns/net and a bind-mounted file", async () => {
      await withHost(async (h) => {
        const procPath = await sleeperNetns(h);
        const filePath = join(h.tmp, "netns-file");
        writeFileSync(filePath, "");
        must("mount", ["--bind", await sleeperNetns(h), filePath]);
        h.mounts.push(filePath);

        for (const netns of [procPath, filePath]) {
          const id = hex64();
          const result = added(h.cni(podmanEnv("ADD", id, netns), conf("1.1.0")), `ADD ${netns}`);
          const a = assertAttached(h, result, netns, "eth0");
          quiet(
            h.cni(podmanEnv("CHECK", id, netns), conf("1.1.0", { prevResult: result })),
            `CHECK ${netns}`,
          );
          quiet(
            h.cni(podmanEnv("DEL", id, netns), conf("1.1.0", { prevResult: result })),
            `DEL ${netns}`,
          );
          assertGone(h, a, netns, "eth0");
        }
      });
    });

    it('a cniVersion 0.4.0 config: a 0.4.0 result (ips[].version "4"), CHECK and DEL', async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const result = added(h.cni(podmanEnv("ADD", id, netns), conf("0.4.0")));
        assert.equal(result.cniVersion, "0.4.0");
        for (const ip of result.ips) assert.equal(ip.version, "4", JSON.stringify(result));
        const a = assertAttached(h, result, netns, "eth0");
        quiet(h.cni(podmanEnv("CHECK", id, netns), conf("0.4.0", { prevResult: result })), "CHECK");
        quiet(h.cni(podmanEnv("DEL", id, netns), conf("0.4.0", { prevResult: result })), "DEL");
        assertGone(h, a, netns, "eth0");
      });
    });

    it("a prevResult from a plugin before hg: its interfaces, ips, routes and dns stay, indexes right", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const prev = {
          cniVersion: "1.1.0",
          interfaces: [
            { name: "vhost0", mac: "02:00:00:00:00:01" },
            { name: "sriov0", mac: "02:00:00:00:00:02", sandbox: netns },
          ],
          ips: [{ address: "10.99.0.5/24", gateway: "10.99.0.1", interface: 1 }],
          routes: [{ dst: "10.99.0.0/16", gw: "10.99.0.1" }],
          dns: { nameservers: ["10.99.0.1"], search: ["example.test"] },
        };
        const result = added(
          h.cni(podmanEnv("ADD", id, netns), conf("1.1.0", { prevResult: prev })),
        );
        assert.deepEqual(
          result.interfaces.slice(0, 2),
          prev.interfaces,
          "earlier interfaces first",
        );
        assert.deepEqual(result.ips[0], prev.ips[0], "the earlier address, its index unchanged");
        assert.ok(
          result.routes?.some((r) => r.dst === "10.99.0.0/16" && r.gw === "10.99.0.1"),
          `the earlier route stays: ${JSON.stringify(result.routes)}`,
        );
        assert.deepEqual(result.dns, prev.dns, "dns passed through");
        const a = assertAttached(h, result, netns, "eth0");
        const mine = result.ips.find((ip) => ip.address.startsWith(`${a.address}/`));
        assert.ok(mine && mine.interface! >= 2, `hg's address points past the earlier interfaces`);
        quiet(h.cni(podmanEnv("DEL", id, netns), conf("1.1.0", { prevResult: result })), "DEL");
        assertGone(h, a, netns, "eth0");
      });
    });

    it("CNI_IFNAME net1", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const result = added(h.cni(podmanEnv("ADD", id, netns, "net1"), conf("1.0.0")));
        const a = assertAttached(h, result, netns, "net1");
        assert.equal(linkAt(netns, "eth0"), undefined, "no eth0 appeared");
        quiet(
          h.cni(podmanEnv("CHECK", id, netns, "net1"), conf("1.0.0", { prevResult: result })),
          "CHECK",
        );
        quiet(h.cni(podmanEnv("DEL", id, netns, "net1"), conf("1.0.0")), "DEL");
        assertGone(h, a, netns, "net1");
      });
    });

    it("two attachments in one container (eth0 and net1): both work, distinct addresses, DEL one keeps the other", async () => {
      await withHost((h) => {
        const { id, netns, r0, a0, r1, a1 } = addEth0AndNet1(h);
        assert.notEqual(a0.address, a1.address);
        assert.notEqual(a0.hostVeth, a1.hostVeth);
        quiet(
          h.cni(podmanEnv("CHECK", id, netns, "eth0"), conf("1.0.0", { prevResult: r0 })),
          "CHECK eth0",
        );
        quiet(
          h.cni(podmanEnv("CHECK", id, netns, "net1"), conf("1.0.0", { prevResult: r1 })),
          "CHECK net1",
        );
        quiet(
          h.cni(podmanEnv("DEL", id, netns, "net1"), conf("1.0.0", { prevResult: r1 })),
          "DEL net1",
        );
        assertGone(h, a1, netns, "net1");
        assert.ok(answers(h.name, a0.address), "eth0 still answers");
        quiet(
          h.cni(podmanEnv("DEL", id, netns, "eth0"), conf("1.0.0", { prevResult: r0 })),
          "DEL eth0",
        );
        assertGone(h, a0, netns, "eth0");
      });
    });

    it("two attachments, eth0 removed first: net1 still passes CHECK against its own prevResult", async () => {
      await withHost((h) => {
        const { id, netns, r0, a0, r1, a1 } = addEth0AndNet1(h);
        quiet(
          h.cni(podmanEnv("DEL", id, netns, "eth0"), conf("1.0.0", { prevResult: r0 })),
          "DEL eth0",
        );
        assertGone(h, a0, netns, "eth0");
        assert.ok(answers(h.name, a1.address), "net1 still answers the host");
        // net1's result lists no default route: CHECK compares with what ADD made for net1.
        const routes = (r1.routes ?? []).map((r) => r.dst);
        quiet(
          h.cni(podmanEnv("CHECK", id, netns, "net1"), conf("1.0.0", { prevResult: r1 })),
          `CHECK net1 (its result's routes: ${JSON.stringify(routes)})`,
        );
      });
    });

    it("CNI_ARGS with unknown keys and IgnoreUnknown (1 or true); unknown plugin config fields", async () => {
      await withHost((h) => {
        const extra = {
          keyA: ["some more", "plugin specific", "configuration"],
          args: { cni: { labels: [{ key: "app", value: "web" }] } },
          runtimeConfig: { mac: "00:11:22:33:44:66" },
        };
        for (const [i, ignore] of ["1", "true"].entries()) {
          const id = hex64();
          const netns = h.container(`c${i}`);
          const env = {
            ...podmanEnv("ADD", id, netns),
            CNI_ARGS: `IgnoreUnknown=${ignore};K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;` +
              `FOO=bar;io.kubernetes.cri.sandbox-id=${id};MAC=00:11:22:33:44:55`,
          };
          const result = added(h.cni(env, conf("1.0.0", extra)), `ADD, IgnoreUnknown=${ignore}`);
          const a = assertAttached(h, result, netns, "eth0");
          quiet(h.cni({ ...env, CNI_COMMAND: "DEL" }, conf("1.0.0", extra)), "DEL");
          assertGone(h, a, netns, "eth0");
        }
      });
    });

    it("a runtime's PATH without ip's directory (PATH=/var/empty; kubelet's may lack /usr/sbin)", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const env = { ...podmanEnv("ADD", id, netns), PATH: "/var/empty" };
        const result = added(h.cni(env, conf("1.1.0")), "ADD with PATH=/var/empty");
        const a = assertAttached(h, result, netns, "eth0");
        const withPrev = conf("1.1.0", { prevResult: result });
        quiet(h.cni({ ...env, CNI_COMMAND: "CHECK" }, withPrev), "CHECK with PATH=/var/empty");
        quiet(h.cni({ ...env, CNI_COMMAND: "DEL" }, withPrev), "DEL with PATH=/var/empty");
        assertGone(h, a, netns, "eth0");
      });
    });

    it("CNI_ARGS IP=ADDRESS[/PREFIX] (the conventions' form) gives that address", async () => {
      await withHost((h) => {
        for (const [i, asked] of ["1.1.1.50", "1.1.1.51/24"].entries()) {
          const netns = h.container(`c${i}`);
          const env = {
            ...podmanEnv("ADD", hex64(), netns),
            CNI_ARGS: `IgnoreUnknown=1;IP=${asked}`,
          };
          const a = assertAttached(
            h,
            added(h.cni(env, conf("1.0.0")), `ADD IP=${asked}`),
            netns,
            "eth0",
          );
          assert.equal(a.address, asked.split("/")[0]);
        }
      });
    });

    it('SHOULD give the MAC of every interface the result lists ("if applicable": a veth has one)', async () => {
      await withHost((h) => {
        const netns = h.container("c1");
        const result = added(h.cni(podmanEnv("ADD", hex64(), netns), conf("1.1.0")));
        const a = assertAttached(h, result, netns, "eth0");
        const host = result.interfaces.find((i) => i.name === a.hostVeth);
        const kernel = hostLinks(h).find((l) => l.ifname === a.hostVeth);
        assert.equal(host?.mac, kernel?.address, `host veth's mac in ${JSON.stringify(host)}`);
      });
    });
  });

  describe("ADD onto an interface that exists already", () => {
    it("MUST fail when CNI_IFNAME exists in the container (ADD repeated), and keeps the first attachment", async () => {
      await withHost((h) => {
        const id = hex64();
        const netns = h.container("c1");
        const first = added(h.cni(podmanEnv("ADD", id, netns), conf("1.0.0")));
        const a = assertAttached(h, first, netns, "eth0");
        const again = h.cni(podmanEnv("ADD", id, netns), conf("1.0.0"));
        const still = stillAnswers(h, netns, a);
        failed(again, "a second ADD for the same container and CNI_IFNAME (spec: MUST error)");
        assert.ok(still, "the first attachment still works after the refused ADD");
      });
    });

    it("fails when the container already has CNI_IFNAME of its own, and changes nothing", async () => {
      await withHost((h) => {
        const netns = h.container("c1");
        must("ip", [
          "-n",
          `${h.prefix}-c1`,
          "link",
          "add",
          "eth0",
          "type",
          "veth",
          "peer",
          "name",
          "x0",
        ]);
        const before = [netState(h.name), netState(`${h.prefix}-c1`)];
        failed(
          h.cni(podmanEnv("ADD", hex64(), netns), conf("1.0.0")),
          "ADD onto the container's own eth0",
        );
        assert.deepEqual([netState(h.name), netState(`${h.prefix}-c1`)], before, "nothing changed");
      });
    });

    it("the same container id and CNI_IFNAME in another namespace: an error, or a real attachment there", async () => {
      await withHost((h) => {
        const id = hex64();
        const first = h.container("c1");
        assertAttached(h, added(h.cni(podmanEnv("ADD", id, first), conf("1.0.0"))), first, "eth0");
        const second = h.container("c2");
        const r = h.cni(podmanEnv("ADD", id, second), conf("1.0.0"));
        if (r.code !== 0) {
          failed(r, "ADD of a live attachment into another namespace");
          return;
        }
        // Success must mean what the result says: eth0 with the address in the second namespace.
        assertAttached(h, added(r), second, "eth0");
      });
    });
  });

  describe("bad input: the spec's error code, nothing changed", () => {
    it("refuses each with its code and leaves host and container as they were", async () => {
      await withHost((h) => {
        const netns = h.container("c1");
        const id = hex64();
        const good = podmanEnv("ADD", id, netns);
        const without = (key: string): Env => {
          const env = { ...good };
          delete env[key];
          return env;
        };
        const cases: { what: string; env: Env; stdin: string; code: number; names?: RegExp }[] = [
          { what: "cniVersion 0.3.1", env: good, stdin: conf("0.3.1"), code: 1 },
          { what: "cniVersion 0.2.0", env: good, stdin: conf("0.2.0"), code: 1 },
          { what: "cniVersion 9.9.9", env: good, stdin: conf("9.9.9"), code: 1 },
          {
            what: "no CNI_CONTAINERID",
            env: without("CNI_CONTAINERID"),
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_CONTAINERID/,
          },
          {
            what: "CNI_CONTAINERID with a /",
            env: { ...good, CNI_CONTAINERID: "bad/id" },
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_CONTAINERID/,
          },
          {
            what: "no CNI_NETNS on ADD",
            env: without("CNI_NETNS"),
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_NETNS/,
          },
          {
            what: "no CNI_IFNAME",
            env: without("CNI_IFNAME"),
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_IFNAME/,
          },
          {
            what: "CNI_IFNAME of 16 characters",
            env: { ...good, CNI_IFNAME: "abcdefghijklmnop" },
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_IFNAME/,
          },
          {
            what: "CNI_IFNAME with a ':' (the kernel refuses it)",
            env: { ...good, CNI_IFNAME: "net:1" },
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_IFNAME/,
          },
          {
            what: "CNI_COMMAND unknown",
            env: { ...good, CNI_COMMAND: "ATTACH" },
            stdin: conf("1.0.0"),
            code: 4,
            names: /CNI_COMMAND/,
          },
          { what: "invalid JSON", env: good, stdin: '{"cniVersion":"1.0.0",', code: 6 },
          { what: "empty stdin", env: good, stdin: "", code: 6 },
          {
            what: "mtu a string",
            env: good,
            stdin: conf("1.0.0", { mtu: "big" }),
            code: 7,
            names: /mtu/,
          },
          { what: "mtu 0", env: good, stdin: conf("1.0.0", { mtu: 0 }), code: 7, names: /mtu/ },
          {
            what: "mtu 70000",
            env: good,
            stdin: conf("1.0.0", { mtu: 70000 }),
            code: 7,
            names: /mtu/,
          },
          {
            what: "mtu 1400.5",
            env: good,
            stdin: conf("1.0.0", { mtu: 1400.5 }),
            code: 7,
            names: /mtu/,
          },
          {
            what: "no network name",
            env: good,
            stdin: JSON.stringify({ cniVersion: "1.0.0", type: "hg" }),
            code: 7,
          },
          {
            what: "network name with a space",
            env: good,
            stdin: conf("1.0.0", {}, "my net"),
            code: 7,
          },
        ];
        const before = [netState(h.name), netState(`${h.prefix}-c1`)];
        const wrong: string[] = [];
        for (const c of cases) {
          const r = h.cni(c.env, c.stdin);
          const doc = failed(r, c.what);
          if (doc.code !== c.code || (c.names && !c.names.test(doc.msg + (doc.details ?? "")))) {
            wrong.push(
              `${c.what}: expected code ${c.code}${
                c.names ? ` naming ${c.names}` : ""
              }, got ${r.stdout.trim()}`,
            );
          }
          assert.deepEqual(
            [netState(h.name), netState(`${h.prefix}-c1`)],
            before,
            `${c.what}: nothing changed`,
          );
        }
        assert.deepEqual(wrong, [], "every bad input gets the spec's code");
        // The container is still free to join.
        assertAttached(h, added(h.cni(good, conf("1.0.0"))), netns, "eth0");
      });
    });

    it("an unknown CNI_ARGS key without IgnoreUnknown fails; code 2 must name key and value", async () => {
      await withHost((h) => {
        const netns = h.container("c1");
        const before = [netState(h.name), netState(`${h.prefix}-c1`)];
        const env = { ...podmanEnv("ADD", hex64(), netns), CNI_ARGS: "K8S_POD_NAME=web;FOO=bar" };
        const doc = failed(h.cni(env, conf("1.0.0")), "ADD with FOO=bar and no IgnoreUnknown");
        assert.match(doc.msg, /FOO/, "the message names the key");
        if (doc.code === 2) {
          assert.match(
            doc.msg + (doc.details ?? ""),
            /FOO=bar/,
            "spec, code 2: the error message must contain the key and value",
          );
        }
        assert.deepEqual([netState(h.name), netState(`${h.prefix}-c1`)], before, "nothing changed");
      });
    });
  });
});

/** Whether the attachment `a` still has its address and answers (after a refused ADD). */
function stillAnswers(h: Host, netns: string, a: Attached): boolean {
  const addrs = ipAt<KAddr[]>(netns, ["-4", "addr", "show", "dev", "eth0"])[0]?.addr_info ?? [];
  return addrs.some((x) => x.local === a.address) && answers(h.name, a.address);
}

/** Starts `sleep` in a network namespace of its own (killed with the host); its /proc path. */
async function sleeperNetns(h: Host): Promise<string> {
  const sleeper = spawn("unshare", ["--net", "sleep", "120"], { stdio: "ignore" });
  h.children.push(sleeper);
  const path = `/proc/${sleeper.pid}/ns/net`;
  const own = readlinkSync("/proc/self/ns/net");
  for (let i = 0; i < 100; i++) {
    try {
      if (readlinkSync(path) !== own) return path;
    } catch { /* not started yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("unshare --net sleep did not get a namespace of its own");
}
