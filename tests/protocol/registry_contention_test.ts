/**
 * Many hg processes allocating from one registry at once, on each store: no subnet is handed
 * out twice, nobody fails, and the registry afterwards holds exactly the subnets handed out.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type EtcdCluster, startEtcd } from "../support/etcd.ts";
import { hg, hgArgv, type Run } from "../e2e/harness.ts";

/** Runs `hg ARGS` asynchronously, so that many run at the same time. */
function hgAsync(args: readonly string[]): Promise<Run> {
  const [cmd, ...rest] = hgArgv();
  return new Promise((resolve) => {
    const child = spawn(cmd, [...rest, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

let etcd: EtcdCluster;
const dir = mkdtempSync(join(tmpdir(), "hg-contention-"));
const stores = () => [
  { name: "file", url: join(dir, "subnets.json") },
  { name: "etcd", url: `etcd://${etcd.endpoints[0].replace("http://", "")}` },
];

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("allocation under contention (real processes)", () => {
  it("100 processes at once get 100 distinct subnets, and the registry holds exactly those", async () => {
    for (const { name, url } of stores()) {
      const prefix = ["--etcd-prefix", "/contention/network"];
      assert.equal(
        hg(["subnet", "config", "--store", url, ...prefix, "--network", "1.1.0.0/16"]).code,
        0,
      );
      const runs = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          hgAsync([
            "--json",
            "subnet",
            "alloc",
            "--store",
            url,
            ...prefix,
            "--node",
            `n${i}`,
            "--public-ip",
            `10.0.${12 + (i >> 8)}.${i & 255}`,
          ])),
      );
      const failed = runs.filter((r) => r.code !== 0);
      assert.deepEqual(failed.map((r) => r.stderr), [], `${name}: every allocation succeeds`);
      const subnets = runs.map((r) => JSON.parse(r.stdout).subnet as string);
      assert.equal(new Set(subnets).size, 100, `${name}: 100 distinct subnets`);
      const listed = JSON.parse(hg(["--json", "subnet", "ls", "--store", url, ...prefix]).stdout);
      assert.deepEqual(
        listed.leases.map((l: { subnet: string }) => l.subnet).sort(),
        [...subnets].sort(),
        `${name}: the registry holds exactly the subnets handed out`,
      );
      assert.deepEqual(listed.problems, []);
    }
  });

  it("two processes racing for the last free subnet: one gets it, the other hears the network is full", async () => {
    for (const { name, url } of stores()) {
      const prefix = ["--etcd-prefix", "/race/network"];
      const store = ["--store", url.replace("subnets.json", "race.json"), ...prefix];
      assert.equal(hg(["subnet", "config", ...store, "--network", "1.1.0.0/22"]).code, 0); // three subnets
      for (const n of [1, 2]) {
        assert.equal(
          hg(["subnet", "alloc", ...store, "--node", `pre${n}`, "--public-ip", `10.0.12.${n}`])
            .code,
          0,
        );
      }
      const [a, b] = await Promise.all([
        hgAsync(["subnet", "alloc", ...store, "--node", "a", "--public-ip", "10.0.12.21"]),
        hgAsync(["subnet", "alloc", ...store, "--node", "b", "--public-ip", "10.0.12.22"]),
      ]);
      const codes = [a.code, b.code].sort();
      assert.deepEqual(codes, [0, 1], `${name}: ${a.stderr} ${b.stderr}`);
      const loser = a.code === 1 ? a : b;
      assert.match(loser.stderr, /^hg: network 1\.1\.0\.0\/22 is full/);
      assert.equal(loser.stderr.trim().split("\n").length, 1);
    }
  });
});
