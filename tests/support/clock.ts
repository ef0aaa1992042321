/**
 * A fake clock for the global timers, for tests of code that calls `setTimeout` itself.
 *
 * @module
 */
import FakeTimers from "@sinonjs/fake-timers";

/** The installed fake clock. */
export type FakeClock = ReturnType<typeof FakeTimers.install>;

/** Runs `fn` with `setTimeout` and `clearTimeout` faked; the real ones are back afterwards. */
export async function withFakeTimeouts(fn: (clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    await fn(clock);
  } finally {
    clock.uninstall();
  }
}
