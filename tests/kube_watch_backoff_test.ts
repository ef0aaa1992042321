import assert from "node:assert/strict";
import { createKubeClient } from "../lib/kube/client.ts";
import { createWatcher } from "../lib/kube/watch.ts";
import { ENDPOINTS_KIND } from "../lib/kube/source.ts";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { plainConnection } from "./support/kube_connection.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("createWatcher() forgets an outage's backoff once a quiet watch ends cleanly at timeoutSeconds", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [{ metadata: { name: "web", namespace: "a" }, subsets: [] }] },
  });
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    watchTimeoutSeconds: 1,
    backoffBaseMs: 100,
    backoffCapMs: 30_000,
    random: () => 1,
  });
  server.failNext(5, { status: 500, watch: true }); // a short outage of the watch endpoint
  const c = new AbortController();
  const run = watcher.run(c.signal);
  const arrivals: number[] = [];
  try {
    const t0 = performance.now();
    let seen = 0;
    while (performance.now() - t0 < 12_000 && arrivals.length < 5) {
      const n = server.requests.filter((r) => r.watch && r.status === 200).length;
      if (n > seen) {
        seen = n;
        arrivals.push(performance.now());
      }
      await sleep(5);
    }
    const gaps = arrivals.slice(1).map((t, i) => Math.round(t - arrivals[i]!));
    // healthy quiet watches end at 1 s and should be reopened at once: gaps ~1000 ms
    for (const g of gaps) assert.ok(g < 1300, `gap ${g}ms between quiet 1 s watches: ${gaps}`);
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
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    backoffBaseMs: 10,
    backoffCapMs: 50,
    random: () => 1,
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
    const t0 = performance.now();
    while (!watcher.stats.synced && performance.now() - t0 < 5000) await sleep(5);
    assert.ok(watcher.stats.synced, "synced after the throttled first list");
    const lists = server.requests.filter((r) => !r.watch && r.path === "/api/v1/endpoints");
    assert.equal(lists[0]?.status, 429);
    assert.equal(lists.length, 2);
    const waited = performance.now() - t0;
    assert.ok(
      waited >= 950,
      `retried after ${waited.toFixed(0)} ms, Retry-After said 1 s (backoff alone: 50 ms)`,
    );
  } finally {
    c.abort();
    await run;
    client.close();
  }
});
