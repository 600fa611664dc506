/**
 * `hg cni install`: the plugin executable in the runtime's plugin directory and a conflist in
 * its config directory, planned from what is there (so a second run writes nothing) and applied
 * by atomic replacement, so a runtime never runs half a file.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { randomHex } from "../random_hex.ts";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { CniVersion } from "./spec.ts";

/** What `hg cni install` is asked for. */
export interface InstallRequest {
  readonly binDir: string;
  readonly confDir: string;
  /** The network's name: the conflist's `name` and its file `10-NAME.conflist`. */
  readonly name: string;
  readonly bridge: string;
  readonly cniVersion: CniVersion;
  /** The plugin executable's content: hg itself, or a wrapper that starts it from source. */
  readonly plugin: Uint8Array;
  /** Whether a `portmap` plugin is there for the runtime to chain after hg. */
  readonly portmap: boolean;
}

/** One file to write. */
export interface FileWrite {
  readonly path: string;
  readonly content: Uint8Array;
  readonly mode: number;
}

/** Directories runtimes look in for plugins, besides the one hg installs into. */
export const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"] as const;

/**
 * The conflist for hg's network: hg, then `portmap` (for `-p` port mappings) when it is there.
 *
 * @example
 * ```ts
 * conflist({ name: "hg", bridge: "cni0", cniVersion: "1.0.0", portmap: false }).plugins; // [{ type: "hg", bridge: "cni0" }]
 * ```
 */
export function conflist(
  request: Pick<InstallRequest, "name" | "bridge" | "cniVersion" | "portmap">,
) {
  return {
    cniVersion: request.cniVersion,
    name: request.name,
    plugins: [
      { type: "hg", bridge: request.bridge },
      ...(request.portmap ? [{ type: "portmap", capabilities: { portMappings: true } }] : []),
    ],
  };
}

/** The conflist's path. */
export function conflistPath(confDir: string, name: string): string {
  return join(confDir, `10-${name}.conflist`);
}

/**
 * The files to write: those missing or different. `current` reads a file (undefined: missing).
 *
 * @example
 * ```ts
 * declare const request: InstallRequest;
 * await planInstall(request, async () => undefined); // both files
 * ```
 */
export async function planInstall(
  request: InstallRequest,
  current: (path: string) => Promise<Uint8Array | undefined>,
): Promise<FileWrite[]> {
  const wanted: FileWrite[] = [
    { path: join(request.binDir, "hg"), content: request.plugin, mode: 0o755 },
    {
      path: conflistPath(request.confDir, request.name),
      content: new TextEncoder().encode(JSON.stringify(conflist(request), null, 2) + "\n"),
      mode: 0o644,
    },
  ];
  const writes: FileWrite[] = [];
  for (const file of wanted) {
    const have = await current(file.path);
    if (!have || Buffer.compare(Buffer.from(have), Buffer.from(file.content)) !== 0) {
      writes.push(file);
    }
  }
  return writes;
}

/** Reads a file, or undefined when it is not there. */
export function readIfThere(path: string): Promise<Uint8Array | undefined> {
  return readFile(path).catch(() => undefined);
}

/** Whether a portmap plugin is in `binDir` or a directory runtimes search. */
export function hasPortmap(binDir: string): boolean {
  return [binDir, ...PLUGIN_DIRS].some((dir) => existsSync(join(dir, "portmap")));
}

/**
 * Writes the files, each through a temporary file beside it and a rename.
 *
 * @example
 * ```ts
 * declare const request: InstallRequest;
 * await applyInstall(await planInstall(request, readIfThere));
 * ```
 */
export async function applyInstall(writes: readonly FileWrite[]): Promise<void> {
  for (const file of writes) {
    await mkdir(dirname(file.path), { recursive: true });
    const temp = join(dirname(file.path), `.hg-install-${randomHex(4)}`);
    await writeFile(temp, file.content, { mode: file.mode });
    await chmod(temp, file.mode);
    await rename(temp, file.path);
  }
}

/**
 * The plugin executable for `self` (the argv that starts this hg): the file itself when it is
 * one executable, else a shell wrapper that starts the source tree with its runtime.
 *
 * @example
 * ```ts
 * await pluginContent(["/usr/local/bin/hg"]); // the bytes of /usr/local/bin/hg
 * ```
 */
export async function pluginContent(self: readonly string[]): Promise<Uint8Array> {
  if (self.length === 1) return await readFile(self[0]);
  const quoted = self.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  return new TextEncoder().encode(
    `#!/bin/sh\n# hg from source, as a CNI plugin\nexec ${quoted} "$@"\n`,
  );
}
