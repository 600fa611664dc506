/**
 * hg as a CNI plugin: a runtime runs the executable with CNI_COMMAND set and the network
 * configuration on stdin. This is the edge of that mode: read the environment and stdin, answer,
 * print the result or the spec's error document on stdout, and give the exit code (0 or 1).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { answerCni } from "../lib/cni/answer.ts";
import { cniErrorDocument } from "../lib/cni/error.ts";
import { configVersion, parseRequest } from "../lib/cni/request.ts";

async function readStdin(): Promise<string> {
  // VERSION may be asked from a terminal, with nothing to read.
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
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
    stdin = await readStdin();
    const answer = await answerCni(parseRequest(env, stdin), configVersion(stdin));
    if (answer !== undefined) process.stdout.write(JSON.stringify(answer) + "\n");
    return 0;
  } catch (e) {
    const document = cniErrorDocument(e, configVersion(stdin));
    process.stdout.write(JSON.stringify(document) + "\n");
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
