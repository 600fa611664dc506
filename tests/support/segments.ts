/**
 * Two L2 segments joined by a router namespace, built by hand for the VXLAN tests, doctor's
 * VXLAN fixtures and the VXLAN benchmark: segment a (10.0.12.0/22, bridge `ula`) and segment b
 * (10.0.20.0/22, bridge `ulb`) in the router namespace, which holds .2 on each and forwards
 * between them (inside that namespace only). Hosts get a veth `eth0` on their segment's bridge
 * and a route to the other segment through their router.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

/** The two segments. The bridges have MACs of their own: a bridge without one takes its ports'
 * lowest and changes it when a port moves, while the hosts' neighbour entries name the old one. */
export const SEGMENTS = {
  a: { prefix: "10.0.12.0/22", router: "10.0.12.2", bridge: "ula", mac: "02:00:0a:00:0c:02" },
  b: { prefix: "10.0.20.0/22", router: "10.0.20.2", bridge: "ulb", mac: "02:00:0a:00:14:02" },
} as const;

/** One of {@link SEGMENTS}. */
export type Segment = keyof typeof SEGMENTS;

/** Runs a shell line in a named network namespace; throws with its stderr when it fails. */
export function shIn(netns: string, line: string): void {
  const r = spawnSync("nsenter", [`--net=/run/netns/${netns}`, "--", "sh", "-c", line], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${netns}: ${line}: ${r.stderr}`);
}

/** Makes the router namespace `router` with both segments' bridges. */
export function buildRouter(router: string): void {
  const made = spawnSync("ip", ["netns", "add", router], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`ip netns add ${router}: ${made.stderr}`);
  const { a, b } = SEGMENTS;
  shIn(
    router,
    [a, b].map((s) =>
      `ip link add ${s.bridge} address ${s.mac} type bridge && ` +
      `ip addr add ${s.router}/22 dev ${s.bridge} && ip link set ${s.bridge} up`
    ).join(" && ") + " && ip link set lo up && sysctl -qw net.ipv4.ip_forward=1",
  );
}

/**
 * Makes host namespace `host` on segment `seg` at `address` (/22): its `eth0` is a veth whose
 * other end, `port`, is on the segment's bridge in `router`.
 */
export function addSegmentHost(
  router: string,
  host: string,
  port: string,
  seg: Segment,
  address: string,
): void {
  const made = spawnSync("ip", ["netns", "add", host], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`ip netns add ${host}: ${made.stderr}`);
  shIn(router, `ip link add ${port} type veth peer name eth0 netns ${host}`);
  shIn(router, `ip link set ${port} master ${SEGMENTS[seg].bridge} up`);
  const other = SEGMENTS[seg === "a" ? "b" : "a"].prefix;
  shIn(
    host,
    `ip addr add ${address}/22 dev eth0 && ip link set eth0 up && ip link set lo up && ` +
      `ip route add ${other} via ${SEGMENTS[seg].router}`,
  );
}

/** The flanneld-style host of {@link addFlanneldHost}. */
export const FLANNELD = {
  address: "10.0.20.50",
  mac: "6a:1b:2c:3d:4e:5f",
  subnet: "1.1.250.0/24",
} as const;

/**
 * Adds host `host` on segment b built the way flanneld builds its VXLAN host (its own
 * `flannel.1` with a random MAC, the subnet's network address on it, forwarding on), and writes
 * its lease in flannel's format (no node name) into the registry file `store`.
 */
export function addFlanneldHost(router: string, host: string, port: string, store: string): void {
  addSegmentHost(router, host, port, "b", FLANNELD.address);
  const [network] = FLANNELD.subnet.split("/");
  shIn(
    host,
    `ip link add flannel.1 address ${FLANNELD.mac} type vxlan id 1 local ${FLANNELD.address} ` +
      `dev eth0 nolearning dstport 8472 && ip addr add ${network}/32 dev flannel.1 && ` +
      "ip link set flannel.1 up && sysctl -qw net.ipv4.ip_forward=1",
  );
  const doc = JSON.parse(readFileSync(store, "utf8"));
  const key = FLANNELD.subnet.replace("/", "-");
  if (doc.leases[key]) throw new Error(`${key} is leased already: keep it out of the allocation`);
  doc.leases[key] = {
    attrs: {
      PublicIP: FLANNELD.address,
      PublicIPv6: null,
      BackendType: "vxlan",
      BackendData: { VNI: 1, VtepMAC: FLANNELD.mac },
    },
    expiration: new Date(Date.now() + 3600_000).toISOString(),
  };
  doc.revision += 1;
  writeFileSync(store, JSON.stringify(doc));
}
