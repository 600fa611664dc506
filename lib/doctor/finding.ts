/**
 * What doctor says: findings with a stable id, a severity, the evidence it read and the fix.
 *
 * @module
 */

/**
 * How bad a finding is: an error stops traffic, a warning may, info explains. Undecided: doctor
 * could not tell (a rule match it does not model, a registry it cannot read), so the finding is
 * neither called a problem nor called fine.
 */
export type Severity = "error" | "warning" | "undecided" | "info";

/**
 * Where along a packet's way a finding sits; findings are reported in this order (after
 * severity), so the first one named is the first thing the packet runs into.
 */
export const STAGES = [
  "container",
  "veth",
  "bridge",
  "forwarding",
  "route",
  "firewall",
  "uplink",
  "gateway",
  "rp_filter",
  "mtu",
  "registry",
  "return",
] as const;

/** A stage of {@link STAGES}. */
export type Stage = typeof STAGES[number];

/** Every finding id doctor can report (stable: scripts match on them). */
export type FindingId =
  | "container-missing"
  | "container-no-address"
  | "container-down"
  | "container-no-default-route"
  | "container-subnet-mismatch"
  | "veth-detached"
  | "veth-down"
  | "bridge-missing"
  | "bridge-down"
  | "bridge-no-address"
  | "bridge-no-ports"
  | "bridge-mask-wide"
  | "forwarding-off"
  | "firewall-forward-drop"
  | "no-route"
  | "route-rejects"
  | "peer-route-missing"
  | "route-wrong-host"
  | "route-stale"
  | "route-duplicate"
  | "route-overlap"
  | "route-linkdown"
  | "gateway-off-link"
  | "gateway-unreachable"
  | "rp-filter-strict"
  | "mtu-bridge-over-uplink"
  | "lease-refused"
  | "registry-unreadable"
  | "return-path"
  // Found by the probe, or by static checks that cover what the probe taught.
  | "uplink-down"
  | "firewall-drop"
  | "firewall-undecided"
  | "nat-rewrite"
  | "policy-route"
  | "neighbour-wrong"
  | "arp-ignored"
  | "gateway-self"
  | "container-route-bypass"
  | "mtu-container"
  | "address-duplicate"
  | "echo-ignored"
  | "lease-conflict"
  | "lease-expired"
  | "probe-lost"
  | "probe-unavailable"
  // The VXLAN path.
  | "vxlan-device-missing"
  | "vxlan-device-down"
  | "vxlan-device-mismatch"
  | "vxlan-neighbour-missing"
  | "vxlan-neighbour-wrong"
  | "vxlan-fdb-missing"
  | "vxlan-fdb-wrong"
  | "vxlan-udp-dropped"
  | "vxlan-mtu"
  | "peer-mode-stale"
  // IPv6 only.
  | "address-dad-failed"
  | "address-tentative"
  | "ndp-filtered";

/** One thing doctor found. */
export interface Finding {
  readonly id: FindingId;
  readonly severity: Severity;
  readonly stage: Stage;
  /**
   * Where it is, when not on this host: the network namespace of the peer host (or of a
   * container) the probe watched. Its fix lines then name that namespace themselves
   * (`ip netns exec NAME ...`, `ip -n NAME ...`).
   */
  readonly where?: string;
  /** One line in plain words. */
  readonly summary: string;
  /** Why it matters, when the summary is not enough. */
  readonly explanation?: string;
  /** What doctor read: routes, values, rules. */
  readonly evidence: readonly string[];
  /** Commands that fix it, in order (lines starting with `#` say where or why). */
  readonly fix: readonly string[];
  /**
   * Commands that remove or replace what this finding suspects, for when the probe shows
   * traffic failing because of it: they then take the place of `fix`.
   */
  readonly proven?: readonly string[];
}

const SEVERITY_ORDER: Readonly<Record<Severity, number>> = {
  error: 0,
  warning: 1,
  undecided: 2,
  info: 3,
};

/**
 * Findings in reporting order: errors first, then along the packet's way.
 *
 * @example
 * ```ts
 * declare const findings: Finding[]; // what the checks found
 * sortFindings(findings)[0]; // the first error a packet runs into
 * ```
 */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) =>
      SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] ||
      STAGES.indexOf(a.f.stage) - STAGES.indexOf(b.f.stage) || a.i - b.i
    )
    .map(({ f }) => f);
}
