/**
 * A large host for doctor's unit tests: the captured healthy lab host (`healthy.json`, h1 with
 * its peer h2) with `n` more peers, each with its own lease, hg route, gateway address and
 * answered neighbour entry, on an uplink widened to 10.0.0.0/16 and a cluster network of
 * 1.0.0.0/8. Faults are made by changing the document before parsing it.
 *
 * @module
 */
import { type Doc, fixtureDocument } from "./fixture.ts";

/** Peer `i`'s subnet, public address and MAC address. */
export function largePeer(i: number): { subnet: string; key: string; ip: string; mac: string } {
  const third = i & 255;
  const second = 2 + (i >> 8);
  const hex = (v: number) => v.toString(16).padStart(2, "0");
  return {
    subnet: `1.${second}.${third}.0/24`,
    key: `1.${second}.${third}.0-24`,
    ip: `10.0.${16 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    mac: `02:00:00:${hex(i >> 16)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`,
  };
}

/** The healthy host with `n` more peers, as a snapshot document (to change, then parse). */
export function largeDocument(n: number): Doc {
  const doc = fixtureDocument("healthy") as Doc;
  const eth0 = doc.host.addr.find((l: Doc) => l.ifname === "eth0");
  eth0.addr_info.find((a: Doc) => a.family === "inet").prefixlen = 16;
  const link = doc.host.route.find((r: Doc) => r.dst === "10.0.12.0/22");
  link.dst = "10.0.0.0/16";
  const peerRoute = doc.host.route.find((r: Doc) => r.protocol === "104");
  const peerLease = doc.registry.leases.find((l: Doc) => l.value.HgNode === "lab-h2");
  const leases: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const p = largePeer(i);
    doc.host.route.push({ ...peerRoute, dst: p.subnet, gateway: p.ip });
    doc.host.neigh.push({ dst: p.ip, dev: "eth0", lladdr: p.mac, state: ["REACHABLE"] });
    leases.push({
      ...peerLease,
      key: p.key,
      value: { ...peerLease.value, PublicIP: p.ip, HgNode: `peer-${i}` },
    });
  }
  doc.registry.leases.push(...leases);
  doc.registry.config = {
    ...doc.registry.config,
    Network: "1.0.0.0/8",
    SubnetMin: "1.0.1.0",
    SubnetMax: "1.255.255.0",
  };
  return doc;
}
