/**
 * Where the etcd password comes from: a flag, HG_ETCD_PASSWORD or a file; one of them, with a
 * user; a file that cannot be read is named.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  etcdPasswordSource,
  openStoreFrom,
  readEtcdPasswordFile,
  type StoreFlags,
} from "../../../cli/store_options.ts";
import { InputError } from "../../../lib/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-etcd-password-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const flags = (more: Partial<StoreFlags>): StoreFlags => ({
  etcdPrefix: "/coreos.com/network",
  ...more,
});

/** Asserts `fn` throws an InputError whose message matches `pattern`. */
function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, pattern);
    assert.equal(e.message.split("\n").length, 1);
    return true;
  });
}

describe("the etcd password", () => {
  it("is read from a file without one trailing newline", () => {
    const path = join(dir, "pw");
    writeFileSync(path, "s3cret\n");
    assert.equal(readEtcdPasswordFile(path), "s3cret");
    writeFileSync(path, "s3cret\r\n");
    assert.equal(readEtcdPasswordFile(path), "s3cret");
    writeFileSync(path, "s3cret\n\n");
    assert.equal(readEtcdPasswordFile(path), "s3cret\n");
    writeFileSync(path, " s3cret ");
    assert.equal(readEtcdPasswordFile(path), " s3cret ");
  });

  it("a missing, unreadable or empty file is named", () => {
    refuses(
      () => readEtcdPasswordFile(join(dir, "nope")),
      /^cannot read the etcd password file .*\/nope: no such file$/,
    );
    refuses(
      () => readEtcdPasswordFile(dir),
      /cannot read the etcd password file .*: it is a directory/,
    );
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    refuses(() => readEtcdPasswordFile(empty), /the etcd password file .*empty is empty/);
    if (process.getuid?.() !== 0) {
      const locked = join(dir, "locked");
      writeFileSync(locked, "pw");
      chmodSync(locked, 0);
      refuses(() => readEtcdPasswordFile(locked), /permission denied/);
    }
  });

  it("comes from one place, and only with a user", () => {
    assert.equal(etcdPasswordSource(flags({})), undefined);
    assert.equal(
      etcdPasswordSource(flags({ etcdUser: "hg", etcdPassword: "pw" })),
      "--etcd-password",
    );
    assert.equal(
      etcdPasswordSource(flags({ etcdUser: "hg", etcdPasswordFile: "/etc/hg/pw" })),
      "--etcd-password-file",
    );
    refuses(
      () => etcdPasswordSource(flags({ etcdUser: "hg", etcdPassword: "a", etcdPasswordFile: "b" })),
      /--etcd-password .*and --etcd-password-file both give the etcd password/,
    );
    refuses(() => etcdPasswordSource(flags({ etcdPassword: "pw" })), /needs the user.*--etcd-user/);
    refuses(
      () => etcdPasswordSource(flags({ etcdPasswordFile: "/etc/hg/pw" })),
      /--etcd-password-file needs the user/,
    );
    refuses(() => etcdPasswordSource(flags({ etcdUser: "hg" })), /"hg" needs a password/);
    refuses(
      () => etcdPasswordSource(flags({ etcdUser: "hg", etcdPassword: "" })),
      /password .* is empty/,
    );
  });

  it("openStoreFrom reads the file (a missing one is exit 2) and never opens without a user", async () => {
    const store = "etcd://127.0.0.1:2379";
    refuses(
      () => openStoreFrom(flags({ store, etcdUser: "hg", etcdPasswordFile: join(dir, "missing") })),
      /cannot read the etcd password file .*missing/,
    );
    refuses(() => openStoreFrom(flags({ store, etcdPassword: "pw" })), /--etcd-user/);
    const path = join(dir, "good");
    writeFileSync(path, "pw\n");
    const opened = openStoreFrom(flags({ store, etcdUser: "hg", etcdPasswordFile: path }));
    await opened.close();
  });
});
