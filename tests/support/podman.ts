/**
 * Running podman for one lab host in end-to-end tests, so that a real container runtime calls
 * the CNI plugins (hg's or the reference ones) inside that host's network namespace.
 *
 * Each host gets a holder process in a private mount namespace (`unshare --mount --propagation
 * private`) with its own `/run/netns` (a fresh tmpfs: podman's `netns-UUID` namespaces stay apart
 * from other labs' and tests'; the lab host's own namespaces are bound into it, so hg there sees
 * its `hg netns add` containers as on a real host), `/var/lib/cni` (libcni's cache, host-local's leases), `/run/runc`
 * (runc's state) and `/dev/shm` (podman's lock segment), plus its own podman configuration,
 * storage and a busybox root filesystem in a scratch directory. Podman and everything it starts
 * (conmon, the plugins) run there with `nsenter --mount=/proc/PID/ns/mnt --net=/run/netns/HOST`.
 * See /work/shared/notes/podman-cni.md for why each setting is what it is.
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netnsList, type Run, run } from "../e2e/harness.ts";

/** Where the CNI configuration and the extra plugins come from. */
export interface PodmanHostOptions {
  /** Searched for plugin executables before `/usr/lib/cni` (`cni_plugin_dirs`). */
  readonly pluginDir: string;
  /** Holds the `.conflist` files; a network's name is its conflist's `name`. */
  readonly confDir: string;
  /**
   * Named network namespaces (of the root `/run/netns`) that stay visible in the podman host's
   * `/run/netns`; by default the lab host and its containers (`HOST` and `HOST-*`).
   */
  readonly netns?: readonly string[];
}

/** What `podman inspect` says about one container, the parts the tests use. */
export interface ContainerInfo {
  /** The full container id (64 hex digits), what the runtime passes as `CNI_CONTAINERID`. */
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  /** The container's first process, as seen from the root PID namespace (0 when stopped). */
  readonly pid: number;
  /**
   * The container's network namespace path (`SandboxKey`, `/run/netns/netns-UUID`), what the
   * runtime passes as `CNI_NETNS`; it exists only inside the host's mount namespace.
   */
  readonly netns: string;
  /** Each network's address as CIDR, e.g. `{ hg: "1.1.1.3/24" }`. */
  readonly addresses: Readonly<Record<string, string>>;
  /** Each network's IPv6 address as CIDR (`GlobalIPv6Address`), e.g. `{ hg: "fd00:1:0:1::3/64" }`. */
  readonly ipv6Addresses: Readonly<Record<string, string>>;
}

/** Podman for one lab host; see {@link startPodmanHost}. */
export interface PodmanHost {
  /** The lab host (network namespace name) whose plugins run for these containers. */
  readonly labHost: string;
  /** The busybox root filesystem given to `podman run --rootfs`. */
  readonly rootfs: string;
  /** Runs `podman ARGS` for this host (several may run at once). */
  podman(args: readonly string[]): Promise<Run>;
  /**
   * `podman run -d --name NAME --network NETWORK --rootfs ROOTFS ARGV` (by default
   * `/bin/sleep 600`); resolves with the container id, rejects with podman's error.
   */
  run(name: string, network: string, argv?: readonly string[]): Promise<string>;
  /** `podman rm -f -t 0 NAME` (no 10 s stop timeout: busybox sleep as PID 1 ignores SIGTERM). */
  rm(name: string): Promise<void>;
  /** `podman exec NAME ARGV`. */
  exec(name: string, argv: readonly string[]): Run;
  /** `podman inspect NAME`, the parts in {@link ContainerInfo}; throws when there is no such container. */
  inspect(name: string): ContainerInfo;
  /**
   * Runs any program inside this host's mount namespace and the lab host's network namespace
   * (hg itself, or `nsenter --net=NETNS` into a container), where podman's netns paths exist.
   */
  enter(argv: readonly string[], env?: Record<string, string>): Run;
  /**
   * Removes every container (`podman rm -a -f -t 0`, which calls the plugins' DEL), kills what
   * is left if that fails, ends the mount namespace and deletes the scratch directory. Throws
   * after cleaning up when podman could not remove the containers.
   */
  close(): Promise<void>;
}

