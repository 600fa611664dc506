/**
 * One CNI "host" per test, for the plugin's contract tests: a network namespace `PREFIX-h` with
 * bridge cni0, container namespaces `PREFIX-*` made as a runtime makes them, and the executable
 * under test run inside the host with exactly the CNI variables a runtime passes. Everything is
 * removed afterwards; nothing touches the root namespace.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hgArgv, netnsList, type Run, run } from "../e2e/harness.ts";

/** A process environment. */
export type Env = Record<string, string>;

/** Where runtimes look for plugins (podman 4.3's list, as measured in the project's notes). */
export const CNI_PATH = "/usr/libexec/cni:/usr/lib/cni:/opt/cni/bin";

// By its path, so that a test can give the plugin a PATH without it.
const NSENTER = run("sh", ["-c", "command -v nsenter"]).stdout.trim() || "nsenter";

/** A runtime's 64-hex container id. */
export const hex64 = (): string => randomBytes(32).toString("hex");

/** A run, for assertion messages. */
export const show = (r: Run): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** podman 4.3 (see the project's notes): 64-hex id, IgnoreUnknown and K8S_POD_NAME only. */
export function podmanEnv(
  command: string,
  id: string,
  netns: string,
  ifname = "eth0",
  name = "web",
): Env {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: ifname,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${name}`,
    CNI_PATH,
  };
}

/**
 * The plugin object with `name` and `cniVersion` added, as a runtime passes it on stdin: nothing
 * in it about address families (the bridge says them).
 */
export function conf(cniVersion: string, more: Record<string, unknown> = {}, name = "hg"): string {
  return JSON.stringify({ cniVersion, name, type: "hg", bridge: "cni0", ...more });
}

/** A test's namespaces: a host with cni0 and containers, all named `PREFIX-...`. */
export class Host {
  readonly name: string;
  readonly runDir: string;
  /** Processes the test started, killed at the end. */
  readonly children: ChildProcess[] = [];
  /** Bind mounts the test made, unmounted at the end. */
  readonly mounts: string[] = [];

  constructor(readonly prefix: string, readonly tmp: string) {
    this.name = `${prefix}-h`;
    this.runDir = join(tmp, "run");
  }

  /** A fresh container namespace `PREFIX-SUFFIX` as a runtime makes one; its path. */
  container(suffix: string): string {
    const name = `${this.prefix}-${suffix}`;
    must("ip", ["netns", "add", name]);
    return `/run/netns/${name}`;
  }

  /** Runs the plugin in the host namespace with exactly the CNI variables in `env`. */
  cni(env: Env, stdin: string): Run {
    const [cmd, ...args] = this.argv();
    const r = spawnSync(cmd, args, {
      input: stdin,
      encoding: "utf8",
      env: this.env(env),
      cwd: "/",
    });
    return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** {@link cni}, started now and collected later (concurrent runtimes). */
  cniAsync(env: Env, stdin: string): Promise<Run> {
    const [cmd, ...args] = this.argv();
    return collect(spawn(cmd, args, { env: this.env(env), cwd: "/" }), stdin);
  }

  /** hg's command line in the host namespace (same lock directory). */
  hg(args: readonly string[]): Promise<Run> {
    const [cmd, ...rest] = this.argv();
    return collect(spawn(cmd, [...rest, ...args], { env: this.env({}) }), "");
  }

  private argv(): string[] {
    return [NSENTER, `--net=/run/netns/${this.name}`, "--", ...hgArgv()];
  }

  private env(cniEnv: Env): Env {
    const base: Env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith("CNI_")) base[k] = v;
    }
    return { ...base, HG_RUN_DIR: this.runDir, ...cniEnv };
  }
}

function collect(child: ChildProcess, stdin: string): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  child.stderr!.on("data", (d) => stderr += d);
  child.stdin!.end(stdin);
  return new Promise((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }))
  );
}

/** Runs a command that must succeed. */
export function must(cmd: string, args: readonly string[]): Run {
  const r = run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r;
}

/**
 * Builds a host namespace `TAG…-h` whose cni0 has `addresses` (IPv6 ones without DAD; none: no
 * bridge at all), runs `body`, and always removes everything the test made.
 */
export async function withCniHost(
  tag: string,
  addresses: readonly string[] | false,
  body: (h: Host) => void | Promise<void>,
): Promise<void> {
  const prefix = tag + Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, "a");
  const tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const h = new Host(prefix, tmp);
  let failure: unknown;
  try {
    must("ip", ["netns", "add", h.name]);
    const lines = ["link set lo up"];
    if (addresses !== false) {
      lines.push(
        "link add cni0 type bridge",
        ...addresses.map((a) => `addr add ${a} dev cni0${a.includes(":") ? " nodad" : ""}`),
        "link set cni0 up",
      );
    }
    const batch = spawnSync("ip", ["-n", h.name, "-batch", "-"], {
      input: lines.join("\n") + "\n",
      encoding: "utf8",
    });
    assert.equal(batch.status, 0, batch.stderr);
    await body(h);
  } catch (e) {
    failure = e;
  }
  for (const child of h.children) child.kill("SIGKILL");
  for (const mount of h.mounts) run("umount", [mount]);
  for (const ns of netnsList().filter((n) => n.startsWith(`${prefix}-`))) {
    run("ip", ["netns", "del", ns]);
  }
  rmSync(tmp, { recursive: true, force: true });
  const left = netnsList().filter((n) => n.startsWith(`${prefix}-`));
  if (failure) throw failure;
  if (left.length > 0) throw new Error(`left behind: ${left.join(" ")}`);
}

/** A successful CHECK, DEL, STATUS or GC: exit 0 and nothing on stdout. */
export function quiet(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} should succeed\n${show(r)}`);
  assert.equal(r.stdout.trim(), "", `${what} prints nothing on success\n${show(r)}`);
}
