/**
 * The CLI against a real etcd that wants TLS client certificates (etcds://) and one with
 * etcd's user/password auth.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type EtcdCluster, etcdctl, makeCertificates, startEtcd } from "../support/etcd.ts";
import { hg } from "./harness.ts";

const hostPort = (endpoint: string) => endpoint.replace(/^https?:\/\//, "");

describe("hg on a secured etcd (real etcd)", () => {
  let tls: Awaited<ReturnType<typeof makeCertificates>>;
  let secure: EtcdCluster;
  let authed: EtcdCluster;

  before(async () => {
    tls = await makeCertificates();
    assert.ok(tls, "openssl is installed");
    secure = await startEtcd({ tls });
    authed = await startEtcd();
    await etcdctl(authed.endpoints, ["user", "add", "root:pw"]);
    await etcdctl(authed.endpoints, ["auth", "enable"]);
  });
  after(async () => {
    await secure?.stop();
    await authed?.stop();
    tls?.remove();
  });

  it("etcds:// with --ca, --cert and --key; without the client certificate it fails clearly", () => {
    const store = ["--store", `etcds://${hostPort(secure.endpoints[0])}`, "--ca", tls!.caFile];
    const pem = ["--cert", join(tls!.dir, "client.pem"), "--key", join(tls!.dir, "client.key")];
    const config = hg(["subnet", "config", ...store, ...pem, "--network", "1.1.0.0/16"]);
    assert.equal(config.code, 0, config.stderr);
    const alloc = hg([
      "--json",
      "subnet",
      "alloc",
      ...store,
      ...pem,
      "--node",
      "a",
      "--public-ip",
      "10.0.12.11",
    ]);
    assert.equal(alloc.code, 0, alloc.stderr);
    assert.match(JSON.parse(alloc.stdout).subnet, /^1\.1\.\d+\.0\/24$/);
    const noCert = hg(["subnet", "ls", ...store]);
    assert.equal(noCert.code, 1);
    assert.equal(noCert.stderr.trim().split("\n").length, 1, noCert.stderr);
    const missing = hg([
      "subnet",
      "ls",
      ...store,
      "--cert",
      "/nonexistent.pem",
      "--key",
      "/nonexistent.key",
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the certificate file \/nonexistent\.pem/);
  });

  it("--etcd-user with --etcd-password or HG_ETCD_PASSWORD; without them it says auth is on", () => {
    const store = ["--store", `etcd://${hostPort(authed.endpoints[0])}`];
    const withFlag = hg([
      "subnet",
      "config",
      ...store,
      "--etcd-user",
      "root",
      "--etcd-password",
      "pw",
      "--network",
      "1.1.0.0/16",
    ]);
    assert.equal(withFlag.code, 0, withFlag.stderr);
    const withEnv = hg([
      "subnet",
      "alloc",
      ...store,
      "--etcd-user",
      "root",
      "--node",
      "a",
      "--public-ip",
      "10.0.12.11",
    ], {
      HG_ETCD_PASSWORD: "pw",
    });
    assert.equal(withEnv.code, 0, withEnv.stderr);
    const anonymous = hg(["subnet", "ls", ...store]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /auth enabled/);
    const wrong = hg(["subnet", "ls", ...store, "--etcd-user", "root", "--etcd-password", "nope"]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
  });

  it("--etcd-password-file: the password from a file (one trailing newline ignored)", () => {
    const store = ["--store", `etcd://${hostPort(authed.endpoints[0])}`, "--etcd-user", "root"];
    const good = join(tls!.dir, "etcd-password");
    writeFileSync(good, "pw\n", { mode: 0o600 });
    const ls = hg(["--json", "subnet", "ls", ...store, "--etcd-password-file", good]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(JSON.parse(ls.stdout).config.Network, "1.1.0.0/16");
    // A file and --etcd-password together: which one is meant? A usage error.
    const both = hg([
      "subnet",
      "ls",
      ...store,
      "--etcd-password-file",
      good,
      "--etcd-password",
      "pw",
    ]);
    assert.equal(both.code, 2, both.stderr);
    assert.equal(both.stderr.trim().split("\n").length, 1, both.stderr);
    const bad = join(tls!.dir, "etcd-password-wrong");
    writeFileSync(bad, "n0t-the-Password\n", { mode: 0o600 });
    const wrong = hg(["subnet", "ls", ...store, "--etcd-password-file", bad]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
    assert.ok(!wrong.stderr.includes("n0t-the-Password"), wrong.stderr);
  });
});
