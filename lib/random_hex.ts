/**
 * Random names for temporary files and lock tokens, from Web Crypto: node:crypto costs a
 * command milliseconds to load (2.5-4 ms of `hg status`'s start-up under Bun).
 *
 * @module
 */

/**
 * `bytes` random bytes as lower-case hex.
 *
 * @example
 * ```ts
 * randomHex(4); // "9f04c2d1"
 * ```
 */
export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
