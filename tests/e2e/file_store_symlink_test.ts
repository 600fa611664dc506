/**
 * `--store` naming a symbolic link to the registry (as on hosts that link
 * /var/lib/hg/subnets.json to a file on shared storage): hg follows it. The link stays a link,
 * the target holds every revision, the lock is beside the target (so writers through different
 * link paths wait for each other), nothing is left behind, and a loop or a link into a missing
 * directory is one line, exit 1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hg, hgArgv, type Run } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "hg-symlink-e2e-"));
after(() => rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `hg ARGS` in the background with `env` added. */
function hgAsync(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const [cmd, ...rest] = hgArgv();
  return new Promise((resolve) => {
    const child = spawn(cmd, [...rest, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const registryOf = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const nodes = (path: string) =>
  Object.values(registryOf(path).leases as Record<string, { attrs: { HgNode: string } }>)
    .map((l) => l.attrs.HgNode).sort();

describe("file store through a symbolic link (real processes)", () => {
  it("creates the target through a dangling link, writes it, and leaves the link a link", () => {
    const shared = join(root, "a", "shared");
    const local = join(root, "a", "local");
    mkdirSync(shared, { recursive: true });
    mkdirSync(local, { recursive: true });
    const real = join(shared, "subnets.json");
    const link = join(local, "subnets.json");
    symlinkSync(real, link);

    const config = hg(["subnet", "config", "--store", link, "--network", "1.1.0.0/16"]);
    assert.equal(config.code, 0, config.stderr);
    const alloc = hg([
      "subnet",
      "alloc",
      "--store",
      link,
      "--node",
      "n1",
      "--public-ip",
      "10.0.12.11",
    ]);
    assert.equal(alloc.code, 0, alloc.stderr);
    const viaFileUrl = hg([
      "subnet",
      "alloc",
      "--store",
      `file://${link}`,
      "--node",
      "n2",
      "--public-ip",
      "10.0.12.12",
    ]);
    assert.equal(viaFileUrl.code, 0, viaFileUrl.stderr);

    assert.ok(lstatSync(link).isSymbolicLink(), "the link is still a link");
    assert.equal(registryOf(real).revision, 3, "the target holds the new revision");
    assert.deepEqual(nodes(real), ["n1", "n2"]);
    assert.deepEqual(readdirSync(local), ["subnets.json"], "no copy, lock or temp beside the link");
    assert.deepEqual(readdirSync(shared), ["subnets.json"], "no lock or temp file left");
    const ls = hg(["--json", "subnet", "ls", "--store", link]);
    assert.equal(JSON.parse(ls.stdout).revision, "3");
  });

  it("writers through two link paths take one lock, beside the real file", async () => {
    const shared = join(root, "b", "shared");
    const hostA = join(root, "b", "host-a");
    const hostB = join(root, "b", "host-b");
    for (const d of [shared, hostA, hostB]) mkdirSync(d, { recursive: true });
    const real = join(shared, "subnets.json");
    symlinkSync(real, join(hostA, "subnets.json"));
    symlinkSync("../shared/subnets.json", join(hostB, "registry.json"));
    const a = join(hostA, "subnets.json");
    const b = join(hostB, "registry.json");
    assert.equal(hg(["subnet", "config", "--store", a, "--network", "1.1.0.0/16"]).code, 0);

    // The first writer holds the lock for a while; the second, through the other link, must
    // wait for it rather than take a lock of its own beside its link.
    const first = hgAsync(
      ["subnet", "alloc", "--store", a, "--node", "first", "--public-ip", "10.0.12.21"],
      { HG_TEST_HOLD_WRITE: "before-rename:1500" },
    );
    const deadline = Date.now() + 20_000;
    while (!existsSync(`${real}.lock`)) {
      assert.ok(Date.now() < deadline, "the first writer never took the lock");
      await sleep(20);
    }
    assert.ok(!existsSync(`${a}.lock`) && !existsSync(`${b}.lock`), "no lock beside a link");
    const second = hgAsync([
      "subnet",
      "alloc",
      "--store",
      b,
      "--node",
      "second",
      "--public-ip",
      "10.0.12.22",
    ]);
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(registryOf(real).revision, 3, "both changes, one after the other");
    assert.deepEqual(nodes(real), ["first", "second"]);
    assert.ok(lstatSync(a).isSymbolicLink() && lstatSync(b).isSymbolicLink());
    assert.deepEqual(readdirSync(shared), ["subnets.json"]);
  });

  it("a symlink loop and a link into a missing directory are one line each, exit 1, nothing made", () => {
    const local = join(root, "c");
    mkdirSync(local);
    symlinkSync(join(local, "loop2"), join(local, "loop1"));
    symlinkSync(join(local, "loop1"), join(local, "loop2"));
    symlinkSync(join(root, "c-not-mounted", "subnets.json"), join(local, "dangling.json"));
    const loop = hg([
      "subnet",
      "config",
      "--store",
      join(local, "loop1"),
      "--network",
      "1.1.0.0/16",
    ]);
    assert.equal(loop.code, 1);
    assert.equal(
      loop.stderr,
      `hg: cannot follow the registry path ${join(local, "loop1")}: symlink loop (${
        join(local, "loop1")
      } -> ${join(local, "loop2")} -> ${join(local, "loop1")})\n`,
    );
    const ls = hg(["subnet", "ls", "--store", join(local, "loop1")]);
    assert.equal(ls.code, 1);
    assert.match(ls.stderr, /^hg: cannot follow the registry path .*: symlink loop/);
    const dangling = hg([
      "subnet",
      "config",
      "--store",
      join(local, "dangling.json"),
      "--network",
      "1.1.0.0/16",
    ]);
    assert.equal(dangling.code, 1);
    assert.match(
      dangling.stderr,
      /^hg: the registry .* is a symlink to .*, whose directory .*c-not-mounted does not exist \(is the shared storage mounted\?\); nothing was created\n$/,
    );
    assert.deepEqual(readdirSync(local).sort(), ["dangling.json", "loop1", "loop2"]);
    assert.ok(!existsSync(join(root, "c-not-mounted")));
  });
});
