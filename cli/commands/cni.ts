import { Command, Option } from "@commander-js/extra-typings";
import {
  applyInstall,
  conflist,
  conflistPath,
  hasPortmap,
  planInstall,
  pluginContent,
  readIfThere,
} from "../../lib/cni/install.ts";
import { networkNameError } from "../../lib/cni/request.ts";
import { type CniVersion, SUPPORTED_VERSIONS } from "../../lib/cni/spec.ts";
import { InputError } from "../../lib/errors.ts";
import { interfaceValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { selfCommand } from "../self.ts";

/** A CNI network name, as the conflist's `name`. */
function networkName(text: string): string {
  const error = networkNameError(text);
  if (error) throw new InputError(error);
  return text;
}

/** A directory given as an absolute path. */
function directory(what: string): (text: string) => string {
  return (text) => {
    if (!text.startsWith("/")) {
      throw new InputError(`${what} ${JSON.stringify(text)} is not an absolute path`);
    }
    return text;
  };
}

const versionOption = () =>
  new Option("--cni-version <version>", "the conflist's cniVersion (STATUS and GC need 1.1.0)")
    .choices(SUPPORTED_VERSIONS).default("1.0.0" as CniVersion);

/** `hg cni install|conflist`: hg as the CNI plugin of container runtimes. */
export function cniCommand(output: () => Output) {
  const cni = new Command("cni").description(
    "hg as a CNI plugin: put runtime containers (podman, containerd, Kubernetes) on hg's bridge",
  );
  cni.command("install")
    .description("install hg as the CNI plugin and write its conflist (idempotent)")
    .option(
      "--bin-dir <dir>",
      "the runtime's CNI plugin directory",
      directory("--bin-dir"),
      "/opt/cni/bin",
    )
    .option(
      "--conf-dir <dir>",
      "the runtime's CNI config directory",
      directory("--conf-dir"),
      "/etc/cni/net.d",
    )
    .option("--name <name>", "the network's name (podman run --network NAME)", networkName, "hg")
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .addOption(versionOption())
    .action(async (opts) => {
      const out = output();
      const { dryRun } = out.options;
      if (!dryRun) requireRoot("to install into the runtime's CNI directories");
      const request = {
        binDir: opts.binDir,
        confDir: opts.confDir,
        name: opts.name,
        bridge: opts.bridge,
        cniVersion: opts.cniVersion as CniVersion,
        plugin: await pluginContent(selfCommand()),
        portmap: hasPortmap(opts.binDir),
      };
      const writes = await planInstall(request, readIfThere);
      if (!dryRun) await applyInstall(writes);
      const paths = writes.map((w) => w.path);
      out.json({
        changed: !dryRun && writes.length > 0,
        dryRun,
        writes: paths,
        plugin: `${opts.binDir}/hg`,
        conflist: conflistPath(opts.confDir, opts.name),
      });
      for (const path of paths) out.line(`${dryRun ? "would write" : "wrote"} ${path}`);
      if (writes.length === 0) {
        out.note(`nothing to do: hg is the CNI plugin of network ${opts.name}`);
      }
    });
  cni.command("conflist")
    .description("print the conflist hg installs")
    .option("--name <name>", "the network's name", networkName, "hg")
    .option("--bridge <name>", "bridge name", interfaceValue, "cni0")
    .option("--bin-dir <dir>", "where to look for portmap", directory("--bin-dir"), "/opt/cni/bin")
    .addOption(versionOption())
    .action((opts) => {
      const doc = conflist({
        name: opts.name,
        bridge: opts.bridge,
        cniVersion: opts.cniVersion as CniVersion,
        portmap: hasPortmap(opts.binDir),
      });
      // The conflist is the output in both modes: it is what a runtime reads.
      process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
    });
  return cni;
}
