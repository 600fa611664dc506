/**
 * The systemd unit that runs `hg agent` as a service. A unit is a world-readable file, so it never
 * holds a password: the etcd password comes from a root-only environment file
 * ({@link AGENT_ENVIRONMENT_FILE}) or from a password file the agent reads itself.
 *
 * @module
 */
import { HgError } from "../errors.ts";

/** Where the unit reads `HG_ETCD_PASSWORD` from when the password is not in a file of its own. */
export const AGENT_ENVIRONMENT_FILE = "/etc/hg/agent.env";

/** What the unit runs. */
export interface AgentUnit {
  /** The hg executable, an absolute path. */
  readonly executable: string;
  /** The agent's flags, after `agent`: never a password. */
  readonly args: readonly string[];
  /** `Environment=` settings: never a password. */
  readonly environment?: Readonly<Record<string, string>>;
  /** An `EnvironmentFile=` that holds `HG_ETCD_PASSWORD=...` (root-only). */
  readonly environmentFile?: string;
}

/** Settings that hold a secret and so never go into a unit. */
const SECRET_FLAG = /^--etcd-password(=|$)/;
const SECRET_VARIABLE = "HG_ETCD_PASSWORD";

/** Specifiers (`%n`) and variables (`$X`) are expanded in ExecStart: both are doubled. */
function escapeExpansions(text: string, dollar: boolean): string {
  const percent = text.replaceAll("%", "%%");
  return dollar ? percent.replaceAll("$", "$$$$") : percent;
}

/** `text` in double quotes with C escapes, as systemd reads a quoted word. */
function cQuote(text: string): string {
  const escaped = text.replace(/[\\"]/g, (c) => `\\${c}`).replace(
    // deno-lint-ignore no-control-regex -- control characters are what it escapes
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return `"${escaped}"`;
}

/**
 * One word of an ExecStart= command line, quoted and escaped so that systemd passes exactly
 * `word` to the program.
 *
 * @example
 * ```ts
 * execWord("etcd://10.0.0.5:2379"); // etcd://10.0.0.5:2379
 * execWord("/srv/my hg/subnets.json"); // "/srv/my hg/subnets.json"
 * execWord("50%"); // "50%%"
 * ```
 */
export function execWord(word: string): string {
  if (/^[A-Za-z0-9_.:\/=,@+-]+$/.test(word)) return word;
  if (word === ";") return "\\;"; // a lone ";" would end the command line
  return escapeExpansions(cQuote(word), true);
}

/** One `Environment=` line (no variable expansion there, but specifiers). */
function environmentLine(name: string, value: string): string {
  return `Environment=${escapeExpansions(cQuote(`${name}=${value}`), false)}`;
}

/**
 * The unit text. Throws an {@link HgError} when a password would end up in it: the caller must
 * pass the password through {@link AgentUnit.environmentFile} or `--etcd-password-file`.
 *
 * @example
 * ```ts
 * systemdUnit({
 *   executable: "/usr/local/bin/hg",
 *   args: ["--store", "etcd://10.0.0.5:2379", "--etcd-user", "hg"],
 *   environmentFile: AGENT_ENVIRONMENT_FILE,
 * });
 * ```
 */
export function systemdUnit(unit: AgentUnit): string {
  const environment = Object.entries(unit.environment ?? {});
  if (
    unit.args.some((a) => SECRET_FLAG.test(a)) ||
    environment.some(([name]) => name === SECRET_VARIABLE)
  ) {
    throw new HgError("internal error: the etcd password must not be written into a unit");
  }
  const service = [
    ...environment.map(([name, value]) => environmentLine(name, value)),
    ...(unit.environmentFile === undefined ? [] : [
      `# ${unit.environmentFile} holds the etcd password: HG_ETCD_PASSWORD=... (owner root, mode 0600).`,
      `EnvironmentFile=${execWord(unit.environmentFile)}`,
    ]),
    `ExecStart=${[unit.executable, "agent", ...unit.args].map(execWord).join(" ")}`,
  ];
  return `[Unit]
Description=hg agent: routes to the other hosts' container subnets (host-gw)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
${service.join("\n")}
Restart=always
RestartSec=2
# Exit 2 is bad usage or input (a flag, a missing password file): restarting cannot fix it.
RestartPreventExitStatus=2
# SIGTERM stops the agent and leaves every route in place: a restart never cuts traffic.
KillSignal=SIGTERM
TimeoutStopSec=10

[Install]
WantedBy=multi-user.target
`;
}
