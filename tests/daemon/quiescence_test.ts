import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { createQuiescence, type Timers } from "../../lib/daemon/quiescence.ts";

function setup(minMs: number, maxMs: number, runMs = 0) {
  const clock = FakeTimers.createClock(1_000_000);
  const timers: Timers = {
    now: () => clock.now,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (id) => clock.clearTimeout(id as FakeTimers.TimerId),
  };
  const runs: number[] = [];
  const q = createQuiescence(async () => {
    runs.push(clock.now - 1_000_000);
    if (runMs > 0) await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), runMs));
  }, { minMs, maxMs, timers });
  return { clock, runs, q };
}

Deno.test("createQuiescence() runs a lone change after a quiet period at once", async () => {
  const { clock, runs, q } = setup(200, 2000);
  q.notify();
  await clock.tickAsync(0);
  assert.deepEqual(runs, [0]);
  await clock.tickAsync(5000);
  q.notify();
  await clock.tickAsync(0);
  assert.deepEqual(runs, [0, 5000]);
  q.close();
});

Deno.test("createQuiescence() coalesces a burst until it pauses for MIN", async () => {
  const { clock, runs, q } = setup(200, 2000);
  q.notify(); // t=0 runs at once
  await clock.tickAsync(0);
  for (let i = 0; i < 10; i++) {
    await clock.tickAsync(50);
    q.notify(); // t=50..500, each within MIN of the last
  }
  await clock.tickAsync(199);
  assert.deepEqual(runs, [0]);
  await clock.tickAsync(1);
  assert.deepEqual(runs, [0, 700]);
  q.close();
});

Deno.test("createQuiescence() never holds a change longer than MAX", async () => {
  const { clock, runs, q } = setup(200, 1000);
  q.notify();
  await clock.tickAsync(0);
  for (let i = 0; i < 100; i++) {
    await clock.tickAsync(100);
    q.notify(); // a change every 100 ms, forever: never quiet for 200 ms
  }
  // The first pending change (t=100) runs at t=1100; the change that arrives right after waits until 2100.
  assert.deepEqual(runs.slice(0, 3), [0, 1100, 2100]);
  assert.ok(runs.length <= 11, `${runs.length} runs for 100 changes`);
  q.close();
});

Deno.test("createQuiescence() never overlaps runs and coalesces changes made during a run", async () => {
  const { clock, runs, q } = setup(200, 2000, 500);
  q.notify();
  await clock.tickAsync(0);
  for (let i = 0; i < 5; i++) {
    await clock.tickAsync(50);
    q.notify();
  }
  assert.equal(q.running, true);
  await clock.tickAsync(1000);
  // The run ended at 500; the last change (250) was quiet for MIN by then → one more run right away.
  assert.equal(runs.length, 2);
  assert.ok(runs[1]! >= 500 && runs[1]! <= 501, String(runs[1]));
  await clock.tickAsync(5000);
  assert.equal(runs.length, 2);
  q.close();
});

Deno.test("createQuiescence() flush() runs now, and close() stops everything", async () => {
  const { clock, runs, q } = setup(200, 2000);
  q.notify();
  await clock.tickAsync(10);
  q.notify(); // would wait for MIN
  q.flush();
  await clock.tickAsync(0);
  assert.deepEqual(runs, [0, 10]);
  q.notify();
  q.close();
  await clock.tickAsync(5000);
  assert.deepEqual(runs, [0, 10]);
});

Deno.test("createQuiescence() reports a run that throws and keeps scheduling", async () => {
  const clock = FakeTimers.createClock(0);
  const timers = {
    now: () => clock.now,
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (id: unknown) => clock.clearTimeout(id as FakeTimers.TimerId),
  };
  const errors: unknown[] = [];
  let runs = 0;
  const q = createQuiescence(() => {
    runs++;
    return Promise.reject(new Error(`run ${runs} broke`));
  }, { minMs: 100, maxMs: 1000, timers, onError: (error) => void errors.push(error) });
  q.notify();
  await clock.tickAsync(0);
  q.notify();
  await clock.tickAsync(200);
  assert.equal(runs, 2);
  assert.deepEqual(errors.map((e) => (e as Error).message), ["run 1 broke", "run 2 broke"]);
  assert.equal(q.running, false);
  q.close();
});
