/**
 * Answers a parsed CNI request: each command observes this host (the runtime's network
 * namespace), plans with the pure planners, and applies the plan under hg's host lock, the
 * path every hg change takes (DEL, which only frees, without it). Returns the document to print
 * (undefined: print nothing).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { natPostroutingRules } from "../firewall/iptables.ts";
import { observeHost } from "../host/observe.ts";
import { IpCommandError } from "../ip/exec.ts";
import { readNetStateOnce } from "../ip/read.ts";
import { changeHost, changeHostUnlocked } from "../plan/change.ts";
import type { HostState } from "../host/state.ts";
import { checkAttachment, checkReady } from "./check.ts";
import { CniError } from "./error.ts";
import { planCniAdd } from "./plan_add.ts";
import { planCniDel, planCniGc } from "./plan_remove.ts";
import type { CniContainer, CniRequest, HgNetConf } from "./request.ts";
import { buildResult } from "./result.ts";
import { CNI_ERROR, versionAnswer } from "./spec.ts";

/**
 * Answers `request`.
 *
 * @example
 * ```ts
 * await answerCni({ command: "VERSION" }); // { cniVersion: "1.1.0", supportedVersions: [...] }
 * ```
 */
export async function answerCni(request: CniRequest, version?: string): Promise<unknown> {
  switch (request.command) {
    case "VERSION":
      return versionAnswer(version);
    case "ADD":
      return await add(request.conf, request.container);
    case "DEL":
      await del(request.conf, request.container);
      return undefined;
    case "CHECK":
      await check(request.conf, request.container);
      return undefined;
    case "STATUS":
      checkReady(await observeHost(), request.conf);
      return undefined;
    case "GC":
      await changeHost((host) => ({ plan: planCniGc(host, request.conf) }));
      return undefined;
  }
}

function existingNetns(container: CniContainer): string {
  if (container.netns === undefined || !existsSync(container.netns)) {
    throw new CniError(
      CNI_ERROR.containerUnknown,
      `CNI_NETNS ${container.netns ?? "(empty)"} does not exist`,
    );
  }
  return container.netns;
}

async function add(conf: HgNetConf, container: CniContainer) {
  const netns = existingNetns(container);
  const natRules = conf.ipMasq ? await natPostroutingRules() : [];
  try {
    const { attachment } = await changeHost((host) =>
      planCniAdd(host, conf, { ...container, netns }, natRules)
    );
    return buildResult(attachment, conf.cniVersion, conf.prevResult);
  } catch (e) {
    if (!(e instanceof IpCommandError)) throw e;
    // Applying failed part way: a veth made before the failing step would hold its address.
    // (An ADD repeated on a made attachment plans nothing, so it never gets here.)
    await changeHost((host) => ({ plan: planCniDel(host, conf, container) })).catch(() => {});
    throw e;
  }
}

/**
 * DEL without the host lock (see changeHostUnlocked). Whoever else removed the veth meanwhile
 * (teardown, a DEL repeated at once) did DEL's job: its "Cannot find device" is success.
 */
async function del(conf: HgNetConf, container: CniContainer): Promise<void> {
  const plan = (host: HostState) => ({ plan: planCniDel(host, conf, container) });
  try {
    await changeHostUnlocked(plan);
  } catch (e) {
    if (!(e instanceof IpCommandError)) throw e;
    if (plan(await observeHost()).plan.length > 0) throw e;
  }
}

async function check(conf: HgNetConf, container: CniContainer): Promise<void> {
  const netns = existingNetns(container);
  const [host, inside] = await Promise.all([observeHost(), readNetStateOnce(netns)]);
  const problems = checkAttachment(host, conf, container, inside);
  if (problems.length > 0) {
    throw new CniError(CNI_ERROR.checkFailed, problems.join("; "));
  }
}
