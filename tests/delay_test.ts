import assert from "node:assert/strict";
import { withFakeTimeouts } from "./support/clock.ts";
import { delay } from "../lib/delay.ts";

/** Whether `promise` has settled, and how. */
function watch(promise: Promise<void>): { state: "pending" | "resolved" | "rejected"; reason?: unknown } {
  const seen: { state: "pending" | "resolved" | "rejected"; reason?: unknown } = { state: "pending" };
  promise.then(() => seen.state = "resolved", (reason) => Object.assign(seen, { state: "rejected", reason }));
  return seen;
}

Deno.test("delay() resolves once its time has passed, not before", async () => {
  await withFakeTimeouts(async (clock) => {
    const seen = watch(delay(500));
    await clock.tickAsync(499);
    assert.equal(seen.state, "pending");
    await clock.tickAsync(1);
    assert.equal(seen.state, "resolved");
  });
});

Deno.test("delay() rejects with the signal's reason on abort, and clears its timer", async () => {
  await withFakeTimeouts(async (clock) => {
    const controller = new AbortController();
    const seen = watch(delay(500, { signal: controller.signal }));
    await clock.tickAsync(100);
    const reason = new Error("stopping");
    controller.abort(reason);
    await clock.tickAsync(0);
    assert.deepEqual(seen, { state: "rejected", reason });
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("delay() with resolveOnAbort just stops waiting", async () => {
  await withFakeTimeouts(async (clock) => {
    const controller = new AbortController();
    const seen = watch(delay(500, { signal: controller.signal, resolveOnAbort: true }));
    controller.abort();
    await clock.tickAsync(0);
    assert.equal(seen.state, "resolved");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("delay() settles at once for a signal already aborted, setting no timer", async () => {
  await withFakeTimeouts(async (clock) => {
    const reason = new Error("already");
    const aborted = AbortSignal.abort(reason);
    await assert.rejects(delay(500, { signal: aborted }), (error) => error === reason);
    await delay(500, { signal: aborted, resolveOnAbort: true });
    assert.equal(clock.countTimers(), 0);
  });
});
