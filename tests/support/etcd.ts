/**
 * Real, throwaway etcd clusters for tests and benchmarks: members on 127.0.0.1 ports the kernel
 * picked, data in a fresh temp dir, fast elections. Every process and dir is removed by `stop()`,
 * and on process exit for whatever a failed test left behind.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tlsFetch } from "../../lib/store/etcd/tls_fetch.ts";

/** Server and client certificate files for an https cluster (paths) and their PEM texts. */
export interface EtcdTls {
  /** The CA that signed both certificates. */
  readonly caFile: string;
  /** The server certificate (SAN IP:127.0.0.1) and its key. */
  readonly certFile: string;
  readonly keyFile: string;
  /** A client certificate the cluster accepts, as PEM texts (for the health check). */
  readonly client: { readonly ca: string; readonly cert: string; readonly key: string };
}

/** Options for {@link startEtcd}. */
export interface StartEtcdOptions {
  readonly members?: 1 | 3;
  /** Serve clients over https with client-certificate auth. */
  readonly tls?: EtcdTls;
  /** More etcd flags for every member, such as `--auth-token-ttl=1`. */
  readonly extraArgs?: readonly string[];
}

/** A running test cluster. */
export interface EtcdCluster {
  /** One client URL per member, in member order. */
  readonly endpoints: string[];
  /** The temp dir holding every member's data. */
  readonly dataDir: string;
  /** Kills member `index` (SIGKILL, like a crash) and waits until it is gone. */
  kill(index: number): Promise<void>;
  /** Stops every member and removes the data dir. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Ports the kernel hands out for port 0, released again (for etcd to bind, or as closed ports).
 *
 * @example
 * ```ts
 * const [port] = await freePorts(1); // nothing listens there now
 * ```
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Signals a child by pid: Deno's `ChildProcess.kill` ignores every call after the first. */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(child.pid, sig);
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Only synchronous work runs at exit: kill what is still running and remove the dirs.
  const cleanUp = () => {
    for (const child of live) signal(child, "SIGKILL");
    live.clear();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    dirs.clear();
  };
  process.on("exit", cleanUp);
  // Ctrl-C on a test run skips "exit" handlers: clean up, then die of the signal as before.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      cleanUp();
      process.kill(process.pid, sig);
    });
  }
}

/**
 * Starts a 1- or 3-member etcd cluster and waits until every member reports healthy.
 *
 * @example
 * ```ts
 * const etcd = await startEtcd({ members: 3 });
 * try { console.log(etcd.endpoints); } finally { await etcd.stop(); }
 * ```
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  installExitHook();
  // A port found free can be taken by someone else before etcd binds it: try fresh ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e))) throw e;
    }
  }
}

async function startOnce(options: StartEtcdOptions): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  // A single member elects itself; three need a little slack to agree under a loaded machine.
  const [heartbeat, election] = count === 1 ? [10, 100] : [50, 500];
  const dataDir = mkdtempSync(join(tmpdir(), "hg-etcd-"));
  dirs.add(dataDir);
  const ports = await freePorts(2 * count);
  const scheme = options.tls ? "https" : "http";
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  const endpoints = names.map((_, i) => `${scheme}://127.0.0.1:${ports[2 * i]}`);
  const peers = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const cluster = names.map((name, i) => `${name}=${peers[i]}`).join(",");
  const members: (ChildProcess | undefined)[] = [];
  const logs: string[] = names.map(() => "");
  for (const [i, name] of names.entries()) {
    const args = [
      `--name=${name}`,
      `--data-dir=${join(dataDir, name)}`,
      `--listen-client-urls=${endpoints[i]}`,
      `--advertise-client-urls=${endpoints[i]}`,
      `--listen-peer-urls=${peers[i]}`,
      `--initial-advertise-peer-urls=${peers[i]}`,
      `--initial-cluster=${cluster}`,
      `--initial-cluster-token=hg-test-${ports[0]}`,
      `--heartbeat-interval=${heartbeat}`,
      `--election-timeout=${election}`,
      ...(options.tls
        ? [
          `--cert-file=${options.tls.certFile}`,
          `--key-file=${options.tls.keyFile}`,
          `--trusted-ca-file=${options.tls.caFile}`,
          "--client-cert-auth",
        ]
        : []),
      ...(options.extraArgs ?? []),
    ];
    const child = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (chunk: Uint8Array) => {
      logs[i] = (logs[i] + new TextDecoder().decode(chunk)).slice(-4000);
    });
    child.on("error", () => {}); // reported by the health wait below
    live.add(child);
    child.on("exit", () => live.delete(child));
    members.push(child);
  }

  const killMember = async (index: number, sig: NodeJS.Signals) => {
    const child = members[index];
    if (!child) return;
    members[index] = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      signal(child, sig);
      // Members stopped together spend seconds trying to hand leadership to each other; the
      // data is thrown away, so a member still running after a short grace is killed.
      const timer = setTimeout(() => signal(child, "SIGKILL"), 1000);
      await exited;
      clearTimeout(timer);
    }
    child.stderr?.destroy();
    live.delete(child);
  };
  const stop = async () => {
    await Promise.all(members.map((_, i) => killMember(i, "SIGTERM")));
    rmSync(dataDir, { recursive: true, force: true });
    dirs.delete(dataDir);
  };

  try {
    await Promise.all(
      endpoints.map((endpoint, i) =>
        waitHealthy(endpoint, members[i]!, options.tls, () => logs[i])
      ),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    endpoints,
    dataDir,
    kill: (index) => killMember(index, "SIGKILL"),
    stop,
  };
}

async function waitHealthy(
  endpoint: string,
  child: ChildProcess,
  tls: EtcdTls | undefined,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`etcd at ${endpoint} exited while starting: ${lastLines(log())}`);
    }
    try {
      const init = { signal: AbortSignal.timeout(1000) };
      const response = tls
        ? await tlsFetch(`${endpoint}/health`, init, tls.client)
        : await fetch(`${endpoint}/health`, init);
      const body = await response.text();
      if (response.ok && /"health":\s*"true"/.test(body)) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd at ${endpoint} was not healthy within 15 s: ${lastLines(log())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function lastLines(log: string): string {
  return log.trim().split("\n").slice(-3).join(" | ");
}

/**
 * Runs `etcdctl` (API v3) against the cluster; resolves with its stdout, rejects with its stderr.
 *
 * @example
 * ```ts
 * declare const etcd: EtcdCluster; // from startEtcd
 * await etcdctl(etcd.endpoints, ["put", "/a", "1"]);
 * ```
 */
