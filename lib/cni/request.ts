/**
 * What a runtime asks: the CNI environment variables and the network configuration on stdin,
 * parsed once into typed values. Anything a runtime could get wrong is a CniError with the
 * spec's code, naming the variable or field.
 *
 * @module
 */
import { interfaceNameError } from "../host/interface_name.ts";
import { type IpAddress, parseAddress } from "../net/address.ts";
import { CniError } from "./error.ts";
import { CNI_ERROR, type CniVersion, isSupportedVersion, SUPPORTED_VERSIONS } from "./spec.ts";

/** The commands of the spec. */
export const CNI_COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"] as const;

/** One of {@link CNI_COMMANDS}. */
export type CniCommand = typeof CNI_COMMANDS[number];

/** The container an ADD, DEL or CHECK is about. */
export interface CniContainer {
  /** CNI_CONTAINERID. */
  readonly id: string;
  /** CNI_NETNS: a path; undefined when empty (allowed for DEL only). */
  readonly netns?: string;
  /** CNI_IFNAME. */
  readonly ifname: string;
  /** The runtime's name for the container (K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS). */
  readonly name?: string;
  /** An address asked for with `IP=ADDRESS[/PREFIX]` in CNI_ARGS. */
  readonly requestedIp?: IpAddress;
  /** The prefix length `IP=` gave, if any: it must be the host subnet's. */
  readonly requestedPrefixLength?: number;
}

/** An attachment named in GC's `cni.dev/valid-attachments`. */
export interface CniAttachmentId {
  readonly containerId: string;
  readonly ifname: string;
}

/** The network configuration hg reads (its `plugins` entry, as the runtime passes it). */
export interface HgNetConf {
  readonly cniVersion: CniVersion;
  /** The network's name. */
  readonly name: string;
  readonly bridge: string;
  /** The MTU of the container's interface (default: the bridge's). */
  readonly mtu?: number;
  /** Masquerade what leaves the host's subnet (default false: sources are kept). */
  readonly ipMasq: boolean;
  readonly hairpinMode: boolean;
  /** The previous plugin's result (chained before hg), passed on. */
  readonly prevResult?: Record<string, unknown>;
  /** GC: the attachments the runtime still uses. */
  readonly validAttachments?: readonly CniAttachmentId[];
}

/** A parsed request. */
export type CniRequest =
  | { readonly command: "VERSION" }
  | { readonly command: "STATUS" | "GC"; readonly conf: HgNetConf }
  | {
    readonly command: "ADD" | "DEL" | "CHECK";
    readonly conf: HgNetConf;
    readonly container: CniContainer;
  };

// CNI_CONTAINERID (spec: alphanumeric first, then alphanumerics, "_", "." or "-"). The length
// bound keeps the mark on the veth within the kernel's 255-byte alias.
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Why `name` cannot be a CNI network's name, or undefined when it can: 1-64 characters (it goes
 * into the veth's mark, within the kernel's 255-byte alias).
 *
 * @example
 * ```ts
 * networkNameError("hg"); // undefined
 * ```
 */
export function networkNameError(name: unknown): string | undefined {
  if (typeof name === "string" && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) return undefined;
  return `network name ${
    JSON.stringify(name)
  } is not valid: 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`;
}
// A path ip can take in a batch line (no whitespace, quotes or "#").
const NETNS_PATH = /^\/[A-Za-z0-9_.:\/@,=+%-]*$/;

/**
 * The config's cniVersion, or undefined when stdin has none: the version errors are written in.
 *
 * @example
 * ```ts
 * configVersion('{"cniVersion":"0.4.0"}'); // "0.4.0"
 * ```
 */
