/**
 * An abortable pause (JSR's `@std/async/delay` is out of reach here).
 *
 * @module
 */

/** Options of {@linkcode delay}. */
export interface DelayOptions {
  /** Ends the pause early. */
  signal?: AbortSignal | undefined;
  /** On abort, resolve (just stop waiting) instead of rejecting with the signal's reason. @default {false} */
  resolveOnAbort?: boolean;
}

/**
 * Waits `ms` milliseconds; an abort rejects with the signal's reason, or resolves with `resolveOnAbort`.
 *
 * @example
 * ```ts
 * await delay(500, { signal });
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal, resolveOnAbort = false } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return resolveOnAbort ? resolve() : reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      if (resolveOnAbort) resolve();
      else reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
