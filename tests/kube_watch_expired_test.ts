import assert from "node:assert/strict";
import { createKubeClient } from "../lib/kube/client.ts";
import { createWatcher } from "../lib/kube/watch.ts";
import { ENDPOINTS_KIND } from "../lib/kube/source.ts";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { plainConnection } from "./support/kube_connection.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ep = (name: string) => ({ metadata: { name, namespace: "a" }, subsets: [] });

Deno.test("createWatcher() backs off when a list's continue token keeps expiring", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("a"), ep("b"), ep("c")] } });
  const client = createKubeClient(plainConnection([server.url]));
  const watcher = createWatcher(client, ENDPOINTS_KIND, { pageSize: 1 });
  server.failNext(10_000, { status: 410, path: /continue=/ });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await sleep(1000);
    const lists = server.requests.filter((r) => !r.watch).length;
    assert.ok(lists < 50, `${lists} list requests in one second`);
  } finally {
    c.abort();
    await run;
    client.close();
  }
});

Deno.test("createWatcher() backs off when every watch answers 410", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("a")] } });
  const client = createKubeClient(plainConnection([server.url]));
  const watcher = createWatcher(client, ENDPOINTS_KIND, {});
  server.failNext(10_000, { status: 410, watch: true });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await sleep(1000);
    const lists = server.requests.filter((r) => !r.watch).length;
    assert.ok(lists < 50, `${lists} list requests in one second`);
  } finally {
    c.abort();
    await run;
    client.close();
  }
});
