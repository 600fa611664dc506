/**
 * A registry path that is a symbolic link (to a file on shared storage, say) is followed: writes
 * go to the real file, the link stays a link, the lock and temp files are beside the real file
 * (so two link paths to one file share one lock), and a loop or a link into a missing directory
 * is one clear error. Real files in a temp directory.
 */
import assert from "node:assert/strict";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HgError, InputError } from "../../../lib/errors.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { parseNetworkConfig } from "../../../lib/store/config.ts";
import { FileStore } from "../../../lib/store/file/store.ts";
import { RegistryPathError, registryTarget } from "../../../lib/store/file/real_path.ts";
import type { LeaseAttrs } from "../../../lib/store/lease.ts";

const root = mkdtempSync(join(tmpdir(), "hg-symlink-"));
after(() => rmSync(root, { recursive: true, force: true }));

let serial = 0;
/** A fresh `shared/` directory (the shared storage) and a `local/` one (where links live). */
function dirs(): { shared: string; local: string } {
  const base = join(root, `t${++serial}`);
  const shared = join(base, "shared");
  const local = join(base, "local");
  mkdirSync(shared, { recursive: true });
  mkdirSync(local, { recursive: true });
  return { shared, local };
}

const CONFIG = parseNetworkConfig('{"Network":"1.1.0.0/16","SubnetLen":24}');
const attrs = (n: number): LeaseAttrs => ({
  publicIp: parseAddress(`10.0.12.${n}`),
  backendType: "host-gw",
  node: `n${n}`,
});
const revisionOf = (path: string) => JSON.parse(readFileSync(path, "utf8")).revision as number;

describe("file store through a symbolic link", () => {
  it("creates the registry through a dangling link, keeps the link, writes the target", async () => {
    const { shared, local } = dirs();
    const real = join(shared, "subnets.json");
    const link = join(local, "subnets.json");
    symlinkSync(real, link);
    const store = new FileStore(link);
    assert.equal(store.file, real);
    assert.equal(await store.putConfig(CONFIG, undefined), true);
    assert.equal(await store.claim({ subnet: parsePrefix("1.1.7.0/24") }, attrs(7), 60), true);

    assert.ok(lstatSync(link).isSymbolicLink(), "the link is still a link");
    assert.equal(readlinkSync(link), real, "pointing where it did");
    assert.equal(revisionOf(real), 2, "the target holds both changes");
    assert.deepEqual(readdirSync(local), ["subnets.json"], "nothing beside the link");
    assert.deepEqual(readdirSync(shared), ["subnets.json"], "no lock or temp file left");
    const read = await new FileStore(real).listLeases();
    assert.deepEqual(read.entries.map((e) => e.key), ["1.1.7.0-24"]);
  });

  it("follows a relative link, a chain of links and a linked directory", async () => {
    const { shared, local } = dirs();
    const real = join(shared, "subnets.json");
    symlinkSync("../shared/subnets.json", join(local, "hop2"));
    symlinkSync("hop2", join(local, "hop1"));
    symlinkSync(shared, join(local, "dirlink"));
    for (const path of [join(local, "hop1"), join(local, "dirlink", "subnets.json")]) {
      assert.deepEqual(registryTarget(path).real, real, path);
    }
    assert.deepEqual(registryTarget(join(local, "hop1")).chain, [
      join(local, "hop1"),
      join(local, "hop2"),
      real,
    ]);
    const store = new FileStore(join(local, "hop1"));
    assert.equal(await store.putConfig(CONFIG, undefined), true);
    assert.ok(lstatSync(join(local, "hop1")).isSymbolicLink());
    assert.ok(lstatSync(join(local, "hop2")).isSymbolicLink());
    assert.equal(revisionOf(real), 1);
  });

  it("two link paths to one file share one lock: concurrent writers through both lose nothing", async () => {
    const { shared, local } = dirs();
    const real = join(shared, "subnets.json");
    const other = join(local, "other");
    mkdirSync(other);
    symlinkSync(real, join(local, "subnets.json"));
    symlinkSync(real, join(other, "registry.json"));
    const a = new FileStore(join(local, "subnets.json"));
    const b = new FileStore(join(other, "registry.json"));
    assert.equal(await a.putConfig(CONFIG, undefined), true);
    const claims = await Promise.all(
      Array.from(
        { length: 24 },
        (_, i) =>
          (i % 2 ? a : b).claim({ subnet: parsePrefix(`1.1.${i + 1}.0/24`) }, attrs(i + 1), 60),
      ),
    );
    assert.deepEqual(claims, Array(24).fill(true));
    assert.equal(revisionOf(real), 25, "every change made it, none overwrote another");
    assert.equal((await a.listLeases()).entries.length, 24);
    assert.ok(lstatSync(join(local, "subnets.json")).isSymbolicLink());
    assert.ok(lstatSync(join(other, "registry.json")).isSymbolicLink());
    assert.deepEqual(readdirSync(shared), ["subnets.json"]);
  });

  it("a symlink loop is one clear error (exit 1, not bad input), and nothing is created", () => {
    const { local } = dirs();
    symlinkSync(join(local, "b"), join(local, "a"));
    symlinkSync(join(local, "a"), join(local, "b"));
    for (const path of [join(local, "a"), join(local, "a", "subnets.json")]) {
      assert.throws(() => new FileStore(path), (e: unknown) => {
        assert.ok(e instanceof RegistryPathError && e instanceof HgError, String(e));
        assert.ok(!(e instanceof InputError));
        assert.match(e.message, /symlink loop/);
        assert.equal(e.message.split("\n").length, 1);
        return true;
      });
    }
    assert.deepEqual(readdirSync(local).sort(), ["a", "b"]);
  });

  it("a link into a directory that does not exist (storage not mounted) is refused, nothing made", () => {
    const { shared, local } = dirs();
    const link = join(local, "subnets.json");
    symlinkSync(join(shared, "not-mounted", "subnets.json"), link);
    assert.throws(() => new FileStore(link), (e: unknown) => {
      assert.ok(e instanceof RegistryPathError, String(e));
      assert.equal(
        e.message,
        `the registry ${link} is a symlink to ${
          join(shared, "not-mounted", "subnets.json")
        }, whose directory ${
          join(shared, "not-mounted")
        } does not exist (is the shared storage mounted?); nothing was created`,
      );
      return true;
    });
    assert.deepEqual(readdirSync(shared), []);
  });

  it("a plain path is its own target, even when its directory does not exist yet", () => {
    const { shared } = dirs();
    const path = join(shared, "later", "subnets.json");
    assert.deepEqual(registryTarget(path), { real: path, chain: [path] });
  });
});
