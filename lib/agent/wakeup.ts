/**
 * A wake-up call for a loop that sleeps between rounds: `poke()` ends its current (or next)
 * wait early, and several pokes before it wakes count as one.
 *
 * @module
 */

/**
 * Sleeps that can be cut short.
 *
 * @example
 * ```ts
 * const wakeup = new Wakeup();
 * setTimeout(() => wakeup.poke(), 10);
 * await wakeup.wait(60_000, new AbortController().signal); // true after ~10 ms
 * ```
 */
export class Wakeup {
  #poked = false;
  #wake: (() => void) | undefined;

  /** Ends the current wait now, or the next one as soon as it starts. */
  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  /**
   * Waits `ms`, or less when poked or when `signal` aborts; true when it was poked. The timer
   * and the abort listener go with the wait: loops wait forever, and must not leak either.
   */
  wait(ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        const poked = this.#poked;
        this.#poked = false;
        resolve(poked);
      };
      const timer = setTimeout(done, this.#poked || signal.aborted ? 0 : ms);
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @example
 * ```ts
 * const signal = AbortSignal.timeout(60_000);
 * await sleep(500, signal);
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Wakeup().wait(ms, signal).then(() => {});
}
