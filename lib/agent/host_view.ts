/**
 * The agent's last observation of its host, and when it must look again. An observation stays
 * the host's until `ip monitor` reports a change (a route, link, address or VXLAN neighbour of
 * this namespace), until the agent changed the host itself, or until it is older than the safety
 * age (a change `ip monitor` does not report: a sysctl, a firewall rule). Until then the agent
 * plans from it without starting a process. Pure.
 *
 * @module
 */

/**
 * One kept observation, of any shape (`T` is the agent's: the host state and its NAT rules).
 *
 * @example
 * ```ts
 * const view = new HostView<string>(60_000);
 * const token = view.begin();
 * view.observed(token, "state", 0);
 * view.current(1000); // "state"
 * view.changed();
 * view.current(1000); // undefined: observe again
 * ```
 */
export class HostView<T> {
  #state: T | undefined;
  #at = 0;
  /** Counts change events: an observation started before the last one is already stale. */
  #epoch = 0;

  /** @param maxAgeMs how long an observation is trusted without an event (the safety tick). */
  constructor(readonly maxAgeMs: number) {}

  /** The host changed (an `ip monitor` event, or the agent's own change): look again. */
  changed(): void {
    this.#epoch++;
    this.#state = undefined;
  }

  /** The kept observation when it is still the host's at `now` (ms), else undefined. */
  current(now: number): T | undefined {
    if (this.#state === undefined || now - this.#at >= this.maxAgeMs) return undefined;
    return this.#state;
  }

  /** Call before observing; hand the token to {@link observed}. */
  begin(): number {
    return this.#epoch;
  }

  /**
   * Keeps `state`, observed since `token` was taken, at `now`: unless a change was reported in
   * between (the observation may predate it; the next check looks again).
   */
  observed(token: number, state: T, now: number): void {
    if (token !== this.#epoch) return;
    this.#state = state;
    this.#at = now;
  }
}
