/**
 * A registry entry that is not a valid lease (a key that names no subnet, a value that is not
 * flannel's lease JSON) is named by `hg subnet ls` and removed by `hg subnet release KEY`, on the
 * file store and on a real etcd; `--dry-run` leaves it (issue 11). Registry-only: no network.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { type EtcdCluster, etcdctl, startEtcd } from "../support/etcd.ts";
import { hg, type Run } from "./harness.ts";

const dir = mkdtempSync("/tmp/hg-bad-entry-");
let etcd: EtcdCluster;

function ok(args: readonly string[]): Run {
  const r = hg(args);
  assert.equal(r.code, 0, `hg ${args.join(" ")}: ${r.stderr}`);
  return r;
}

/** The keys `hg subnet ls --json` lists as problems, and as leases. */
function listed(store: readonly string[]) {
  const ls = JSON.parse(ok(["--json", "subnet", "ls", ...store]).stdout);
  return {
    problems: (ls.problems as { key: string }[]).map((p) => p.key).sort(),
    leases: (ls.leases as { subnet: string }[]).map((l) => l.subnet),
  };
}

/** Writes the bad entries into each store the way another writer (or a bug) would. */
const kinds: { name: string; store: () => string[]; spoil: () => Promise<void> }[] = [
  {
    name: "file",
    store: () => ["--store", `${dir}/subnets.json`],
    spoil: () => {
      const file = `${dir}/subnets.json`;
      const registry = JSON.parse(readFileSync(file, "utf8"));
      const expiration = new Date(Date.now() + 3600_000).toISOString();
      registry.leases["junk"] = { attrs: { PublicIP: "10.0.12.9" }, expiration };
      registry.leases["1.1.5.0-24"] = { attrs: { PublicIP: 7 }, expiration };
      writeFileSync(file, JSON.stringify(registry));
      return Promise.resolve();
    },
  },
  {
    name: "etcd",
    store: () => ["--store", `etcd://${etcd.endpoints[0].replace("http://", "")}`],
    spoil: async () => {
      await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnets/junk", "{}"]);
      await etcdctl(etcd.endpoints, ["put", "/coreos.com/network/subnets/1.1.5.0-24", "not json"]);
    },
  },
];

describe("subnet release of entries that are not valid leases (e2e)", () => {
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of kinds) {
    it(`${kind.name}: ls names them, release KEY removes exactly them, --dry-run nothing`, async () => {
      const store = kind.store();
      ok(["subnet", "config", ...store, "--network", "1.1.0.0/16"]);
      const held = JSON.parse(
        ok(["--json", "subnet", "alloc", ...store, "--node", "h1", "--public-ip", "10.0.12.11"])
          .stdout,
      );
      await kind.spoil();
      assert.deepEqual(listed(store).problems, ["1.1.5.0-24", "junk"]);
      assert.match(
        ok(["subnet", "ls", ...store]).stdout,
        /^bad entry junk: .*\("hg subnet release junk" removes it\)$/m,
      );

      assert.match(
        ok(["--dry-run", "subnet", "release", ...store, "junk"]).stdout,
        /^would release bad entry junk \(/m,
      );
      assert.deepEqual(listed(store).problems, ["1.1.5.0-24", "junk"]);

      assert.match(ok(["subnet", "release", ...store, "junk"]).stdout, /^released bad entry junk/m);
      // A key that names a subnet is released by the subnet, whatever its value holds.
      ok(["subnet", "release", ...store, "1.1.5.0/24"]);
      assert.deepEqual(listed(store), { problems: [], leases: [held.subnet] });

      const again = hg(["subnet", "release", ...store, "junk"]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /^hg: no lease for junk in .*"hg subnet ls" lists them\n$/);
    });
  }
});
