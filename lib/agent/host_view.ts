/**
 * The agent's last observation of its host, and when it must look again. An observation stays
 * the host's until `ip monitor` reports a change that happened after the observation began (a
 * route, link, address or VXLAN neighbour of this namespace), or until it is older than the
 * safety age (a change `ip monitor` does not report: a firewall rule). Until then the agent plans
 * from it without starting a process. An event that happened before an observation began is
 * already in it, however late it arrives: the agent's own changes, observed right after they
 * were applied, do not make it look a second time. While the agent changes the host itself,
 * only an event that is plainly the echo of that change (hg's routes to the destinations it
 * changed, as `ip monitor` names them) leaves the kept observation standing; any other event
 * of that time is someone else's. Pure.
 *
 * Times are ms since the epoch: `ip -ts monitor`'s stamps and the agent's clock, one machine's
 * wall clock; an event of unknown time is Infinity (after everything).
 *
 * @module
 */

/** What {@link HostView.begin} hands out: when an observation began. */
export interface ObservationToken {
  readonly at: number;
}

/**
 * What {@link HostView.beginOwn} hands out: when the agent's own change of the host began, and
 * the destinations of the routes it sets or deletes (its echo names those).
 */
export interface OwnChangeToken {
  readonly from: number;
  readonly routes: ReadonlySet<string>;
}

/**
 * Whether an event that names `hgRoutes` (undefined: not plainly hg's routes) can be the echo
 * of a change of the routes to `routes`.
 */
function echoOf(hgRoutes: readonly string[] | undefined, routes: ReadonlySet<string>): boolean {
  return hgRoutes !== undefined && hgRoutes.every((r) => routes.has(r));
}

/**
 * One kept observation, of any shape (`T` is the agent's: the host state and its NAT rules).
 * One observation is taken at a time (the agent's syncs run one after another).
 *
 * @example
 * ```ts
 * const view = new HostView<string>(60_000);
 * const token = view.begin(1000);
 * view.observed(token, "state");
 * view.current(2000); // "state"
 * view.changed(900); // false: it happened before the observation began
 * view.changed(1500); // true: observe again
 * view.current(2000); // undefined
 * ```
 */
export class HostView<T> {
  #state: T | undefined;
  /** When the kept observation began. */
  #at = -Infinity;
  /** The observation under way, and the latest event reported since it began. */
  #pending: ObservationToken | undefined;
  #latestSince = -Infinity;
  /** The agent's own change under way, and the latest event reported since it began. */
  #own: OwnChangeToken | undefined;
  #latestOwn = -Infinity;
  /**
   * Times the agent's own changes took, from taking the lock to having applied them, and the
   * routes they changed: the events of then that name only those are their echoes (the kept
   * observation was amended with what they did).
   */
  #windows: (readonly [number, number, ReadonlySet<string>])[] = [];

  /** @param maxAgeMs how long an observation is trusted without an event (the safety tick). */
  constructor(readonly maxAgeMs: number) {}

  /**
   * The host changed at `at` (an `ip monitor` event; Infinity when not known, or for the
   * agent's own change); `hgRoutes`: the destinations of hg's routes the event set or deleted,
   * when that is all it was. True when the agent must look again: neither the kept observation
   * nor the one under way began after it, and it is not the echo of the agent's own change.
   */
  changed(at = Infinity, hgRoutes?: readonly string[]): boolean {
    if (this.#pending) this.#latestSince = Math.max(this.#latestSince, at);
    const covered = this.#pending !== undefined && at < this.#pending.at;
    if (this.#state !== undefined && at < this.#at) return false;
    if (
      this.#state !== undefined &&
      this.#windows.some(([from, to, routes]) => from <= at && at < to && echoOf(hgRoutes, routes))
    ) {
      return false;
    }
    // During the agent's own change its echoes are expected: decided when it is re-read.
    if (
      this.#state !== undefined && this.#own !== undefined && at >= this.#own.from &&
      echoOf(hgRoutes, this.#own.routes)
    ) {
      this.#latestOwn = Math.max(this.#latestOwn, at);
      return false;
    }
    this.#state = undefined;
    this.#windows = [];
    return !covered;
  }

  /** The kept observation when it is still the host's at `now`, else undefined. */
  current(now: number): T | undefined {
    if (this.#state === undefined || now - this.#at >= this.maxAgeMs) return undefined;
    return this.#state;
  }

  /** Call just before observing, at `now`; hand the token to {@link observed}. */
  begin(now: number): ObservationToken {
    this.#pending = { at: now };
    this.#latestSince = -Infinity;
    return this.#pending;
  }

  /**
   * Keeps `state`, the observation begun with `token`: unless an event reported while it was
   * taken happened after it began (the next check looks again).
   */
  observed(token: ObservationToken, state: T): void {
    if (this.#pending !== token) return;
    this.#pending = undefined;
    if (this.#latestSince >= token.at) return;
    this.#state = state;
    this.#at = token.at;
    this.#windows = [];
  }

  /**
   * Call when the agent, holding the host lock, is about to change the routes to `routes` (as
   * hg writes their destinations) from the kept observation, at `now`: their echoes from then
   * on do not make the observation stale, once {@link amended} says what it made of the host.
   * Events before `now`, and any other event, still do.
   */
  beginOwn(now: number, routes: ReadonlySet<string> = new Set()): OwnChangeToken {
    this.#own = { from: now, routes };
    this.#latestOwn = -Infinity;
    // Echoes come within milliseconds: a window a minute old has seen all of its own.
    this.#windows = this.#windows.filter(([, to]) => to > now - 60_000);
    return this.#own;
  }

  /**
   * Whether an event has been reported since the change begun with `token` began (its echo,
   * most likely: `ip monitor` stamps an event when it prints it, which may be a little after
   * the change was applied).
   */
  echoed(token: OwnChangeToken): boolean {
    return this.#own === token && this.#latestOwn >= token.from;
  }

  /**
   * The change begun with `token` was done by `doneAt` (its events all happened before): the
   * kept observation becomes `update(kept)` (the host as the change left it), unless an event
   * made it stale before the change began, or one happened after it was done, or `update` does
   * not know (undefined). Then nothing is kept: the next check observes the host whole.
   * Returns whether it was kept.
   */
  amended(token: OwnChangeToken, doneAt: number, update: (kept: T) => T | undefined): boolean {
    if (this.#own !== token) return false;
    this.#own = undefined;
    const now = this.#state === undefined || this.#latestOwn >= doneAt
      ? undefined
      : update(this.#state);
    if (now === undefined) {
      this.#state = undefined;
      this.#windows = [];
      return false;
    }
    this.#state = now;
    this.#windows.push([token.from, doneAt, token.routes]);
    return true;
  }

  /** The change begun with `token` failed or was not re-read: nothing kept is trusted. */
  abandonedOwn(token: OwnChangeToken): void {
    if (this.#own !== token) return;
    this.#own = undefined;
    this.#state = undefined;
    this.#windows = [];
  }

  /** The observation begun with `token` failed: nothing is kept of it. */
  abandoned(token: ObservationToken): void {
    if (this.#pending === token) this.#pending = undefined;
  }
}