/** The mount namespace of process `pid` ("" when it is gone). */
function nsOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return "";
  }
}

/** The cgroup paths of process `pid` ("" when it is gone). */
function cgroupOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return "";
  }
}

/** `run`, but without blocking: several podman commands can run at the same time. */
function runAsync(
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.on("error", (e) => resolve({ code: 127, stdout, stderr: stderr + String(e) }));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"];

/**
 * A root filesystem of busybox-static alone (no image, no registry): every applet as a symlink
 * in /bin, and the /etc files runc and podman look up for user root.
 */
function makeRootfs(dir: string): void {
  const busybox = BUSYBOX.find((p) => existsSync(p));
  if (!busybox) {
    throw new Error(`no busybox in ${BUSYBOX.join(" or ")} (apt-get install busybox-static)`);
  }
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "etc"), { recursive: true });
  copyFileSync(busybox, join(dir, "bin", "busybox"));
  const list = spawnSync(busybox, ["--list"], { encoding: "utf8" });
  // Relative links: `busybox --install -s` would point them at this machine's busybox path.
  for (const applet of list.stdout.split("\n").filter((a) => a && a !== "busybox")) {
    symlinkSync("busybox", join(dir, "bin", applet));
  }
  writeFileSync(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(dir, "etc", "group"), "root:x:0:\n");
}

/** TOML string literal (paths with quotes or backslashes stay one string). */
const toml = (s: string): string => JSON.stringify(s);

