/**
 * The test API server's timers (watch timeouts, bookmarks, list waits), kept in one set so that closing the
 * server clears every one of them.
 *
 * @module
 */

/** A timer id. */
export type Timer = ReturnType<typeof setTimeout>;

/** The pending timers of one server. */
export class Timers {
  readonly #pending = new Set<Timer>();

  /** Runs `fn` after `ms`, unless cleared first. */
  set(fn: () => void, ms: number): Timer {
    const id = setTimeout(() => {
      this.#pending.delete(id);
      fn();
    }, ms);
    this.#pending.add(id);
    return id;
  }

  /** Cancels one timer. */
  clear(id: Timer): void {
    clearTimeout(id);
    this.#pending.delete(id);
  }

  /** Cancels every pending timer. */
  clearAll(): void {
    for (const id of this.#pending) clearTimeout(id);
    this.#pending.clear();
  }
}
