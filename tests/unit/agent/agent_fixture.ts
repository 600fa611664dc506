/**
 * What the agent's unit tests share: this host ("h1" at 10.0.12.11, subnet 1.1.1.0/24), leases,
 * a registry holding this host's lease and a peer's, an agent on a memory store and host (its
 * safety poll slowed to a minute: only events move it), and a scratch run directory.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "node:test";
import { Agent } from "../../../lib/agent/agent.ts";
import { parseAddress } from "../../../lib/net/address.ts";
import { parsePrefix } from "../../../lib/net/prefix.ts";
import { makeNetworkConfig } from "../../../lib/store/config.ts";
import type { SubnetStore } from "../../../lib/store/store.ts";
import type { memoryHost } from "./memory_host.ts";
import { MemoryStore } from "./memory_store.ts";

/** This host's subnet. */
export const OWN = parsePrefix("1.1.1.0/24");
/** The cluster network. */
export const CONFIG = makeNetworkConfig(parsePrefix("1.1.0.0/16"), 24);

/** Lease attributes of a host. */
export const lease = (ip: string, node: string) => ({
  publicIp: parseAddress(ip),
  backendType: "host-gw",
  node,
});

/** A registry with this host's lease and h2's (1.1.2.0/24 via 10.0.12.12). */
export function registry(): MemoryStore {
  const store = new MemoryStore(CONFIG);
  store.put(OWN, lease("10.0.12.11", "h1"));
  store.put(parsePrefix("1.1.2.0/24"), lease("10.0.12.12", "h2"));
  return store;
}

/** Polls `check` every 10 ms for at most `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A scratch directory per test, which is also the run directory (HG_RUN_DIR). */
export function scratchDirs(): () => string {
  let dir = "";
  let runDir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "hg-agent-test-"));
    runDir = process.env.HG_RUN_DIR;
    process.env.HG_RUN_DIR = join(dir, "run");
  });
  afterEach(() => {
    if (runDir === undefined) delete process.env.HG_RUN_DIR;
    else process.env.HG_RUN_DIR = runDir;
  });
  return () => dir;
}

/** The agent of this host on `store` and `host`; its log lines are `LEVEL message`. */
export function agentOn(
  store: SubnetStore,
  host: ReturnType<typeof memoryHost>,
  dir: string,
  options: {
    ttlSeconds?: number;
    restoreConfig?: boolean;
    releaseOnExit?: boolean;
    checkMs?: number;
  } = {},
) {
  const lines: string[] = [];
  const agent = new Agent({
    store,
    attrs: lease("10.0.12.11", "h1"),
    bridge: "cni0",
    ttlSeconds: options.ttlSeconds ?? 60,
    subnetFile: join(dir, "subnet.env"),
    uplinkMtu: 1500,
    masquerade: false,
    releaseOnExit: options.releaseOnExit ?? false,
    restoreConfig: options.restoreConfig,
    log: (level, message) => lines.push(`${level} ${message}`),
    host: host.host,
    repairMs: 60_000,
    relistMs: 60_000,
    checkMs: options.checkMs,
  });
  return { agent, lines };
}

/** {@link agentOn}, started and running: `running` resolves with its exit code. */
export async function runningAgentOn(...args: Parameters<typeof agentOn>) {
  const made = agentOn(...args);
  await made.agent.start();
  return { ...made, running: made.agent.run() };
}
