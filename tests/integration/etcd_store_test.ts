import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HgError, InputError } from "../../lib/errors.ts";
import { parseAddress } from "../../lib/net/address.ts";
import { formatPrefix, parsePrefix } from "../../lib/net/prefix.ts";
import { makeNetworkConfig } from "../../lib/store/config.ts";
import { type LeaseAttrs, subnetKey } from "../../lib/store/lease.ts";
import type { LeaseChange, RegistryEntry } from "../../lib/store/store.ts";
import { EtcdClient, EtcdCompactedError } from "../../lib/store/etcd/client.ts";
import { EtcdStore, parseEtcdUrl } from "../../lib/store/etcd/store.ts";
import { type EtcdCluster, etcdctl, startEtcd } from "../support/etcd.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const holder = (ip: string, node?: string): LeaseAttrs => ({
  publicIp: parseAddress(ip),
  backendType: "host-gw",
  ...(node === undefined ? {} : { node }),
});

/** An entry for assertion messages (leases hold bigints, which JSON cannot show). */
const show = (entry: RegistryEntry) =>
  `${entry.key}: ${"problem" in entry ? entry.problem : formatPrefix(entry.lease.subnet)}`;

describe("parseEtcdUrl", () => {
  it("turns etcd:// and etcds:// URLs into endpoints", () => {
    assert.deepEqual(parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2:22379"), {
      endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:22379"],
      secure: false,
    });
    assert.deepEqual(parseEtcdUrl("etcds://etcd-1.example.org,[fd00::1]:2379/"), {
      endpoints: ["https://etcd-1.example.org:2379", "https://[fd00::1]:2379"],
      secure: true,
    });
  });

  it("rejects other URLs with a one-line InputError naming the value", () => {
    for (
      const [url, why] of [
        ["", "expected etcd://"],
        ["http://127.0.0.1:2379", "expected etcd://"],
        ["etcd://", "no host"],
        ["etcd://h1:2379,", '"" is not host[:port]'],
        ["etcd://h_1:2379", "is not host[:port]"],
        ["etcd://1.2.3.256:2379", '"1.2.3.256" is not an IPv4 address'],
        ["etcd://[fd00::zz]:2379", "is not an IPv6 address"],
        ["etcd://h1:0", 'port "0"'],
        ["etcd://h1:65536", 'port "65536"'],
        ["etcd://h1:23a", 'port "23a"'],
        ["etcd://h1:2379/coreos.com", "a path is not allowed"],
      ]
    ) {
      assert.throws(() => parseEtcdUrl(url), (e: unknown) => {
        assert.ok(e instanceof InputError, `${url}: ${e}`);
        assert.ok(e.message.includes(JSON.stringify(url)), e.message);
        assert.ok(e.message.includes(why), `${url}: ${e.message}`);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
  });
});

describe("EtcdStore", () => {
  let etcd: EtcdCluster;
  let client: EtcdClient;
  /** A store under a prefix of its own, so that tests do not see each other's keys. */
  let fresh: () => EtcdStore;
  before(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: etcd.endpoints });
    let n = 0;
    fresh = () => new EtcdStore(client, `/t${++n}/coreos.com/network`);
  });
  after(async () => await etcd?.stop());

  it("names itself with an etcd:// URL", () => {
    const store = new EtcdStore(client);
    assert.equal(
      store.url,
      `etcd://${etcd.endpoints[0].slice("http://".length)}/coreos.com/network`,
    );
    assert.throws(() => new EtcdStore(client, "coreos.com/"), InputError);
  });

  it("lists a lease flanneld wrote, a malformed value and a bad key", async () => {
    const value =
      '{"PublicIP":"10.0.12.13","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}';
    await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnets/1.1.3.0-24", value]);
    await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnets/1.1.4.0-24", "{oops"]);
    await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnets/not-a-subnet", value]);
    await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnetsX", value]);
    const store = new EtcdStore(client);
    const { entries, revision } = await store.listLeases();
    assert.match(revision, /^[0-9]+$/);
    assert.equal(entries.length, 3);
    const [good, malformed, badKey] = entries;
    assert.ok("lease" in good, show(good));
    assert.equal(good.key, "1.1.3.0-24", "entries are named by their subnet key");
    assert.equal(formatPrefix(good.lease.subnet), "1.1.3.0/24");
    assert.deepEqual(good.lease.attrs, holder("10.0.12.13"));
    assert.ok("problem" in malformed, show(malformed));
    assert.equal(malformed.key, "1.1.4.0-24");
    assert.match(malformed.problem, /not JSON/);
    assert.ok("problem" in badKey, show(badKey));
    assert.equal(badKey.key, "not-a-subnet");
    assert.match(badKey.problem, /"\/coreos.com\/network\/subnets\/not-a-subnet" does not name/);
    for (const entry of [malformed, badKey]) {
      assert.ok("problem" in entry && !entry.problem.includes("\n"));
    }
  });

  it("writes the config only over the config it was read as", async () => {
    const store = fresh();
    const first = makeNetworkConfig(parsePrefix("1.1.0.0/16"));
    const second = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 25);
    assert.equal(await store.getConfig(), undefined);
    assert.equal(await store.putConfig(first, undefined), true);
    assert.deepEqual(await store.getConfig(), first);
    assert.equal(await store.putConfig(second, undefined), false, "one exists already");
    assert.equal(await store.putConfig(second, second), false, "it is not `second`");
    assert.equal(await store.putConfig(second, first), true);
    assert.deepEqual(await store.getConfig(), second);
    assert.equal(await store.putConfig(first, first), false, "stale expectation");
    // Two writers that both read `second`: exactly one wins.
    const third = makeNetworkConfig(parsePrefix("1.2.0.0/16"));
    const results = await Promise.all([
      store.putConfig(first, second),
      store.putConfig(third, second),
    ]);
    assert.equal(results.filter(Boolean).length, 1);
  });

  it("reports a corrupt config as an HgError naming its key", async () => {
    const store = fresh();
    const key = `${store.prefix}/config`;
    await client.put(key, '{"Network":"1.1.0.0/33"}');
    await assert.rejects(store.getConfig(), (e: unknown) => {
      assert.ok(e instanceof HgError && !(e instanceof InputError), String(e));
      assert.ok(e.message.includes(key), e.message);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  });

  it("claims a free subnet once, renews it for its holder only, and releases it", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.5.0/24");
    const key = `${store.prefix}/subnets/1.1.5.0-24`;
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 60), true);
    assert.equal(await store.claim({ subnet }, holder("10.0.12.12", "h2"), 60), false);
    const [claimed] = (await client.range(key)).kvs;
    assert.notEqual(claimed.lease, "0");
    assert.deepEqual(await client.leaseTimeToLive(claimed.lease).then((t) => t.granted), 60);

    assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.12"), 60), false);
    assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.11"), 120), true);
    const [renewed] = (await client.range(key)).kvs;
    assert.equal(renewed.value, claimed.value, "renew keeps the value");
    assert.notEqual(renewed.lease, claimed.lease);
    const { ttl, granted } = await client.leaseTimeToLive(renewed.lease);
    assert.equal(granted, 120);
    assert.ok(ttl > 110, `ttl ${ttl}`);
    assert.equal((await client.leaseTimeToLive(claimed.lease)).ttl, -1, "old lease revoked");
    // A holder that moved rewrites its lease as it renews it.
    const moved = holder("10.0.12.21", "h1");
    assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.11"), 120, moved), true);
    assert.equal(
      await store.renew({ subnet }, parseAddress("10.0.12.11"), 120),
      false,
      "moved away",
    );
    assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.21"), 120), true);

    const { entries } = await store.listLeases();
    assert.equal(entries.length, 1);
    assert.ok("lease" in entries[0]);
    assert.deepEqual(entries[0].lease.attrs, moved);

    const [last] = (await client.range(key)).kvs;
    assert.equal(await store.release(subnetKey(subnet)), true);
    assert.equal((await client.leaseTimeToLive(last.lease)).ttl, -1, "lease revoked");
    assert.equal(await store.release(subnetKey(subnet)), false);
    assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.21"), 60), false);
    assert.deepEqual((await store.listLeases()).entries, []);
    assert.equal(await store.claim({ subnet }, holder("10.0.12.12", "h2"), 60), true);
    await store.close();
  });

  it("watches the leases' changes after a listing, parsed as a listing parses them", async () => {
    const store = fresh();
    const dir = `${store.prefix}/subnets/`;
    const { revision } = await store.listLeases();
    const stop = new AbortController();
    const changes: LeaseChange[] = [];
    const watching = (async () => {
      for await (const change of store.watchLeaseChanges(revision, stop.signal)) {
        changes.push(change);
        if (changes.flatMap((c) => c.deleted).length > 0) stop.abort();
      }
    })();
    const a = parsePrefix("1.1.10.0/24");
    assert.equal(await store.claim({ subnet: a }, holder("10.0.12.11", "h1"), 60), true);
    await client.put(`${dir}1.1.11.0-24`, "{oops");
    // A renewal that keeps the value writes nothing: no change to see.
    assert.equal(await store.renew({ subnet: a }, parseAddress("10.0.12.11"), 60), true);
    assert.equal(
      await store.renew({ subnet: a }, parseAddress("10.0.12.11"), 60, holder("10.0.12.21", "h1")),
      true,
    );
    assert.equal(await store.release("1.1.10.0-24"), true);
    await watching;
    const puts = changes.flatMap((c) => c.put);
    assert.deepEqual(puts.map((e) => e.key), ["1.1.10.0-24", "1.1.11.0-24", "1.1.10.0-24"]);
    const [claimed, bad, moved] = puts;
    assert.ok("lease" in claimed && "lease" in moved, puts.map(show).join(", "));
    assert.deepEqual(claimed.lease.attrs, holder("10.0.12.11", "h1"));
    assert.deepEqual(moved.lease.attrs, holder("10.0.12.21", "h1"));
    assert.ok("problem" in bad, show(bad));
    assert.match(bad.problem, /not JSON/);
    assert.deepEqual(changes.flatMap((c) => c.deleted), ["1.1.10.0-24"]);
    const revisions = changes.map((c) => BigInt(c.revision));
    assert.ok(revisions.every((r, i) => i === 0 || r > revisions[i - 1]), String(revisions));
    // The last revision is where a listing stands now.
    assert.equal(changes[changes.length - 1].revision, (await store.listLeases()).revision);
  });

  it("throws from the change watch when its revision was compacted, so the caller lists", async () => {
    const store = fresh();
    const { revision } = await store.listLeases();
    await client.put(`${store.prefix}/subnets/1.1.12.0-24`, "{}");
    await client.put(`${store.prefix}/subnets/1.1.12.0-24`, "{ }");
    const { revision: now } = await store.listLeases();
    await etcdctl(etcd.endpoints, ["compact", now]);
    const stop = new AbortController();
    await assert.rejects(
      (async () => {
        for await (const _ of store.watchLeaseChanges(revision, stop.signal)) stop.abort();
      })(),
      EtcdCompactedError,
    );
  });

  it("does not renew a key whose value is not a lease", async () => {
    const store = fresh();
    const key = `${store.prefix}/subnets/1.1.6.0-24`;
    await client.put(key, "garbage");
    assert.equal(
      await store.renew({ subnet: parsePrefix("1.1.6.0/24") }, parseAddress("10.0.12.11"), 60),
      false,
    );
  });

  it("frees a subnet whose lease ran out", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.7.0/24");
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11"), 1), true);
    const deadline = Date.now() + 3500;
    while ((await store.listLeases()).entries.length > 0) {
      assert.ok(Date.now() < deadline, "the lease outlived its 1 s TTL by 2.5 s");
      await sleep(100);
    }
    assert.equal(await store.claim({ subnet }, holder("10.0.12.12"), 60), true);
  });

  it("lets exactly one of 50 concurrent claims win, and leaks no lease", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.8.0/24");
    const before = (await etcdctl(etcd.endpoints, ["lease", "list"])).trim().split("\n").length;
    const results = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => store.claim({ subnet }, holder(`10.0.13.${i + 1}`, `h${i}`), 60),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    const { entries } = await store.listLeases();
    assert.equal(entries.length, 1);
    assert.ok("lease" in entries[0]);
    assert.equal(entries[0].lease.attrs.node, `h${winner}`);
    const leases = (await etcdctl(etcd.endpoints, ["lease", "list"])).trim().split("\n").length;
    assert.equal(leases, before + 1, "the losers revoke the leases they were granted");
  });
});
