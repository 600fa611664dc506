import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseAddresses } from "../../../lib/ip/addr.ts";
import { parseLinks } from "../../../lib/ip/link.ts";
import { parseNeighbours } from "../../../lib/ip/neigh.ts";
import { IpOutputError } from "../../../lib/ip/output_error.ts";
import { parseRoutes } from "../../../lib/ip/route.ts";
import { formatAddress } from "../../../lib/net/address.ts";
import { formatPrefix } from "../../../lib/net/prefix.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), "utf8");

describe("parseRoutes (captured `ip -N -j route` of a lab host)", () => {
  const routes = parseRoutes(fixture("route_host.json"), 4);

  it("parses every route with its destination", () => {
    assert.deepEqual(routes.map((r) => formatPrefix(r.dst)), [
      "0.0.0.0/0",
      "1.1.1.0/24",
      "1.1.2.0/24",
      "1.1.3.0/24",
      "10.0.12.0/22",
      "10.98.0.0/16",
    ]);
  });

  it("reads gateway, device, protocol, scope, metric and flags", () => {
    const [dflt, bridge, hg, admin, link, hole] = routes;
    assert.equal(formatAddress(dflt.gateway!), "10.0.12.1");
    assert.deepEqual(dflt.flags, ["onlink"]);
    assert.equal(dflt.protocol, 3, "a route without protocol is boot");
    assert.equal(bridge.protocol, 2);
    assert.equal(bridge.scope, 253);
    assert.equal(formatAddress(bridge.prefsrc!), "1.1.1.1");
    assert.equal(hg.protocol, 104);
    assert.equal(hg.dev, "eth0");
    assert.equal(admin.metric, 100);
    assert.equal(link.dev, "eth0");
    assert.equal(hole.type, "blackhole");
    assert.equal(hole.dev, undefined);
  });

  it("parses the named form (without -N) the same way", () => {
    const named = parseRoutes(
      '[{"dst":"10.0.12.0/22","dev":"eth0","protocol":"kernel","scope":"link","flags":[]},' +
        '{"type":"unreachable","dst":"10.99.0.0/16","flags":[]},' +
        '{"dst":"10.244.5.0/24","gateway":"10.0.12.7","dev":"eth0","metric":100,"flags":["linkdown"]}]',
      4,
    );
    assert.equal(named[0].protocol, 2);
    assert.equal(named[0].scope, 253);
    assert.equal(named[1].type, "unreachable");
    assert.deepEqual(named[2].flags, ["linkdown"]);
  });

  it("parses a container's routes and `ip route get` output", () => {
    const inside = parseRoutes(fixture("route_container.json"), 4);
    assert.equal(formatAddress(inside[0].gateway!), "1.1.1.1");
    const [got] = parseRoutes(fixture("route_get_peer.json"), 4);
    assert.equal(formatPrefix(got.dst), "1.1.2.5/32");
    assert.equal(formatAddress(got.gateway!), "10.0.12.7");
  });

  it("parses IPv6 routes", () => {
    const v6 = parseRoutes(fixture("route6_host.json"), 6);
    assert.equal(formatPrefix(v6[0].dst), "fd00:12::/64");
    assert.equal(v6[0].metric, 256);
  });

  it("treats empty output as no routes", () => {
    assert.deepEqual(parseRoutes("", 4), []);
    assert.deepEqual(parseRoutes("[]\n", 4), []);
  });

  it("rejects output of the wrong shape with a message naming the field", () => {
    assert.throws(() => parseRoutes("not json", 4), IpOutputError);
    assert.throws(() => parseRoutes('{"dst":"default"}', 4), /not a list/);
    assert.throws(() => parseRoutes('[{"dst":5}]', 4), /"dst" is not a string/);
    assert.throws(
      () => parseRoutes('[{"dst":"1.1.1.0/24","protocol":"martian"}]', 4),
      /unknown protocol/,
    );
    assert.throws(() => parseRoutes('[{"dst":"1.1.1.0/24","type":"99"}]', 4), /unknown type/);
    assert.throws(
      () => parseRoutes('[{"dst":"1.1.1.0/24","flags":"x"}]', 4),
      /"flags" is not a list/,
    );
  });
});

describe("parseAddresses (captured `ip -j addr`)", () => {
  it("lists each interface with its addresses and connected networks", () => {
    const links = parseAddresses(fixture("addr_host.json"));
    assert.deepEqual(links.map((l) => l.ifname), ["lo", "eth0", "cni0", "hgv1"]);
    const eth0 = links[1];
    assert.equal(eth0.up, true);
    assert.equal(eth0.mtu, 1500);
    assert.deepEqual(
      eth0.addresses.map((a) => `${formatAddress(a.address)} ${formatPrefix(a.prefix)} ${a.scope}`),
      [
        "10.0.12.11 10.0.12.0/22 global",
        "fd00:12::11 fd00:12::/64 global",
        "fe80::b4a7:b8ff:fe24:6d2f fe80::/64 link",
      ],
    );
    assert.equal(formatPrefix(links[2].addresses[0].prefix), "1.1.1.0/24");
  });

  it("parses a container's addresses", () => {
    const links = parseAddresses(fixture("addr_container.json"));
    assert.equal(formatAddress(links[1].addresses[0].address), "1.1.1.2");
  });
});

describe("parseLinks (captured `ip -j -d link`)", () => {
  it("reads kind, master, alias, state and peer namespace", () => {
    const links = parseLinks(fixture("link_host.json"));
    const byName = new Map(links.map((l) => [l.ifname, l]));
    assert.equal(byName.get("cni0")!.kind, "bridge");
    assert.equal(byName.get("eth0")!.kind, "veth");
    assert.equal(byName.get("lo")!.kind, undefined);
    const port = byName.get("hgv1")!;
    assert.equal(port.master, "cni0");
    assert.equal(port.alias, "hg:c1");
    assert.equal(port.up, true);
    assert.equal(port.lowerUp, true);
    assert.equal(port.linkNetnsId, 1);
    assert.equal(byName.get("cni0")!.alias, undefined);
  });
});

describe("parseNeighbours (captured `ip -j neigh`)", () => {
  it("reads states and link-layer addresses", () => {
    const neigh = parseNeighbours(fixture("neigh_host.json"));
    assert.deepEqual(neigh.map((n) => [formatAddress(n.dst), n.state.join(",")]), [
      ["10.0.12.5", "FAILED"],
      ["10.0.12.7", "REACHABLE"],
      ["10.0.12.9", "PERMANENT"],
    ]);
    assert.equal(neigh[0].lladdr, undefined);
    assert.equal(neigh[2].lladdr, "22:9f:72:f9:d3:e0");
  });
});

describe("parseAddresses with -N (numeric scopes, as the one-process observation reads them)", () => {
  it("names numeric scopes", () => {
    const [lo] = parseAddresses(
      '[{"ifindex":1,"ifname":"lo","flags":["UP"],"mtu":65536,"addr_info":[' +
        '{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"254"},' +
        '{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"253"},' +
        '{"family":"inet","local":"10.0.12.11","prefixlen":22,"scope":"0"}]}]',
    );
    assert.deepEqual(lo.addresses.map((a) => a.scope), ["host", "link", "global"]);
  });
});
