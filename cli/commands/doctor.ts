import { Command } from "@commander-js/extra-typings";
import { readFile } from "node:fs/promises";
import { HgError, InputError, UndecidedError } from "../../lib/errors.ts";
import { takeSnapshot } from "../../lib/doctor/collect.ts";
import { diagnose, type Diagnosis } from "../../lib/doctor/diagnose.ts";
import { diagnoseLive } from "../../lib/doctor/live.ts";
import { netnsExists } from "../../lib/containers/observe.ts";
import { renderDiagnosis } from "../../lib/doctor/render.ts";
import { parseSnapshot, type SnapshotDocument } from "../../lib/doctor/snapshot.ts";
import type { SubnetStore } from "../../lib/store/store.ts";
import { addressValue, containerRefValue, interfaceValue, nameValue, nodeValue } from "../flags.ts";
import type { Output } from "../output.ts";
import { requireRoot } from "../root.ts";
import { openStoreFrom, storeOptions } from "../store_options.ts";
import { VERSION } from "../version.ts";

const ROOT_TO_READ = "to read the firewall and the containers' namespaces";

/** Doctor found a problem of severity error: exit 1, the verdict on stderr. */
class ProblemsFound extends HgError {}

/** Runs `body` with the registry when `--store` (or HG_STORE) names one, and closes it. */
async function withStoreFrom<T>(
  opts: Parameters<typeof openStoreFrom>[0],
  body: (store: SubnetStore | undefined) => Promise<T>,
): Promise<T> {
  const store = opts.store === undefined ? undefined : openStoreFrom(opts);
  try {
    return await body(store);
  } finally {
    await store?.close();
  }
}

/** Snapshot of this host, with the registry when one is named. */
function snapshotOfThisHost(
  opts: Parameters<typeof openStoreFrom>[0] & { bridge: string; node?: string },
): Promise<SnapshotDocument> {
  return withStoreFrom(opts, (store) =>
    takeSnapshot({
      bridge: opts.bridge,
      node: opts.node ?? process.env.HG_NODE,
      hgVersion: VERSION,
      store,
    }));
}

async function readSnapshotFile(path: string): Promise<unknown> {
  const text = await readFile(path === "-" ? "/dev/stdin" : path, "utf8").catch((e: Error) => {
    throw new InputError(`cannot read the snapshot ${path}: ${e.message}`);
  });
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(`${path} is not JSON: make it with "hg snapshot > ${path}"`);
  }
}

const bridgeOption = ["--bridge <name>", "bridge name", interfaceValue, "cni0"] as const;
const nodeOption = [
  "--node <name>",
  "this host's node name in the registry (default: HG_NODE; else the bridge's subnet says)",
  nodeValue,
] as const;

/** `hg doctor`: why traffic between containers does not flow, from the host's own state. */
export function doctorCommand(output: () => Output) {
  return storeOptions(new Command("doctor"))
    .description("explain why traffic between containers fails, with the commands that fix it")
    .option("--to <ip>", "follow one packet to this address", addressValue)
    .option(
      "--from <container>",
      "the container the packet starts in: name, runtime container id (or prefix) or address " +
        "(default: the first)",
      containerRefValue,
    )
    .option(
      "--snapshot <file>",
      "diagnose a snapshot (hg snapshot) instead of this host; - for stdin",
    )
    .option(
      "--peer-netns <netns>",
      "the destination's host is this network namespace on this machine (a lab): watch it too",
      nameValue,
    )
    .option("--no-probe", "do not send a probe: the static diagnosis only (also with --dry-run)")
    .option(...bridgeOption)
    .option(...nodeOption)
    .action(async (opts, cmd) => {
      const out = output();
      if (opts.snapshot !== undefined && cmd.getOptionValueSource("store") === "cli") {
        throw new InputError(
          "--snapshot and --store do not go together: the snapshot holds the registry it saw",
        );
      }
      if (opts.snapshot !== undefined && opts.peerNetns !== undefined) {
        throw new InputError(
          "--snapshot and --peer-netns do not go together: a snapshot is static",
        );
      }
      if (opts.peerNetns !== undefined && !netnsExists(opts.peerNetns)) {
        throw new InputError(`--peer-netns ${opts.peerNetns}: no such network namespace`);
      }
      if (opts.peerNetns !== undefined && !opts.to) {
        throw new InputError("--peer-netns needs --to: it says where the probe's packets go");
      }
      // A diagnosis blind to the firewall or the containers' namespaces would be wrong.
      if (opts.snapshot === undefined) requireRoot(ROOT_TO_READ);
      let diagnosis: Diagnosis;
      if (opts.snapshot !== undefined) {
        const document = await readSnapshotFile(opts.snapshot);
        diagnosis = diagnose(parseSnapshot(document), { to: opts.to, from: opts.from });
      } else {
        diagnosis = await withStoreFrom(opts, (store) =>
          diagnoseLive({
            bridge: opts.bridge,
            node: opts.node ?? process.env.HG_NODE,
            hgVersion: VERSION,
            store,
            to: opts.to,
            from: opts.from,
            peerNetns: opts.peerNetns,
            // The probe installs a trace table and re-probes a neighbour: a dry run sends none.
            probe: opts.probe && !out.options.dryRun,
          }));
      }
      out.json({ schema: 1, ...diagnosis });
      out.line(renderDiagnosis(diagnosis).join("\n"));
      if (diagnosis.status === "undecided") {
        throw new UndecidedError(`doctor: ${diagnosis.verdict}`);
      }
      if (!diagnosis.ok) throw new ProblemsFound(`doctor: ${diagnosis.verdict}`);
    });
}

/** `hg snapshot`: everything doctor reads, as one JSON document on stdout. */
export function snapshotCommand() {
  return storeOptions(new Command("snapshot"))
    .description("write everything doctor reads about this host as one JSON document")
    .option(...bridgeOption)
    .option(...nodeOption)
    .action(async (opts) => {
      requireRoot(ROOT_TO_READ);
      process.stdout.write(JSON.stringify(await snapshotOfThisHost(opts), null, 1) + "\n");
    });
}