export function configVersion(stdin: string): string | undefined {
  try {
    const version = (JSON.parse(stdin) as { cniVersion?: unknown })?.cniVersion;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a request from the environment and stdin.
 *
 * @example
 * ```ts
 * parseRequest({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}'); // { command: "VERSION" }
 * ```
 */
export function parseRequest(env: Record<string, string | undefined>, stdin: string): CniRequest {
  const command = env.CNI_COMMAND;
  if (!(CNI_COMMANDS as readonly (string | undefined)[]).includes(command)) {
    throw new CniError(
      CNI_ERROR.invalidEnvironment,
      `CNI_COMMAND ${JSON.stringify(command)} is not one of ${CNI_COMMANDS.join(", ")}`,
    );
  }
  if (command === "VERSION") return { command };
  const conf = parseNetConf(stdin, command as CniCommand);
  if (command === "STATUS" || command === "GC") return { command, conf };
  return {
    command: command as "ADD" | "DEL" | "CHECK",
    conf,
    container: parseContainer(env, command as "ADD" | "DEL" | "CHECK"),
  };
}

function parseContainer(
  env: Record<string, string | undefined>,
  command: "ADD" | "DEL" | "CHECK",
): CniContainer {
  const id = env.CNI_CONTAINERID ?? "";
  if (!CONTAINER_ID.test(id)) {
    throw new CniError(
      CNI_ERROR.invalidEnvironment,
      `CNI_CONTAINERID ${
        JSON.stringify(id)
      } is not valid: expected 1-128 letters, digits, "_", "." ` +
        `or "-", starting with a letter or digit`,
    );
  }
  const ifname = env.CNI_IFNAME ?? "";
  // The kernel takes no "/", ":" or whitespace in a name it creates (dev_valid_name).
  const badIfname = ifname.includes(":")
    ? `${JSON.stringify(ifname)} is not a valid interface name: ":" is not allowed`
    : interfaceNameError(ifname);
  if (badIfname) throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_IFNAME: ${badIfname}`);
  const netns = env.CNI_NETNS || undefined;
  if (netns === undefined && command !== "DEL") {
    throw new CniError(
      CNI_ERROR.invalidEnvironment,
      `CNI_NETNS is empty: ${command} needs the container's network namespace`,
    );
  }
  if (netns !== undefined && !NETNS_PATH.test(netns)) {
    throw new CniError(
      CNI_ERROR.invalidEnvironment,
      `CNI_NETNS ${JSON.stringify(netns)} is not an absolute path hg can pass to ip ` +
        `(no whitespace, quotes or "#")`,
    );
  }
  const args = parseCniArgs(env.CNI_ARGS ?? "");
  const podName = args.get("K8S_POD_NAME");
  const podNamespace = args.get("K8S_POD_NAMESPACE");
  const ip = args.get("IP");
  let requested: { requestedIp: IpAddress; requestedPrefixLength?: number } | undefined;
  if (ip !== undefined) {
    // The conventions' form: IP=ADDRESS[/PREFIX], of either family (it sets that family's
    // address; the other family's, on a dual-stack host, comes from the pool).
    const [text, length, ...rest] = ip.split("/");
    try {
      if (rest.length > 0 || (length !== undefined && !/^\d{1,3}$/.test(length))) throw 0;
      const address = parseAddress(text);
      if (length !== undefined && Number(length) > (address.family === 4 ? 32 : 128)) throw 0;
      requested = {
        requestedIp: address,
        ...(length === undefined ? {} : { requestedPrefixLength: Number(length) }),
      };
    } catch {
      throw new CniError(
        CNI_ERROR.invalidEnvironment,
        `CNI_ARGS IP=${ip} is not an IP address (ADDRESS or ADDRESS/PREFIX)`,
      );
    }
  }
  const name = podName && podNamespace ? `${podNamespace}/${podName}` : podName || undefined;
  return {
    id,
    ifname,
    ...(netns ? { netns } : {}),
    ...(name ? { name } : {}),
    ...requested,
  };
}

// CNI_ARGS keys hg reads; with IgnoreUnknown, others are fine (runtimes pass their own).
const KNOWN_ARGS = new Set([
  "IgnoreUnknown",
  "K8S_POD_NAME",
  "K8S_POD_NAMESPACE",
  "K8S_POD_INFRA_CONTAINER_ID",
  "K8S_POD_UID",
  "IP",
]);

/**
 * CNI_ARGS (`K=V;K=V`) as a map. A key hg does not know is an error unless `IgnoreUnknown` is
 * set ("1" or "true"), as the spec's conventions say.
 *
 * @example
 * ```ts
 * parseCniArgs("IgnoreUnknown=1;K8S_POD_NAME=web").get("K8S_POD_NAME"); // "web"
 * ```
 */
