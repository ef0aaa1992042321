/** Unit tests of the test API server's object store (lib/demo/kube_store.ts) and its lists and watches. */
import assert from "node:assert/strict";
import { type CacheEvent, KubeStore, type ResourceState, type Watch } from "../../lib/demo/kube_store.ts";
import { listObjects } from "../../lib/demo/kube_list.ts";
import { publishEvent } from "../../lib/demo/kube_watch.ts";
import { type JsonObject, meta, RESOURCES, StatusError } from "../../lib/demo/kube_objects.ts";
import type { HttpStream } from "../../lib/demo/kube_http.ts";
import { Timers } from "../../lib/demo/kube_timers.ts";

function endpoints(namespace: string, name: string, labels: Record<string, string> = {}): JsonObject {
  return { metadata: { namespace, name, labels }, subsets: [] };
}

function storeWith(events: CacheEvent[] = []): KubeStore {
  return new KubeStore(
    { objects: { endpoints: [endpoints("a", "web")] }, managedFields: false },
    (_: ResourceState, event: CacheEvent) => events.push(event),
  );
}

/** A watch stream that keeps what is written to it. */
function recordingStream(): HttpStream & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    write: (data) => lines.push(String(data)) > 0,
    end: () => {},
    abort: () => {},
    closed: false,
    onClose: () => {},
  };
}

Deno.test("KubeStore() seeds objects without events; later writes are events under new RVs", () => {
  const events: CacheEvent[] = [];
  const store = storeWith(events);
  assert.equal(store.rv, 101);
  assert.equal(events.length, 0);
  store.upsert("endpoints", endpoints("a", "api"), "test");
  store.remove("endpoints", "a", "web");
  const seen = events.map((e) => [e.type, e.rv, meta(e.obj).name]);
  assert.deepEqual(seen, [["ADDED", 102, "api"], ["DELETED", 103, "web"]]);
});

Deno.test("KubeStore.create() refuses an existing name with 409; update() of an unchanged object is no event", () => {
  const events: CacheEvent[] = [];
  const store = storeWith(events);
  assert.throws(
    () => store.create(RESOURCES.endpoints, endpoints("a", "web"), "test"),
    (error) => error instanceof StatusError && error.code === 409 && error.reason === "AlreadyExists",
  );
  const result = store.update(RESOURCES.endpoints, endpoints("a", "web"), "test", false);
  assert.equal(result.created, false);
  assert.deepEqual(events, []);
  assert.equal(store.rv, 101);
});

Deno.test("listObjects() pages a snapshot with continue tokens, and 410s a token older than a compaction", async () => {
  const store = storeWith();
  for (const name of ["b", "c"]) store.upsert("endpoints", endpoints("a", name), "test");
  const context = { store, timers: new Timers(), tooLargeWaitMs: 0, closed: () => false };
  const state = store.state("endpoints");
  const first = await listObjects(context, state, undefined, new URLSearchParams({ limit: "2" }));
  const token = (first.metadata as JsonObject).continue as string;
  assert.deepEqual((first.items as JsonObject[]).map((o) => meta(o).name), ["b", "c"]);
  assert.equal((first.metadata as JsonObject).remainingItemCount, 1);
  const rest = await listObjects(context, state, undefined, new URLSearchParams({ continue: token }));
  assert.deepEqual((rest.items as JsonObject[]).map((o) => meta(o).name), ["web"]);
  store.upsert("endpoints", endpoints("a", "d"), "test");
  store.compact(false);
  await assert.rejects(
    listObjects(context, state, undefined, new URLSearchParams({ continue: token })),
    (error) => error instanceof StatusError && error.code === 410,
  );
});

Deno.test("publishEvent() turns an object leaving a watch's label selector into DELETED, returning into ADDED", () => {
  const store = new KubeStore({ managedFields: false }, publishEvent);
  const stream = recordingStream();
  const watch: Watch = {
    type: RESOURCES.endpoints,
    namespace: undefined,
    labels: [{ key: "app", op: "=", values: ["web"] }],
    fields: [],
    fromRV: 0,
    startRV: 0,
    bookmarks: false,
    stream,
    stalled: false,
  };
  store.state("endpoints").watches.add(watch);
  store.upsert("endpoints", endpoints("a", "x", { app: "web" }), "test");
  store.upsert("endpoints", endpoints("a", "x", { app: "other" }), "test");
  store.upsert("endpoints", endpoints("a", "x", { app: "web" }), "test");
  store.upsert("endpoints", endpoints("a", "y", { app: "other" }), "test");
  assert.deepEqual(stream.lines.map((line) => JSON.parse(line).type), ["ADDED", "DELETED", "ADDED"]);
});
