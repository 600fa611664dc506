/**
 * Lapsed and released leases on a real etcd. A paused etcd (SIGSTOP, as a stalled VM or disk
 * would) revokes, when it runs again, a lease whose holder kept renewing it all along: the
 * store's watch reports that deletion as lapsed, so that agents keep the holder's routes while
 * it claims the lease again (lib/agent/lease_grace.ts). A release is reported as a plain
 * deletion, and so is the deletion by hand of a key without a lease.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { parseAddress } from "../../lib/net/address.ts";
import { parsePrefix } from "../../lib/net/prefix.ts";
import type { LeaseAttrs } from "../../lib/store/lease.ts";
import { EtcdClient } from "../../lib/store/etcd/client.ts";
import { type EtcdLeaseChange, EtcdStore } from "../../lib/store/etcd/store.ts";
import { type EtcdCluster, startEtcd } from "../support/etcd.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const holder = (ip: string, node: string): LeaseAttrs => ({
  publicIp: parseAddress(ip),
  backendType: "host-gw",
  node,
});

/** The pid of the etcd member whose data lives under `dataDir`. */
function memberPid(dataDir: string): number {
  for (const pid of readdirSync("/proc").filter((p) => /^[0-9]+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.startsWith(`--data-dir=${dataDir}`))) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no etcd process with its data under ${dataDir}`);
}

describe("lapsed leases on etcd (integration)", () => {
  let etcd: EtcdCluster;
  let client: EtcdClient;
  before(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 1000 });
  });
  after(async () => await etcd?.stop());

  it("a paused etcd revokes a lease renewed all along: lapsed; a release and a hand delete: not", async () => {
    const store = new EtcdStore(client, "/lapse/coreos.com/network");
    const a = parsePrefix("1.1.10.0/24");
    const b = parsePrefix("1.1.11.0/24");
    assert.equal(await store.claim({ subnet: a }, holder("10.0.12.11", "h1"), 1), true);
    assert.equal(await store.claim({ subnet: b }, holder("10.0.12.12", "h2"), 60), true);
    await client.put(`${store.prefix}/subnets/1.1.12.0-24`, "{}"); // no lease
    const { revision } = await store.listLeases();
    const stop = new AbortController();
    const changes: EtcdLeaseChange[] = [];
    const watching = (async () => {
      for await (const change of store.watchLeaseChanges(revision, stop.signal)) {
        changes.push(change);
        if (changes.some((c) => c.deleted.includes("1.1.10.0-24"))) break;
      }
    })();
    // h1 renews every 300 ms (its TTL is 1 s) until the end, unanswered while etcd is paused.
    let renewing = true;
    const renewals = (async () => {
      while (renewing) {
        await store.renew({ subnet: a }, parseAddress("10.0.12.11"), 1).catch(() => false);
        await sleep(300);
      }
    })();

    assert.equal(await store.release("1.1.11.0-24"), true);
    await client.deleteKey(`${store.prefix}/subnets/1.1.12.0-24`);
    await sleep(1500);
    const alive = await store.listLeases();
    assert.ok(alive.entries.some((e) => e.key === "1.1.10.0-24"), "renewed past its TTL");

    const pid = memberPid(etcd.dataDir);
    process.kill(pid, "SIGSTOP");
    try {
      await sleep(2500);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // Ends the watch should the lapse never come (the assertions below then say what came).
    const timer = setTimeout(() => stop.abort(), 10_000);
    await watching;
    clearTimeout(timer);
    renewing = false;
    await renewals;

    const deleted = changes.flatMap((c) => c.deleted);
    const lapsed = changes.flatMap((c) => c.lapsed);
    assert.deepEqual(deleted, ["1.1.11.0-24", "1.1.12.0-24", "1.1.10.0-24"]);
    assert.deepEqual(lapsed, ["1.1.10.0-24"], "only the revoked lease lapsed");
    assert.deepEqual(changes.flatMap((c) => c.put), [], "a release's mark is no change");
  });
});
