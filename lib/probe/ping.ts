/**
 * The probe's packets: `ping` (iputils) from the source container with an ICMP id of the probe's
 * own, so that its packets can be told apart from everything else in every trace, and what
 * ping printed: how many were sent and answered, and the ICMP errors that came back instead.
 *
 * @module
 */

/** What one ping run saw. */
export interface PingOutcome {
  /** The ICMP echo id its packets carried. */
  readonly icmpId: number;
  /** The ICMP payload size. */
  readonly size: number;
  readonly sent: number;
  readonly answered: number;
  /** ICMP errors that came back, as ping printed them (`From 1.1.1.1 icmp_seq=1 Destination Host Prohibited`). */
  readonly errors: readonly string[];
  /** ping's own complaint when it could not send (`sendmsg: Operation not permitted`). */
  readonly failure?: string;
}

/**
 * The argv of a probe ping: `count` echoes `intervalS` apart, then waiting at most `waitS` for
 * answers still missing (`-W`; `-w` would send until its deadline); with `noFragment`, the
 * Don't Fragment bit is set (path MTU test).
 *
 * @example
 * ```ts
 * pingArgv("1.1.2.2", { icmpId: 4242, count: 3, size: 56, intervalS: 0.1, waitS: 1 });
 * ```
 */
export function pingArgv(
  to: string,
  o: {
    icmpId: number;
    count: number;
    size: number;
    intervalS: number;
    waitS: number;
    noFragment?: boolean;
  },
): string[] {
  return [
    "ping",
    "-n",
    "-c",
    String(o.count),
    "-i",
    String(o.intervalS),
    "-W",
    String(o.waitS),
    "-s",
    String(o.size),
    "-e",
    String(o.icmpId),
    ...(o.noFragment ? ["-M", "do"] : []),
    to,
  ];
}

/**
 * Parses what ping printed (stdout and stderr).
 *
 * @example
 * ```ts
 * parsePing("4 packets transmitted, 0 received, +4 errors, 100% packet loss", "", 7, 56).answered; // 0
 * ```
 */
export function parsePing(
  stdout: string,
  stderr: string,
  icmpId: number,
  size: number,
): PingOutcome {
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  const errors = stdout.split("\n").filter((l) => /^From \S+ icmp_seq=\d+ /.test(l)).map((l) =>
    l.trim()
  );
  const failure = stderr.trim().split("\n").find((l) => l.trim() !== "");
  return {
    icmpId,
    size,
    sent: summary ? Number(summary[1]) : 0,
    answered: summary ? Number(summary[2]) : 0,
    errors: [...new Set(errors.map((e) => e.replace(/icmp_seq=\d+ /, "")))],
    ...(failure ? { failure: failure.replace(/^ping: /, "") } : {}),
  };
}
