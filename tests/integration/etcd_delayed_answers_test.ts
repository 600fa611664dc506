/**
 * The etcd store against a real etcd behind a proxy that holds back answers past the client's
 * timeout: the write was applied, only its answer is late. A claim or a renewal whose answer
 * never came is settled by reading the key back, and nothing that may have been applied is
 * undone (before, a late renewal answer made hg revoke its new lease, deleting its own key).
 * A renewal that changes nothing is a keepalive: no write, no event for the other hosts. An
 * agent (on a host in memory) whose listing right after leasing is answered late keeps running
 * and routes its peers once listings are answered again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseAddress } from "../../lib/net/address.ts";
import { parsePrefix } from "../../lib/net/prefix.ts";
import { EtcdClient, EtcdUnavailableError } from "../../lib/store/etcd/client.ts";
import { EtcdStore } from "../../lib/store/etcd/store.ts";
import type { LeaseAttrs } from "../../lib/store/lease.ts";
import { type DelayProxy, startDelayProxy } from "../support/delay_proxy.ts";
import { type EtcdCluster, startEtcd } from "../support/etcd.ts";
import { agentOn, CONFIG, OWN, scratchDirs, until } from "../unit/agent/agent_fixture.ts";
import { memoryHost } from "../unit/agent/memory_host.ts";

const H2 = parsePrefix("1.1.2.0/24");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const holder = (ip: string, node: string): LeaseAttrs => ({
  publicIp: parseAddress(ip),
  backendType: "host-gw",
  node,
});

describe("etcd store: answers that come after the timeout (real etcd, delaying proxy)", () => {
  let etcd: EtcdCluster;
  let proxy: DelayProxy;
  /** Talks to etcd directly, to see what really happened. */
  let direct: EtcdClient;
  /** Talks through the proxy, with a 400 ms timeout. */
  let slow: EtcdClient;
  let n = 0;
  const scratch = scratchDirs();
  const fresh = () => new EtcdStore(slow, `/d${++n}/coreos.com/network`);
  const keyOf = (store: EtcdStore, subnet: string) =>
    `${store.prefix}/subnets/${subnet.replace("/", "-")}`;
  const leaseCount = async () =>
    ((await fetch(`${etcd.endpoints[0]}/v3/lease/leases`, { method: "POST", body: "{}" })
      .then((r) => r.json())) as { leases?: unknown[] }).leases?.length ?? 0;

  before(async () => {
    etcd = await startEtcd();
    proxy = await startDelayProxy(etcd.endpoints[0]);
    direct = new EtcdClient({ endpoints: etcd.endpoints });
    slow = new EtcdClient({ endpoints: [proxy.url], timeoutMs: 400 });
  });
  after(async () => {
    await proxy?.close();
    await etcd?.stop();
  });

  it("a renewal that changes nothing is a keepalive: same lease, no write", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.3.0/24");
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 30), true);
    const [claimed] = (await direct.range(keyOf(store, "1.1.3.0/24"))).kvs;
    await sleep(1100);
    assert.ok((await direct.leaseTimeToLive(claimed.lease)).ttl < 30);
    assert.equal(
      await store.renew({ subnet }, parseAddress("10.0.12.11"), 30, holder("10.0.12.11", "h1")),
      true,
    );
    const [renewed] = (await direct.range(keyOf(store, "1.1.3.0/24"))).kvs;
    assert.equal(renewed.lease, claimed.lease, "the same lease");
    assert.equal(renewed.modRevision, claimed.modRevision, "the key was not written");
    assert.ok((await direct.leaseTimeToLive(claimed.lease)).ttl >= 29, "its TTL is whole again");
  });

  it("a claim whose answer is late: it is ours, and its lease is not revoked", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.4.0/24");
    proxy.delay(["/v3/kv/txn"], 1000);
    const before = proxy.delayed;
    try {
      assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 30), true);
    } finally {
      proxy.delay([], 0);
    }
    assert.ok(proxy.delayed > before, "the answer was held back");
    await sleep(1200); // the late answer arrives, and goes nowhere
    const [kv] = (await direct.range(keyOf(store, "1.1.4.0/24"))).kvs;
    assert.ok(kv, "the key is there");
    assert.ok((await direct.leaseTimeToLive(kv.lease)).ttl > 20, "on a live lease");
  });

  it("a renewal that moves the key to a new lease, answered late: the key survives", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.5.0/24");
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 30), true);
    const [claimed] = (await direct.range(keyOf(store, "1.1.5.0/24"))).kvs;
    proxy.delay(["/v3/kv/txn"], 1000);
    try {
      // A new TTL makes it a write (a keepalive would keep the old TTL).
      assert.equal(await store.renew({ subnet }, parseAddress("10.0.12.11"), 40), true);
    } finally {
      proxy.delay([], 0);
    }
    await sleep(1200);
    const [kv] = (await direct.range(keyOf(store, "1.1.5.0/24"))).kvs;
    assert.ok(kv, "the key is still there");
    assert.notEqual(kv.lease, claimed.lease);
    assert.equal((await direct.leaseTimeToLive(kv.lease)).granted, 40);
    assert.equal((await direct.leaseTimeToLive(claimed.lease)).ttl, -1, "the old lease is gone");
  });

  it("a keepalive answered late: the renewal says it does not know, the lease was renewed", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.6.0/24");
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 30), true);
    const [kv] = (await direct.range(keyOf(store, "1.1.6.0/24"))).kvs;
    await sleep(1100);
    proxy.delay(["/v3/lease/keepalive"], 1000);
    try {
      await assert.rejects(
        store.renew({ subnet }, parseAddress("10.0.12.11"), 30, holder("10.0.12.11", "h1")),
        EtcdUnavailableError,
      );
    } finally {
      proxy.delay([], 0);
    }
    assert.ok((await direct.leaseTimeToLive(kv.lease)).ttl >= 29, "renewed all the same");
    assert.equal((await direct.range(keyOf(store, "1.1.6.0/24"))).kvs[0]?.lease, kv.lease);
  });

  it("an agent's listing right after it leased, answered late: an outage it rides out", async () => {
    const { prefix } = fresh();
    const peers = new EtcdStore(direct, prefix);
    assert.equal(await peers.putConfig(CONFIG, undefined), true);
    assert.equal(await peers.claim({ subnet: OWN }, holder("10.0.12.11", "h1"), 30), true);
    assert.equal(await peers.claim({ subnet: H2 }, holder("10.0.12.12", "h2"), 30), true);
    // The agent's lease is renewed through the proxy; from then on, listings answer late (as
    // from an etcd busy with 50 agents starting at once) for a second.
    class LateListings extends EtcdStore {
      override async renew(...args: Parameters<EtcdStore["renew"]>) {
        const renewed = await super.renew(...args);
        proxy.delay(["/v3/kv/range"], 800);
        setTimeout(() => proxy.delay([], 0), 1000);
        return renewed;
      }
    }
    const store = new LateListings(slow, prefix);
    const host = memoryHost();
    const { agent, lines } = agentOn(store, host, scratch());
    const listings = proxy.delayed;
    await agent.start(); // before, the late listing ended the agent (exit 1) with its lease held
    const running = agent.run();
    await until(() => host.routeTo("1.1.2.0/24") !== undefined, 5000, "h2 routed");
    assert.ok(proxy.delayed > listings, "a listing was answered late");
    assert.ok(lines.some((l) => l.startsWith("warn registry unreachable")), lines.join("\n"));
    assert.deepEqual(lines.filter((l) => l.startsWith("error")), []);
    agent.shutdown();
    assert.equal(await running, 0);
  });

  it("a claim answered 'taken' at once revokes the lease it granted", async () => {
    const store = fresh();
    const subnet = parsePrefix("1.1.7.0/24");
    assert.equal(await store.claim({ subnet }, holder("10.0.12.11", "h1"), 30), true);
    const leases = await leaseCount();
    assert.equal(await store.claim({ subnet }, holder("10.0.12.12", "h2"), 30), false);
    assert.equal(await leaseCount(), leases, "no lease left behind");
  });
});
