import assert from "node:assert/strict";
import { createKubeClient } from "../../../lib/source/kube/client.ts";
import { createWatcher } from "../../../lib/source/kube/watch.ts";
import { ENDPOINTS_KIND } from "../../../lib/source/kube/source.ts";
import { waitFor } from "../../support/haproxy.ts";
import { startKubeServer } from "../../../lib/demo/kube_server.ts";
import { plainConnection } from "../../support/kube_connection.ts";
import { recordedSleep } from "../../support/kube_watch.ts";

Deno.test("createWatcher() forgets an outage's backoff once a quiet watch ends cleanly at timeoutSeconds", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [{ metadata: { name: "web", namespace: "a" }, subsets: [] }] },
  });
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const { waits, sleep } = recordedSleep();
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    watchTimeoutSeconds: 1,
    backoffBaseMs: 100,
    backoffCapMs: 30_000,
    random: () => 1,
    sleep,
  });
  server.failNext(5, { status: 500, watch: true }); // a short outage of the watch endpoint
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    // Two quiet watches that the server ended at their timeoutSeconds.
    await waitFor(() => (watcher.stats.restarts.closed ?? 0) >= 2, { what: "two cleanly ended watches" });
    assert.equal(watcher.stats.restarts.error, 5);
    // The outage backed off exponentially (random() = 1: the whole delay)...
    assert.deepEqual(waits.slice(0, 5), [100, 200, 400, 800, 1600]);
    // ...and each watch that ended cleanly was reopened at once, the outage forgotten.
    assert.ok(waits.length >= 7, `waits: ${waits}`);
    assert.deepEqual(waits.slice(5), waits.slice(5).map(() => 0), `waits: ${waits}`);
  } finally {
    c.abort();
    await run;
    client.close();
  }
});

Deno.test("createWatcher() waits as long as a 429's Retry-After asks before trying again", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [{ metadata: { name: "web", namespace: "a" }, subsets: [] }] },
  });
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const { waits, sleep } = recordedSleep();
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    backoffBaseMs: 10,
    backoffCapMs: 50,
    random: () => 1,
    sleep,
  });
  server.failNext(1, {
    status: 429,
    retryAfterSeconds: 1,
    path: "/api/v1/endpoints",
    reason: "TooManyRequests",
  });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await waitFor(() => watcher.stats.synced, { what: "the first complete list" });
    const lists = server.requests.filter((r) => !r.watch && r.path === "/api/v1/endpoints");
    assert.deepEqual(lists.map((r) => r.status), [429, 200]);
    // Backoff alone would have waited 10 ms; Retry-After asked for 1 s.
    assert.deepEqual(waits, [1000]);
  } finally {
    c.abort();
    await run;
    client.close();
  }
});