export function etcdctl(
  endpoints: readonly string[],
  args: readonly string[],
  extra: readonly string[] = [],
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      [`--endpoints=${endpoints.join(",")}`, "--command-timeout=5s", ...extra, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 10_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`etcdctl ${args.join(" ")}: ${String(stderr).trim() || error.message}`));
        } else resolve(String(stdout));
      },
    );
  });
}

/**
 * Makes a CA, a server certificate for 127.0.0.1 and a client certificate with `openssl` in a
 * fresh temp dir; undefined when openssl is not installed. `remove()` deletes the dir.
 *
 * @example
 * ```ts
 * const tls = await makeCertificates();
 * if (tls) {
 *   const etcd = await startEtcd({ tls });
 *   try {
 *     console.log(etcd.endpoints); // ["https://127.0.0.1:PORT"]
 *   } finally {
 *     await etcd.stop();
 *     tls.remove();
 *   }
 * }
 * ```
 */
export async function makeCertificates(): Promise<
  (EtcdTls & { readonly dir: string; remove(): void }) | undefined
> {
  const dir = mkdtempSync(join(tmpdir(), "hg-etcd-tls-"));
  dirs.add(dir);
  installExitHook();
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      execFile("openssl", args, { cwd: dir, timeout: 20_000 }, (error, _stdout, stderr) => {
        if (error) reject(Object.assign(error, { stderr: String(stderr) }));
        else resolve();
      });
    });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=hg test CA",
    ]);
  } catch (e) {
    remove();
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw e;
  }
  // etcd 3.4's gateway dials its own gRPC server with the server certificate, so under
  // --client-cert-auth that certificate must be valid for client auth too.
  const leaf = async (name: string, subject: string, extensions: string) => {
    await openssl([
      "req",
      ...ec,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      subject,
    ]);
    writeFileSync(file(`${name}.ext`), extensions);
    await openssl([
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-out",
      file(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      file(`${name}.ext`),
    ]);
  };
  await leaf(
    "server",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await leaf("client", "/CN=root", "extendedKeyUsage=clientAuth\n");
  const read = (name: string) => readFileSync(file(name), "utf8");
  return {
    dir,
    remove,
    caFile: file("ca.pem"),
    certFile: file("server.pem"),
    keyFile: file("server.key"),
    client: { ca: read("ca.pem"), cert: read("client.pem"), key: read("client.key") },
  };
}
