/**
 * The systemd unit that runs `hg agent` as a service.
 *
 * @example
 * ```ts
 * systemdUnit("/usr/local/bin/hg", ["--store", "etcd://10.0.0.5:2379"]);
 * ```
 */
export function systemdUnit(executable: string, args: readonly string[]): string {
  const quoted = args.map((a) => (/^[A-Za-z0-9_.:\/=,@+-]+$/.test(a) ? a : JSON.stringify(a)));
  return `[Unit]
Description=hg agent: routes to the other hosts' container subnets (host-gw)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${[executable, "agent", ...quoted].join(" ")}
Restart=always
RestartSec=2
# SIGTERM stops the agent and leaves every route in place: a restart never cuts traffic.
KillSignal=SIGTERM
TimeoutStopSec=10

[Install]
WantedBy=multi-user.target
`;
}
