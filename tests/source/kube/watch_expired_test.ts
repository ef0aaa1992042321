import assert from "node:assert/strict";
import { createKubeClient } from "../../../lib/source/kube/client.ts";
import { createWatcher } from "../../../lib/source/kube/watch.ts";
import { ENDPOINTS_KIND } from "../../../lib/source/kube/source.ts";
import { waitFor } from "../../support/haproxy.ts";
import { startKubeServer } from "../../../lib/demo/kube_server.ts";
import { plainConnection } from "../../support/kube_connection.ts";
import { recordedSleep } from "../../support/kube_watch.ts";

const ep = (name: string) => ({ metadata: { name, namespace: "a" }, subsets: [] });
const TUNING = { backoffBaseMs: 100, backoffCapMs: 1000, random: () => 1 } as const;
/** The waits of consecutive failures 1..6 with TUNING: doubling from the base up to the cap. */
const BACKOFF = [100, 200, 400, 800, 1000, 1000];

Deno.test("createWatcher() backs off when a list's continue token keeps expiring", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("a"), ep("b"), ep("c")] } });
  const client = createKubeClient(plainConnection([server.url]));
  const { waits, sleep } = recordedSleep(BACKOFF.length);
  const watcher = createWatcher(client, ENDPOINTS_KIND, { pageSize: 1, ...TUNING, sleep });
  server.failNext(10_000, { status: 410, path: /continue=/ });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await waitFor(() => waits.length === BACKOFF.length, { what: `${BACKOFF.length} backoff waits` });
    assert.deepEqual(waits, BACKOFF);
    assert.equal(watcher.stats.restarts.expired, BACKOFF.length, "every wait followed an expired list");
    const lists = server.requests.filter((r) => !r.watch);
    // Each attempt: first page, an expired continue, the list started over once, expired again.
    assert.equal(lists.length, BACKOFF.length * 4);
    assert.deepEqual(
      lists.slice(0, 4).map((r) => [r.query.has("continue"), r.status]),
      [[false, 200], [true, 410], [false, 200], [true, 410]],
    );
    assert.equal(watcher.stats.synced, false);
  } finally {
    c.abort();
    await run;
    client.close();
  }
});

Deno.test("createWatcher() backs off when every watch answers 410", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("a")] } });
  const client = createKubeClient(plainConnection([server.url]));
  const { waits, sleep } = recordedSleep(BACKOFF.length);
  const watcher = createWatcher(client, ENDPOINTS_KIND, { ...TUNING, sleep });
  server.failNext(10_000, { status: 410, watch: true });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await waitFor(() => waits.length === BACKOFF.length, { what: `${BACKOFF.length} backoff waits` });
    assert.deepEqual(waits, BACKOFF);
    assert.equal(watcher.stats.restarts.expired, BACKOFF.length);
    // Every 410 led to a relist, and only one watch per relist.
    const watches = server.requests.filter((r) => r.watch);
    assert.deepEqual(watches.map((r) => r.status), BACKOFF.map(() => 410));
    assert.equal(server.requests.filter((r) => !r.watch).length, BACKOFF.length);
    assert.equal(watcher.stats.fullSyncs, 1, "relists forced by failing watches confirm nothing");
  } finally {
    c.abort();
    await run;
    client.close();
  }
});
