/**
 * hg as a CNI plugin: a runtime runs the executable with CNI_COMMAND set and the network
 * configuration on stdin. This is the edge of that mode: read the environment and stdin, answer,
 * print the result or the spec's error document on stdout, and give the exit code (0 or 1).
 *
 * @module
 */
import { fstatSync, readFileSync, writeSync } from "node:fs";
import { cniErrorDocument } from "../lib/cni/error.ts";
import { configVersion, parseRequest } from "../lib/cni/request.ts";
import { versionAnswer } from "../lib/cni/spec.ts";

/** All of stdin (fd 0, read directly: a stream costs milliseconds to set up). */
function readStdin(): string {
  // VERSION may be asked from a terminal, with nothing to read (node:tty's isatty costs a
  // VERSION call 4-5 ms of loading; a character device has no end to read to either).
  if (fstatSync(0).isCharacterDevice()) return "";
  return readFileSync(0, "utf8");
}

/** Writes `document` as one line on stdout (fd 1, directly, for the same reason). */
function print(document: unknown): void {
  writeSync(1, JSON.stringify(document) + "\n");
}

/**
 * Answers the runtime; resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runCniPlugin(process.env);
 * ```
 */
export async function runCniPlugin(env: Record<string, string | undefined>): Promise<number> {
  // A runtime's PATH may lack the sbin directories (kubelet's often does): hg still finds ip,
  // nsenter and iptables where Debian and others put them.
  process.env.PATH = withSystemPath(env.PATH);
  let stdin = "";
  try {
    stdin = readStdin();
    const request = parseRequest(env, stdin);
    // A runtime asks VERSION before each ADD and DEL: it loads none of the planners.
    const answer = request.command === "VERSION"
      ? versionAnswer(configVersion(stdin))
      : await (await import("../lib/cni/answer.ts")).answerCni(request, configVersion(stdin));
    if (answer !== undefined) print(answer);
    return 0;
  } catch (e) {
    const document = cniErrorDocument(e, configVersion(stdin));
    print(document);
    return 1;
  }
}

const SYSTEM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/**
 * `path` with the system's program directories appended when missing.
 *
 * @example
 * ```ts
 * withSystemPath("/opt/cni/bin"); // "/opt/cni/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
 * ```
 */
export function withSystemPath(path: string | undefined): string {
  const dirs = (path ?? "").split(":").filter((d) => d !== "");
  return [...dirs, ...SYSTEM_PATH.filter((d) => !dirs.includes(d))].join(":");
}