/** containers.conf and storage.conf for one host, everything podman writes inside `scratch`. */
function writeConfig(scratch: string, opts: PodmanHostOptions): Record<string, string> {
  for (const d of ["tmp", "volumes", "graph", "run"]) mkdirSync(join(scratch, d));
  const containersConf = join(scratch, "containers.conf");
  const storageConf = join(scratch, "storage.conf");
  writeFileSync(
    containersConf,
    [
      "[containers]",
      'cgroups = "enabled"',
      // No CAP_SYS_RESOURCE here: podman's default ulimits fail with "setrlimit".
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      "[network]",
      'network_backend = "cni"',
      `cni_plugin_dirs = [${toml(opts.pluginDir)}, "/usr/lib/cni"]`,
      `network_config_dir = ${toml(opts.confDir)}`,
      "[engine]",
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(join(scratch, "tmp", "events.log"))}`,
      // crun fails here ("cgroups in hybrid mode not supported").
      'runtime = "runc"',
      `tmp_dir = ${toml(join(scratch, "tmp"))}`,
      `volume_path = ${toml(join(scratch, "volumes"))}`,
      // No static_dir: conmon's exit command passes only --root, so `podman container cleanup`
      // would look for its database in GRAPHROOT/libpod, find no container and never call DEL.
      "",
    ].join("\n"),
  );
  writeFileSync(
    storageConf,
    [
      "[storage]",
      'driver = "vfs"',
      `graphroot = ${toml(join(scratch, "graph"))}`,
      `runroot = ${toml(join(scratch, "run"))}`,
      "",
    ].join("\n"),
  );
  return { CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
}

/**
 * Run inside the new mount namespace before it is used; `$1` is the scratch cni dir, `$2` an
 * empty scratch dir, then the netns names to keep. The root `/run/netns` mounts are dropped (this
 * namespace must not keep other labs' namespaces alive after their `hg lab down`), and a tmpfs
 * holding binds of the kept ones (alive until close()) is moved into its place.
 */
const HOLDER_SETUP = `set -e
cni="$1" netns="$2"
shift 2
mount -t tmpfs -o mode=0755 hg-podman-netns "$netns"
for n in "$@"; do
  : > "$netns/$n"
  mount --bind "/run/netns/$n" "$netns/$n"
done
umount -R /run/netns 2>/dev/null || true
mount --move "$netns" /run/netns
mount --bind "$cni" /var/lib/cni
mount -t tmpfs -o mode=0700 hg-podman-runc /run/runc
mount -t tmpfs -o mode=1777 hg-podman-shm /dev/shm
echo ready
exec cat`;

/**
 * Starts podman for `labHost` (a lab host's network namespace name): a private mount namespace,
 * configuration and storage in a fresh scratch directory. Call `close()` in a `finally`.
 *
 * @example
 * ```ts
 * declare const lab: string; // the lab's name prefix: its hosts are `${lab}-h1`, ...
 * declare const pluginDir: string; // hg's CNI plugin and the reference plugins
 * declare const confDir: string; // the network's .conflist
 * const h1 = await startPodmanHost(`${lab}-h1`, { pluginDir, confDir });
 * try {
 *   await h1.run("a1", "hg");
 *   console.log(h1.inspect("a1").addresses.hg); // 1.1.1.3/24
 * } finally {
 *   await h1.close();
 * }
 * ```
 */
export async function startPodmanHost(
  labHost: string,
  opts: PodmanHostOptions,
): Promise<PodmanHost> {
  // The mount points must exist in the shared filesystem; podman and runc create these same
  // standard directories themselves on first use. They stay (empty): removing one would detach
  // the bind mount of a podman host of a parallel test run.
  mkdirSync("/var/lib/cni", { recursive: true });
  mkdirSync("/run/runc", { recursive: true, mode: 0o700 });
  const scratch = mkdtempSync(join(tmpdir(), "hg-podman-"));
  const rootfs = join(scratch, "rootfs");
  let env: Record<string, string>;
  try {
    makeRootfs(rootfs);
    env = writeConfig(scratch, opts);
    mkdirSync(join(scratch, "cni"));
    mkdirSync(join(scratch, "netns"));
  } catch (e) {
    rmSync(scratch, { recursive: true, force: true });
    throw e;
  }

  // The holder waits on its stdin: it ends with close(), and also when this test process dies.
  const holder = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      HOLDER_SETUP,
      "sh",
      join(scratch, "cni"),
      join(scratch, "netns"),
      ...(opts.netns ?? netnsList().filter((n) => n === labHost || n.startsWith(`${labHost}-`))),
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((r) => holder.on("close", () => r()));
  let holderErr = "";
  holder.stderr.on("data", (d) => holderErr += d);
  const ready = await new Promise<boolean>((resolve) => {
    holder.stdout.on("data", (d) => {
      if (String(d).includes("ready")) resolve(true);
    });
    holder.on("close", () => resolve(false));
  });
  if (!ready || !holder.pid) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`podman host ${labHost}: mount namespace setup failed: ${holderErr}`);
  }
  const pid = holder.pid;
  const enterArgv = (argv: readonly string[]) => [
    `--mount=/proc/${pid}/ns/mnt`,
    `--net=/run/netns/${labHost}`,
    "--",
    ...argv,
  ];

  const podman = (args: readonly string[]) =>
    runAsync("nsenter", enterArgv(["podman", ...args]), env);
  const podmanSync = (args: readonly string[]) =>
    run("nsenter", enterArgv(["podman", ...args]), env);

  const inspect = (name: string): ContainerInfo => {
    const r = podmanSync(["inspect", "--type", "container", name]);
    if (r.code !== 0) throw new Error(`podman inspect ${name} (${labHost}): ${r.stderr}`);
    const [c] = JSON.parse(r.stdout);
    const addresses: Record<string, string> = {};
    const ipv6Addresses: Record<string, string> = {};
    for (const [net, s] of Object.entries(c.NetworkSettings?.Networks ?? {})) {
      const { IPAddress, IPPrefixLen, GlobalIPv6Address, GlobalIPv6PrefixLen } = s as {
        IPAddress: string;
        IPPrefixLen: number;
        GlobalIPv6Address?: string;
        GlobalIPv6PrefixLen?: number;
      };
      if (IPAddress) addresses[net] = `${IPAddress}/${IPPrefixLen}`;
      if (GlobalIPv6Address) ipv6Addresses[net] = `${GlobalIPv6Address}/${GlobalIPv6PrefixLen}`;
    }
    return {
      id: c.Id,
      name: c.Name,
      running: c.State.Running,
      pid: c.State.Pid,
      netns: c.NetworkSettings.SandboxKey,
      addresses,
      ipv6Addresses,
    };
  };

  return {
    labHost,
    rootfs,
    podman,
    async run(name, network, argv = ["/bin/sleep", "600"]) {
      const r = await podman([
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--rootfs",
        rootfs,
        ...argv,
      ]);
      if (r.code !== 0) {
        throw new Error(`podman run ${name} on ${labHost} (${r.code}): ${r.stderr}`);
      }
      return r.stdout.trim();
    },
    async rm(name) {
      const r = await podman(["rm", "-f", "-t", "0", name]);
      if (r.code !== 0) throw new Error(`podman rm ${name} on ${labHost} (${r.code}): ${r.stderr}`);
    },
    exec: (name, argv) => podmanSync(["exec", name, ...argv]),
    inspect,
    enter: (argv, extraEnv = {}) => run("nsenter", enterArgv(argv), extraEnv),
    async close() {
      let failure = "";
      // Ids and pids first: if podman cannot remove a container, its processes are ended by id.
      const ids = podmanSync(["ps", "-a", "-q", "--no-trunc"]).stdout.split("\n").filter(Boolean);
      const owned: { pid: number; ours: () => boolean }[] = [];
      const holderNs = nsOf(pid);
      for (const id of ids) {
        const r = podmanSync(["inspect", "--type", "container", id]);
        if (r.code !== 0) continue;
        const [c] = JSON.parse(r.stdout);
        const [p, conmon] = [c.State.Pid as number, c.State.ConmonPid as number];
        // A pid is killed only while it is still this container's (the id in its cgroup) or
        // this host's conmon (in the holder's mount namespace), never a reused pid.
        if (p > 0) owned.push({ pid: p, ours: () => cgroupOf(p).includes(id) });
        if (conmon > 0) owned.push({ pid: conmon, ours: () => nsOf(conmon) === holderNs });
      }
      if (ids.length > 0) {
        const rm = await podman(["rm", "-a", "-f", "-t", "0"]);
        if (rm.code !== 0) {
          failure = `podman rm -a on ${labHost} (${rm.code}): ${rm.stderr}`;
          for (const o of owned.filter((o) => o.ours())) process.kill(o.pid, "SIGKILL");
        }
      }
      holder.stdin.end();
      const timer = setTimeout(() => holder.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(scratch, { recursive: true, force: true });
      if (failure) throw new Error(failure);
    },
  };
}

/**
 * Starts podman for each lab host, runs `body`, and always closes them all (also when `body`
 * throws; its error wins over a close error).
 */
export async function withPodman(
  labHosts: readonly string[],
  opts: PodmanHostOptions,
  body: (hosts: PodmanHost[]) => void | Promise<void>,
): Promise<void> {
  const hosts: PodmanHost[] = [];
  let failure: unknown;
  try {
    for (const h of labHosts) hosts.push(await startPodmanHost(h, opts));
    await body(hosts);
  } catch (e) {
    failure = e;
  }
  const closed = await Promise.allSettled(hosts.map((h) => h.close()));
  if (failure) throw failure;
  const bad = closed.find((c) => c.status === "rejected");
  if (bad) throw (bad as PromiseRejectedResult).reason;
}
