/**
 * The mark on a runtime container's host-side veth (`hgc:ID/IFNAME@ADDR/LEN,net=NETWORK` and,
 * when they fit the kernel's 255-byte alias, `,ns=PATH` and `,name=NAME`): it must read back as
 * written for every id, interface, network, path and name a runtime can pass, never exceed 255
 * bytes, and never be taken for the other kind of mark.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  attachmentAlias,
  type AttachmentMark,
  containerAlias,
  parseAttachmentAlias,
  parseContainerAlias,
} from "../../../lib/host/marks.ts";
import { formatAddress, parseAddress } from "../../../lib/net/address.ts";

const ID64 = "4f1c0f2b9e0d7a5c3b1e9f8d7c6b5a4938271605f4e3d2c1b0a9988776655443";
const MAX_ALIAS = 255;

function mark(more: Partial<AttachmentMark> = {}): AttachmentMark {
  return {
    containerId: ID64,
    ifname: "eth0",
    network: "hg",
    address: parseAddress("1.1.1.5"),
    prefixLength: 24,
    ...more,
  };
}

/** What a mark means, comparable with deepEqual. */
const plain = (m: AttachmentMark | undefined) => m && { ...m, address: formatAddress(m.address) };

const bytes = (text: string) => new TextEncoder().encode(text).length;

/** Writes and reads back `m`; returns the alias and what was read. */
function roundTrip(m: AttachmentMark): { alias: string; back: AttachmentMark } {
  const alias = attachmentAlias(m);
  assert.ok(bytes(alias) <= MAX_ALIAS, `${bytes(alias)} bytes: ${alias}`);
  const back = parseAttachmentAlias(alias);
  assert.ok(back, `reads back: ${alias}`);
  assert.equal(back.containerId, m.containerId);
  assert.equal(back.ifname, m.ifname);
  assert.equal(back.network, m.network);
  assert.equal(formatAddress(back.address), formatAddress(m.address));
  assert.equal(back.prefixLength, m.prefixLength);
  return { alias, back };
}

describe("attachmentAlias / parseAttachmentAlias", () => {
  it("the documented form", () => {
    assert.equal(
      attachmentAlias(mark({ containerId: "abc" })),
      "hgc:abc/eth0@1.1.1.5/24,net=hg",
    );
  });

  it("round-trips what podman passes (64-hex id, /run/netns/netns-UUID, container name)", () => {
    const m = mark({
      netns: "/run/netns/netns-0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
      name: "web",
    });
    assert.deepEqual(plain(roundTrip(m).back), plain(m));
  });

  it("round-trips what containerd passes for a pod (/var/run/netns/cni-UUID, namespace/name)", () => {
    const m = mark({
      netns: "/var/run/netns/cni-5b4f2f0e-7c61-2b1c-1d6e-9c2f3a4b5c6d",
      name: "kube-system/coredns-5d78c9869d-x2x4q",
      network: "k8s-pod-network",
    });
    assert.deepEqual(plain(roundTrip(m).back), plain(m));
  });

  it("round-trips namespaces outside /run/netns, other interfaces, networks with . _ -", () => {
    const cases: Partial<AttachmentMark>[] = [
      { netns: "/proc/4242/ns/net" },
      { netns: "/tmp/hgct-ab12/netns-file" },
      { ifname: "net1" },
      { ifname: "abcdefghijklmno" },
      { ifname: "eth0.100" },
      { network: "my_net.v2-a" },
      { containerId: "a" },
      { containerId: "c1.test_x-y" },
      { address: parseAddress("10.244.255.254"), prefixLength: 16 },
      { address: parseAddress("1.1.1.2"), prefixLength: 30 },
    ];
    for (const more of cases) {
      const m = mark(more);
      assert.deepEqual(plain(roundTrip(m).back), plain(m), attachmentAlias(m));
    }
  });

  it("stays within 255 bytes with the longest id, interface, network and address hg accepts", () => {
    const m = mark({
      containerId: "a".repeat(128),
      ifname: "b".repeat(15),
      network: "n".repeat(64),
      address: parseAddress("255.255.255.254"),
      prefixLength: 32,
    });
    roundTrip(m);
    // With a namespace and a name on top, whatever does not fit is left out, never cut.
    const full = mark({
      ...m,
      netns: "/var/run/netns/cni-5b4f2f0e-7c61-2b1c-1d6e-9c2f3a4b5c6d",
      name: "kube-system/coredns-5d78c9869d-x2x4q",
    });
    const { back } = roundTrip(full);
    if (back.netns !== undefined) assert.equal(back.netns, full.netns);
    if (back.name !== undefined) assert.equal(back.name, full.name);
  });

  it("keeps the namespace before the name when only one fits", () => {
    const base = mark({ containerId: "a".repeat(128), network: "n".repeat(40) });
    const baseLength = attachmentAlias(base).length;
    const netns = "/run/netns/" + "x".repeat(MAX_ALIAS - baseLength - ",ns=".length - 11);
    const { alias, back } = roundTrip({ ...base, netns, name: "web" });
    assert.equal(bytes(alias), MAX_ALIAS);
    assert.equal(back.netns, netns);
    assert.equal(back.name, undefined);
  });

  it("leaves out a path or name it cannot carry (',' or whitespace) and still reads back", () => {
    for (const more of [{ netns: "/run/netns/a,b" }, { name: "a b" }, { name: "x,ns=/evil" }]) {
      const m = mark(more);
      const { back } = roundTrip(m);
      if ("netns" in more) assert.equal(back.netns, undefined, JSON.stringify(more));
      if ("name" in more) assert.equal(back.name, undefined, JSON.stringify(more));
    }
  });

  it("a name holding '=' or '/' reads back whole", () => {
    const m = mark({ name: "ns/a=b" });
    assert.equal(roundTrip(m).back.name, "ns/a=b");
  });
});

describe("the two kinds of marks never mix", () => {
  it("an hg netns container's mark is not an attachment and the other way round", () => {
    const netnsMark = containerAlias({
      name: "web1",
      address: parseAddress("1.1.1.2"),
      prefixLength: 24,
    });
    assert.equal(parseAttachmentAlias(netnsMark), undefined);
    assert.equal(parseContainerAlias(attachmentAlias(mark())), undefined);
  });

  it("anything else is no mark", () => {
    for (
      const alias of [
        undefined,
        "",
        "hg:bridge",
        "uplink to the lab",
        "hgc:",
        "hgc:abc/eth0@1.1.1.5/24",
        "hgc:abc/eth0@1.1.1.999/24,net=hg",
        "hgc:-abc/eth0@1.1.1.5/24,net=hg",
        "hgc:abc/eth0@1.1.1.5/24,net=hg\nroute flush all",
      ]
    ) {
      assert.equal(parseAttachmentAlias(alias), undefined, JSON.stringify(alias));
    }
  });
});