export function parseCniArgs(text: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const pair of text.split(";").filter((p) => p !== "")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new CniError(
        CNI_ERROR.invalidEnvironment,
        `CNI_ARGS ${JSON.stringify(pair)} is not KEY=VALUE`,
      );
    }
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignoreUnknown = ["1", "true"].includes((args.get("IgnoreUnknown") ?? "").toLowerCase());
  const unknown = [...args].filter(([k]) => !KNOWN_ARGS.has(k));
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(
      CNI_ERROR.unsupportedField,
      `CNI_ARGS ${
        unknown.map(([k, v]) => `${k}=${v}`).join(", ")
      } unknown to hg (set IgnoreUnknown=1 to pass it anyway)`,
    );
  }
  return args;
}

function invalid(message: string): CniError {
  return new CniError(CNI_ERROR.invalidConfig, message);
}

/**
 * Parses the network configuration on stdin.
 *
 * @example
 * ```ts
 * parseNetConf('{"cniVersion":"1.0.0","name":"hg","type":"hg"}', "ADD").bridge; // "cni0"
 * ```
 */
export function parseNetConf(stdin: string, command: CniCommand): HgNetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(
      CNI_ERROR.decodeFailure,
      `the network configuration on stdin is not JSON: ${(e as Error).message}`,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(
      CNI_ERROR.decodeFailure,
      "the network configuration on stdin is not a JSON object",
    );
  }
  const o = raw as Record<string, unknown>;
  const version = o.cniVersion;
  if (typeof version !== "string") throw invalid('the network configuration has no "cniVersion"');
  if (!isSupportedVersion(version)) {
    throw new CniError(
      CNI_ERROR.incompatibleVersion,
      `cniVersion ${version} is not supported: hg answers ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  if ((command === "STATUS" || command === "GC") && version !== "1.1.0") {
    throw new CniError(
      CNI_ERROR.incompatibleVersion,
      `${command} needs cniVersion 1.1.0, the config says ${version}`,
    );
  }
  const name = o.name;
  const badName = networkNameError(name);
  if (badName !== undefined || typeof name !== "string") throw invalid(badName ?? "");
  const bridge = o.bridge ?? "cni0";
  if (typeof bridge !== "string" || interfaceNameError(bridge)) {
    throw invalid(`"bridge": ${interfaceNameError(String(bridge)) ?? "expected a string"}`);
  }
  const mtu = o.mtu;
  if (
    mtu !== undefined && (!Number.isInteger(mtu) || (mtu as number) < 68 || (mtu as number) > 65535)
  ) {
    throw invalid(`"mtu" ${JSON.stringify(mtu)} is not valid: a whole number 68-65535`);
  }
  for (const key of ["ipMasq", "hairpinMode"]) {
    if (o[key] !== undefined && typeof o[key] !== "boolean") {
      throw invalid(`"${key}" ${JSON.stringify(o[key])} is not valid: true or false`);
    }
  }
  const prev = o.prevResult;
  if (prev !== undefined && (typeof prev !== "object" || prev === null || Array.isArray(prev))) {
    throw invalid('"prevResult" is not a JSON object');
  }
  return {
    cniVersion: version,
    name,
    bridge,
    ...(mtu === undefined ? {} : { mtu: mtu as number }),
    ipMasq: o.ipMasq === true,
    hairpinMode: o.hairpinMode === true,
    ...(prev === undefined ? {} : { prevResult: prev as Record<string, unknown> }),
    ...(command === "GC"
      ? { validAttachments: parseValidAttachments(o["cni.dev/valid-attachments"]) }
      : {}),
  };
}

function parseValidAttachments(value: unknown): CniAttachmentId[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('"cni.dev/valid-attachments" is not a list');
  return value.map((a) => {
    const { containerID, ifname } = (a ?? {}) as Record<string, unknown>;
    if (typeof containerID !== "string" || typeof ifname !== "string") {
      throw invalid(
        `"cni.dev/valid-attachments" entry ${JSON.stringify(a)} needs "containerID" and "ifname"`,
      );
    }
    return { containerId: containerID, ifname };
  });
}
