import assert from "node:assert/strict";
import { withFakeTimeouts } from "../support/clock.ts";
import { initialStatus, type Source, type SourceStatus, waitForSync } from "../../lib/source/source.ts";

/** A source whose status the test sets, telling its listeners on each change. */
function fakeSource(): Source & { set(change: Partial<SourceStatus>): void } {
  let status = initialStatus("kube", "https://127.0.0.1:6443", "endpointslices");
  const listeners: (() => void)[] = [];
  return {
    run: () => Promise.resolve(),
    snapshot: () => [],
    onChange: (listener) => void listeners.push(listener),
    status: () => status,
    set(change) {
      status = { ...status, ...change };
      for (const listener of listeners) listener();
    },
  };
}

Deno.test("initialStatus() starts unsynced and empty, with containers of its own", () => {
  const a = initialStatus("file", "/tmp/x.json", "endpoints");
  assert.deepEqual([a.kind, a.endpoint, a.resource, a.synced, a.objects], [
    "file",
    "/tmp/x.json",
    "endpoints",
    false,
    0,
  ]);
  assert.deepEqual([a.lastEventAt, a.lastFullSyncAt, a.lastError, a.fullSyncs], [null, null, null, 0]);
  const b = initialStatus("file", "/tmp/x.json", "endpoints");
  for (const key of ["namespaces", "events", "restarts", "problems"] as const) {
    assert.notEqual(a[key], b[key], key);
  }
});

Deno.test("waitForSync() resolves at once for a synced source and on the change that syncs it", async () => {
  await withFakeTimeouts(async (clock) => {
    const synced = fakeSource();
    synced.set({ synced: true });
    await waitForSync(synced, new Promise(() => {}), 1000);

    const source = fakeSource();
    let settled = false;
    const waiting = waitForSync(source, new Promise(() => {}), 1000).then(() => settled = true);
    source.set({ objects: 3 });
    await clock.tickAsync(0);
    assert.equal(settled, false);
    source.set({ synced: true });
    await waiting;
    assert.equal(clock.countTimers(), 0, "the deadline is cleared");
  });
});

Deno.test("waitForSync() times out naming the last error, or plainly without one", async () => {
  await withFakeTimeouts(async (clock) => {
    const cases: [string | null, string][] = [
      ["401 Unauthorized", "No complete sync with the source within 1000ms: 401 Unauthorized"],
      [null, "No complete sync with the source within 1000ms"],
    ];
    for (const [lastError, message] of cases) {
      const source = fakeSource();
      source.set({ lastError });
      const waiting = assert.rejects(waitForSync(source, new Promise(() => {}), 1000), (error: unknown) => {
        assert.equal((error as Error).message, message);
        return true;
      });
      await clock.tickAsync(1000);
      await waiting;
    }
  });
});

Deno.test("waitForSync() fails when the source stops or fails before its first sync", async () => {
  await withFakeTimeouts(async (clock) => {
    await assert.rejects(
      waitForSync(fakeSource(), Promise.resolve(), 1000),
      /^Error: The source stopped before its first complete sync$/,
    );
    const failure = new Error("Cannot watch: the API server went away");
    await assert.rejects(
      waitForSync(fakeSource(), Promise.reject(failure), 1000),
      (error) => error === failure,
    );
    // A run that ends after syncing (e.g. `--from -` read once) is a success.
    const once = fakeSource();
    const { promise: running, resolve } = Promise.withResolvers<void>();
    const waiting = waitForSync(once, running, 1000);
    once.set({ synced: true });
    resolve();
    await waiting;
    assert.equal(clock.countTimers(), 0);
  });
});
