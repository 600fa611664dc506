/**
 * Doctor on a live host: the snapshot of this host (and of the destination's host when it is a
 * namespace on this machine), the static diagnosis, and with a destination the probe, whose
 * result decides the verdict. The one path the CLI takes for `hg doctor` without `--snapshot`.
 *
 * @module
 */
import type { IpAddress } from "../net/address.ts";
import { findContainer } from "../containers/where.ts";
import type { SubnetStore } from "../store/store.ts";
import { type CaptureOptions, observeHost, takeSnapshot } from "./collect.ts";
import { doctorContext } from "./context.ts";
import { ipv6Context } from "./ipv6_view.ts";
import { diagnose, type Diagnosis } from "./diagnose.ts";
import type { Finding } from "./finding.ts";
import { parseSnapshot } from "./snapshot.ts";

/** What doctor is asked on a live host. */
export interface LiveRequest {
  readonly bridge: string;
  readonly node?: string;
  readonly hgVersion: string;
  readonly store?: SubnetStore;
  readonly to?: IpAddress;
  readonly from?: string;
  /** The destination's host is this named namespace on this machine: watch it too. */
  readonly peerNetns?: string;
  /** Send the probe (with `to`); false gives the static diagnosis only. */
  readonly probe: boolean;
}

function unavailable(d: Diagnosis, why: string): Diagnosis {
  const note: Finding = {
    id: "probe-unavailable",
    severity: "info",
    stage: "container",
    summary: `no probe was sent, so this is the static diagnosis only: ${why}`,
    evidence: [why],
    fix: [],
  };
  return { ...d, findings: [...d.findings, note] };
}

/**
 * Diagnoses this host (and the path to `to`).
 *
 * @example
 * ```ts
 * import { parseAddress } from "../net/address.ts";
 * const to = parseAddress("1.1.2.2");
 * const d = await diagnoseLive({ bridge: "cni0", hgVersion: "0.1.0", to, probe: true });
 * ```
 */
export async function diagnoseLive(request: LiveRequest): Promise<Diagnosis> {
  const capture: CaptureOptions = {
    bridge: request.bridge,
    hgVersion: request.hgVersion,
    ...(request.node === undefined ? {} : { node: request.node }),
    ...(request.store ? { store: request.store } : {}),
  };
  const [{ observation: obs }, peerDocument] = await Promise.all([
    observeHost(capture),
    request.peerNetns === undefined ? undefined : takeSnapshot({
      bridge: request.bridge,
      hgVersion: request.hgVersion,
      netns: request.peerNetns,
    }),
  ]);
  const local = diagnose(obs, { to: request.to, from: request.from });
  if (!request.to || !request.probe) return local;
  // The probe's machinery loads only for a probe: the static diagnosis needs none of it.
  const [{ runProbe }, { probePlan }, { judgeProbe }] = await Promise.all([
    import("../probe/probe.ts"),
    import("./probe_plan.ts"),
    import("./verdict.ts"),
  ]);
  // An IPv6 destination: the IPv6 view of both hosts (the containers' IPv6 addresses, IPv6 routes).
  const view = request.to.family === 6 ? ipv6Context : doctorContext;
  const here = view(obs);
  const from = request.from === undefined
    ? here.containers[0]
    : findContainer(here.containers, request.from);
  if (!from) return unavailable(local, "this host has no hg container to send it from");
  if (from.observed?.state === undefined) {
    return unavailable(
      local,
      `container ${from.name}'s namespace could not be read${
        from.observed?.error ? ` (${from.observed.error})` : ""
      }`,
    );
  }
  // The peer reads the same registry: its leases tell it its own subnet and the others'.
  const peerObs = peerDocument ? parseSnapshot(peerDocument, obs.registry) : undefined;
  const peerCtx = peerObs ? view(peerObs) : undefined;
  const plan = probePlan(
    here,
    from,
    request.to,
    peerCtx ? { netns: request.peerNetns!, ctx: peerCtx } : undefined,
  );
  let result;
  try {
    result = await runProbe(plan);
  } catch (e) {
    return unavailable(local, (e as Error).message);
  }
  if (result.namespaces.every((n) => n.error !== undefined)) {
    const why = result.namespaces.find((n) => n.error)!.error!;
    return unavailable(local, why);
  }
  return judgeProbe({
    local,
    here,
    ...(peerCtx && peerObs
      ? { peer: { netns: request.peerNetns!, ctx: peerCtx, obs: peerObs } }
      : {}),
    from,
    to: request.to,
    result,
  });
}
