/**
 * The same registry behaviour, checked on both stores: the shared JSON file and a real etcd.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HgError } from "../../lib/errors.ts";
import { formatAddress, parseAddress } from "../../lib/net/address.ts";
import { formatPrefix, parsePrefix, prefixContains } from "../../lib/net/prefix.ts";
import { allocate, NetworkFullError, subnetsAt } from "../../lib/store/allocate.ts";
import { makeNetworkConfig, makeSubnetRange } from "../../lib/store/config.ts";
import { configureNetwork } from "../../lib/store/configure.ts";
import { type LeaseAttrs, leaseKey, subnetKey } from "../../lib/store/lease.ts";
import { openStore } from "../../lib/store/open.ts";
import type { SubnetStore } from "../../lib/store/store.ts";
import { type EtcdCluster, startEtcd } from "../support/etcd.ts";

const host = (n: number, node = `node${n}`): LeaseAttrs => ({
  publicIp: parseAddress(`10.0.12.${n}`),
  backendType: "host-gw",
  node,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let etcd: EtcdCluster;
const dir = mkdtempSync(join(tmpdir(), "hg-store-test-"));
let serial = 0;

/** A fresh, empty store of each kind for every test. */
const kinds: { name: string; make: () => SubnetStore }[] = [
  { name: "file", make: () => openStore(join(dir, `registry-${++serial}.json`)) },
  {
    name: "etcd",
    make: () =>
      openStore(`etcd://${etcd.endpoints[0].replace("http://", "")}`, {
        etcdPrefix: `/test/${++serial}/network`,
      }),
  },
];

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

