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
  const { minMs, maxMs, timers = realTimers, onError = () => {} } = options;
  let running = false;
  let closed = false;
  let firstPendingAt: number | null = null;
  let lastChangeAt = -Infinity;
  let lastRunEndAt = -Infinity;
  let timer: unknown = undefined;

  function clearTimer(): void {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
  }

  async function start(): Promise<void> {
    clearTimer();
    if (closed || running) return;
    running = true;
    firstPendingAt = null;
    try {
      await run();
    } catch (error) {
      try {
        onError(error);
      } catch {
        // the error reporter itself failed: nothing is left to tell
      }
    } finally {
      running = false;
      lastRunEndAt = timers.now();
      if (firstPendingAt !== null) arm();
    }
  }

  function arm(): void {
    if (closed || firstPendingAt === null) return;
    const due = Math.min(lastChangeAt + minMs, firstPendingAt + maxMs);
    clearTimer();
    timer = timers.setTimeout(() => {
      timer = undefined;
      void start();
    }, Math.max(0, due - timers.now()));
  }

  return {
    notify() {
      if (closed) return;
      const now = timers.now();
      const quiet = firstPendingAt === null && !running && now - lastRunEndAt >= minMs;
      lastChangeAt = now;
      firstPendingAt ??= now;
      if (quiet) void start();
      else if (!running) arm();
    },
    flush() {
      if (closed) return;
      firstPendingAt ??= timers.now();
      lastChangeAt = -Infinity;
      if (!running) void start();
    },
    get running() {
      return running;
    },
    get pending() {
      return firstPendingAt !== null;
    },
    close() {
      closed = true;
      clearTimer();
    },
  };
}
