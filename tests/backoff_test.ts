import assert from "node:assert/strict";
import { Backoff, backoffDelay } from "../lib/backoff.ts";

Deno.test("backoffDelay() grows exponentially with jitter and a cap", () => {
  assert.equal(backoffDelay(0, 100, 1000, () => 0.5), 0);
  assert.equal(backoffDelay(1, 100, 1000, () => 0), 50);
  assert.equal(backoffDelay(1, 100, 1000, () => 0.999999), 100);
  assert.equal(backoffDelay(3, 100, 1000, () => 0), 200);
  assert.equal(backoffDelay(20, 100, 1000, () => 0), 500);
  assert.equal(backoffDelay(200, 100, 1000, () => 0.999999), 1000);
});

Deno.test("Backoff counts failures, doubles up to its cap and starts over on reset()", () => {
  const backoff = new Backoff(100, 1000, () => 0.999999);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [100, 200, 400]);
  assert.equal(backoff.failures, 3);
  for (let i = 0; i < 10; i++) backoff.next();
  assert.equal(backoff.next(), 1000);
  backoff.reset();
  assert.equal(backoff.failures, 0);
  assert.equal(backoff.next(), 100);
  assert.equal(new Backoff(100, 1000, () => 0).next(), 50);
});
