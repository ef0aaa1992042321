/**
 * The project's one retry backoff: exponential, capped, with "equal jitter" so that many clients
 * failing together do not retry together.
 *
 * @module
 */

/**
 * The delay before retrying after the `attempt`-th consecutive failure: 0 for attempt 0, then
 * `base * 2^(attempt-1)` capped at `cap`, jittered between half and all of it.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return 0;
  const full = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(full / 2 + random() * full / 2);
}

/** Counts consecutive failures and hands out the delay before each next try ({@linkcode backoffDelay}). */
export class Backoff {
  #failures = 0;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;

  /** A backoff starting at `baseMs` (jittered down to half) and doubling up to `capMs`. */
  constructor(baseMs: number, capMs: number, random: () => number = Math.random) {
    this.#baseMs = baseMs;
    this.#capMs = capMs;
    this.#random = random;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts one more failure and returns the delay before the next try. */
  next(): number {
    this.#failures++;
    return backoffDelay(this.#failures, this.#baseMs, this.#capMs, this.#random);
  }

  /** Forgets the failures: the next delay is the first one again. */
  reset(): void {
    this.#failures = 0;
  }
}
