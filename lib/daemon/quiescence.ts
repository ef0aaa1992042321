/**
 * Quiescence: a debounce with a minimum and a maximum wait, in the manner of consul-template's `wait`.
 * A lone change after a quiet period runs at once; changes during a run or within MIN of the last run
 * are coalesced until they pause for MIN, but never held longer than MAX after the first of them.
 *
 * @module
 */

/** The timer functions the scheduler uses (injectable: tests pass a fake clock). */
export interface Timers {
  /** Milliseconds since some origin. */
  now(): number;
  /** Like `setTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Like `clearTimeout`. */
  clearTimeout(id: unknown): void;
}

/** The real timers. */
export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** Options of {@linkcode createQuiescence}. */
export interface QuiescenceOptions {
  /** Quiet time that ends a burst. */
  minMs: number;
  /** Longest time a change waits. */
  maxMs: number;
  /** Timers. @default {realTimers} */
  timers?: Timers;
  /**
   * Called with anything `run` throws (runs start from timers, where a rejection would end the
   * process); the loop logs them. @default {ignored}
   */
  onError?: (error: unknown) => void;
}

/** Decides when to run the work after changes; one run at a time. */
export interface Quiescence {
  /** Reports a change. */
  notify(): void;
  /** Runs now if nothing runs (e.g. a retry or a signal), else after the current run. */
  flush(): void;
  /** Whether a run is in progress. */
  readonly running: boolean;
  /** Whether changes wait for a run. */
  readonly pending: boolean;
  /** Stops timers; later changes are ignored. */
  close(): void;
}

/**
 * Creates the scheduler around `run` (awaited; runs never overlap).
 *
 * @example
 * ```ts
 * const q = createQuiescence(() => applyOnce(), { minMs: 200, maxMs: 2000 });
 * source.onChange(() => q.notify());
 * ```
 */
export function createQuiescence(run: () => Promise<void>, options: QuiescenceOptions): Quiescence {
  return new QuiescenceTimer(run, options);
}

/** The scheduler's state: whether a run is on, when the pending changes began, when the last run ended. */
class QuiescenceTimer implements Quiescence {
  readonly #run: () => Promise<void>;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #timers: Timers;
  readonly #onError: (error: unknown) => void;
  #running = false;
  #closed = false;
  #firstPendingAt: number | null = null;
  #lastChangeAt = -Infinity;
  #lastRunEndAt = -Infinity;
  #timer: unknown = undefined;

  constructor(run: () => Promise<void>, options: QuiescenceOptions) {
    this.#run = run;
    this.#minMs = options.minMs;
    this.#maxMs = options.maxMs;
    this.#timers = options.timers ?? realTimers;
    this.#onError = options.onError ?? (() => {});
  }

  notify(): void {
    if (this.#closed) return;
    const now = this.#timers.now();
    const quiet = this.#firstPendingAt === null && !this.#running && now - this.#lastRunEndAt >= this.#minMs;
    this.#lastChangeAt = now;
    this.#firstPendingAt ??= now;
    if (quiet) void this.#start();
    else if (!this.#running) this.#arm();
  }

  flush(): void {
    if (this.#closed) return;
    this.#firstPendingAt ??= this.#timers.now();
    this.#lastChangeAt = -Infinity;
    if (!this.#running) void this.#start();
  }

  get running(): boolean {
    return this.#running;
  }

  get pending(): boolean {
    return this.#firstPendingAt !== null;
  }

  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #start(): Promise<void> {
    this.#clearTimer();
    if (this.#closed || this.#running) return;
    this.#running = true;
    this.#firstPendingAt = null;
    try {
      await this.#run();
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // the error reporter itself failed: nothing is left to tell
      }
    } finally {
      this.#running = false;
      this.#lastRunEndAt = this.#timers.now();
      if (this.#firstPendingAt !== null) this.#arm();
    }
  }

  #arm(): void {
    if (this.#closed || this.#firstPendingAt === null) return;
    const due = Math.min(this.#lastChangeAt + this.#minMs, this.#firstPendingAt + this.#maxMs);
    this.#clearTimer();
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      void this.#start();
    }, Math.max(0, due - this.#timers.now()));
  }
}