for (const kind of kinds) {
  describe(`${kind.name} store`, () => {
    it("writes the config once, and refuses to change it while leases exist", async () => {
      const store = kind.make();
      const config = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);
      assert.equal(await configureNetwork(store, config), "created");
      assert.equal(await configureNetwork(store, config), "unchanged");
      assert.equal(formatPrefix((await store.getConfig())!.network), "1.1.0.0/16");
      await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      await assert.rejects(
        configureNetwork(store, makeNetworkConfig(parsePrefix("1.2.0.0/16"), 24)),
        (e) =>
          e instanceof HgError &&
          /refusing to change the network config .* it has 1 lease/.test(e.message),
      );
      await store.close();
    });

    it("reads the config and the leases together as getConfig and listLeases read them", async () => {
      const store = kind.make();
      assert.deepEqual(await store.readRegistry(), {
        config: undefined,
        listing: await store.listLeases(),
      });
      await configureNetwork(store, makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24));
      await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      await allocate(store, { attrs: host(12), ttlSeconds: 60 });
      const both = await store.readRegistry();
      assert.deepEqual(both.config, await store.getConfig());
      assert.deepEqual(both.listing, await store.listLeases());
      assert.equal(both.listing.entries.length, 2);
      await store.close();
    });

    it("refuses to allocate without a config", async () => {
      const store = kind.make();
      await assert.rejects(
        allocate(store, { attrs: host(11), ttlSeconds: 60 }),
        /has no network config/,
      );
    });

    it("allocates inside SubnetMin..SubnetMax, gives a host its lease back, and releases it", async () => {
      const store = kind.make();
      const network = parsePrefix("1.1.0.0/16");
      await configureNetwork(
        store,
        makeNetworkConfig(network, 24, {
          min: parseAddress("1.1.10.0"),
          max: parseAddress("1.1.19.0"),
        }),
      );
      const first = await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      assert.equal(first.reused, false);
      assert.equal(first.entry, "claimed");
      const third = Number(formatPrefix(first.lease.subnet).split(".")[2]);
      assert.ok(
        third >= 10 && third <= 19,
        `${formatPrefix(first.lease.subnet)} is within min..max`,
      );
      const again = await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      assert.equal(again.reused, true);
      assert.equal(again.entry, "renewed", "the same value again only extends the lease");
      assert.equal(formatPrefix(again.lease.subnet), formatPrefix(first.lease.subnet));
      // The same node from a new address keeps its subnet, and the lease says the new address.
      const moved = await allocate(store, {
        attrs: { ...host(99), node: "node11" },
        ttlSeconds: 60,
      });
      assert.equal(formatPrefix(moved.lease.subnet), formatPrefix(first.lease.subnet));
      assert.equal(moved.entry, "rewritten", "a new address is a new value");
      const listed = (await store.listLeases()).entries;
      assert.equal(listed.length, 1);
      assert.ok(
        "lease" in listed[0] &&
          listed[0].lease.attrs.publicIp.value === parseAddress("10.0.12.99").value,
      );
      const other = await allocate(store, { attrs: host(12), ttlSeconds: 60 });
      assert.notEqual(formatPrefix(other.lease.subnet), formatPrefix(first.lease.subnet));
      assert.equal(await store.release(subnetKey(first.lease.subnet)), true);
      assert.equal(await store.release(subnetKey(first.lease.subnet)), false);
      assert.equal((await store.listLeases()).entries.length, 1);
      await store.close();
    });

    it("skips the network's first subnet, and says when the network is full", async () => {
      const store = kind.make();
      const network = parsePrefix("1.1.0.0/22"); // four /24s, the first skipped: three to hand out
      await configureNetwork(store, makeNetworkConfig(network, 24));
      const got = [];
      for (const n of [11, 12, 13]) {
        got.push(
          formatPrefix((await allocate(store, { attrs: host(n), ttlSeconds: 60 })).lease.subnet),
        );
      }
      assert.deepEqual(got.sort(), ["1.1.1.0/24", "1.1.2.0/24", "1.1.3.0/24"]);
      await assert.rejects(
        allocate(store, { attrs: host(14), ttlSeconds: 60 }),
        (e) => e instanceof NetworkFullError && /network 1\.1\.0\.0\/22 is full/.test(e.message),
      );
      await store.close();
    });

    it("frees a subnet when its lease's time runs out", async () => {
      const store = kind.make();
      await configureNetwork(store, makeNetworkConfig(parsePrefix("1.1.0.0/23"), 24)); // one subnet
      const first = await allocate(store, { attrs: host(11), ttlSeconds: 1 });
      assert.equal(formatPrefix(first.lease.subnet), "1.1.1.0/24");
      await assert.rejects(allocate(store, { attrs: host(12), ttlSeconds: 60 }), NetworkFullError);
      const deadline = Date.now() + 5000;
      while ((await store.listLeases()).entries.length > 0 && Date.now() < deadline) {
        await sleep(200);
      }
      assert.equal((await store.listLeases()).entries.length, 0, "the lease expired");
      const second = await allocate(store, { attrs: host(12), ttlSeconds: 60 });
      assert.ok(prefixContains(second.lease.subnet, parseAddress("1.1.1.5")));
      await store.close();
    });

    it("renews only a lease the holder still has", async () => {
      const store = kind.make();
      await configureNetwork(store, makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24));
      const { lease } = await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      assert.equal(await store.renew(lease, parseAddress("10.0.12.11"), 120), true);
      assert.equal(
        await store.renew(lease, parseAddress("10.0.12.12"), 120),
        false,
        "not the holder",
      );
      await store.release(subnetKey(lease.subnet));
      assert.equal(await store.renew(lease, parseAddress("10.0.12.11"), 120), false, "gone");
      await store.close();
    });

    it("watches: a revision after each change, none while nothing changes", async () => {
      const store = kind.make();
      await configureNetwork(store, makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24));
      const { revision } = await store.listLeases();
      const stop = new AbortController();
      const seen: string[] = [];
      const watching = (async () => {
        for await (const r of store.watchLeases(revision, stop.signal)) seen.push(r);
      })();
      const { lease } = await allocate(store, { attrs: host(11), ttlSeconds: 60 });
      const after = async (n: number) => {
        for (let i = 0; i < 50 && seen.length < n; i++) await sleep(100);
        assert.equal(seen.length, n, `revisions seen: ${seen.join(", ")}`);
      };
      await after(1);
      assert.equal(seen[0], (await store.listLeases()).revision);
      // The file store polls every second: a poll that finds the same file yields nothing.
      await sleep(1200);
      assert.equal(seen.length, 1, `revisions seen: ${seen.join(", ")}`);
      await store.release(subnetKey(lease.subnet));
      await after(2);
      assert.ok(BigInt(seen[1]) > BigInt(seen[0]));
      stop.abort();
      await watching;
      await store.close();
    });

    it("dual-stack: 20 hosts at once never share a subnet of either family; one key per lease", async () => {
      const store = kind.make();
      const dual = makeNetworkConfig(
        parsePrefix("1.1.0.0/16"),
        24,
        {},
        undefined,
        makeSubnetRange(parsePrefix("fd00:1::/56")),
      );
      await configureNetwork(store, dual);
      const v6host = (n: number) => ({ ...host(n), publicIpv6: parseAddress(`fd00:12::${n}`) });
      // Few free pairs left (25 of 255), so that the random picks collide and claims are lost.
      for (let n = 25; n < 255; n++) {
        const filler = {
          publicIp: parseAddress(`10.0.13.${n}`),
          publicIpv6: parseAddress(`fd00:13::${n}`),
          backendType: "host-gw",
          node: `fill${n}`,
        };
        assert.equal(await store.claim(subnetsAt(dual, BigInt(n)), filler, 60), true);
      }
      const won = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) => allocate(store, { attrs: v6host(i + 1), ttlSeconds: 60 }, Math.random, 1000),
        ),
      );
      const subnets = won.flatMap((w) => [w.lease.subnet, w.lease.ipv6Subnet!].map(formatPrefix));
      assert.equal(new Set(subnets).size, 40, subnets.join(" "));
      const { entries } = await store.listLeases();
      const mine = entries.filter((e) =>
        "lease" in e && e.lease.attrs.node?.match(/^node([1-9]|1\d|20)$/)
      );
      assert.equal(mine.length, 20);
      for (const e of mine) {
        if (!("lease" in e)) continue;
        assert.equal(e.key, leaseKey(e.lease));
        assert.equal(
          formatAddress(e.lease.attrs.publicIpv6!),
          `fd00:12::${e.lease.attrs.node!.slice(4)}`,
        );
      }
      await store.close();
    });
  });
}
