/**
 * Helpers for watcher tests: a recorded `sleep`, so backoff is asserted from the waits the watcher asks
 * for, never from the clock.
 *
 * @module
 */
import type { WatcherOptions } from "../../lib/source/kube/watch.ts";

/**
 * A watcher's `sleep` that records each wait and returns at once, up to `limit` waits; the wait that
 * reaches the limit lasts until the watcher is stopped (so a failing loop cannot run away).
 */
export function recordedSleep(limit = Number.POSITIVE_INFINITY): {
  waits: number[];
  sleep: NonNullable<WatcherOptions<unknown>["sleep"]>;
} {
  const waits: number[] = [];
  return {
    waits,
    sleep: (ms, signal) => {
      waits.push(ms);
      if (waits.length < limit || signal.aborted) return Promise.resolve();
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    },
  };
}
