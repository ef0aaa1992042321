import assert from "node:assert/strict";
import {
  Expired,
  type KubeClient,
  type KubeStream,
  type RequestAction,
  ServerError,
} from "../../../lib/source/kube/client.ts";
import {
  type Change,
  collectionPath,
  createWatcher,
  LineSplitter,
  type ResourceKind,
  type WatcherOptions,
} from "../../../lib/source/kube/watch.ts";
import { memoryLogger } from "../../../lib/log.ts";
import { createKubeClient, parseJsonBytes } from "../../../lib/source/kube/client.ts";
import type { EndpointSet } from "../../../lib/model/endpoints.ts";
import { ENDPOINTS_KIND } from "../../../lib/source/kube/source.ts";
import { type JsonObject, startKubeServer } from "../../../lib/demo/kube_server.ts";
import { plainConnection } from "../../support/kube_connection.ts";
import { recordedSleep } from "../../support/kube_watch.ts";

Deno.test("LineSplitter() joins lines split across chunks", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"a":'), []);
  assert.deepEqual(s.push('1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(":2}\r\n\n{"), ['{"b":2}', ""]);
  assert.equal(s.rest(), "{");
});

Deno.test("collectionPath() builds core and group paths", () => {
  const core = { resource: "endpoints", kind: "Endpoints", group: "", version: "v1", project: () => "" };
  const group = {
    resource: "endpointslices",
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
    version: "v1",
    project: () => "",
  };
  assert.equal(collectionPath(core), "/api/v1/endpoints");
  assert.equal(collectionPath(core, "ns-a"), "/api/v1/namespaces/ns-a/endpoints");
  assert.equal(collectionPath(group, "b"), "/apis/discovery.k8s.io/v1/namespaces/b/endpointslices");
});

// ---- an in-process fake API: list pages, scripted watch streams ----

interface Obj {
  kind: "Thing";
  apiVersion: "v1";
  metadata: { namespace: string; name: string; resourceVersion: string };
  value: unknown;
}

/** Projects `value` when it is a number; anything else is malformed. */
const KIND: ResourceKind<number> = {
  resource: "things",
  kind: "Thing",
  group: "",
  version: "v1",
  project(object) {
    const value = (object as Obj).value;
    return typeof value === "number" ? value : `value is not a number`;
  },
};

class FakeApi {
  objects = new Map<string, Obj>();
  rv = 100;
  requests: { verb: string; query: Record<string, string> }[] = [];
  streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  openErrors: Error[] = [];
  listErrors: Error[] = [];
  #watchWaiters: (() => void)[] = [];
  #encoder = new TextEncoder();

  put(name: string, value: unknown): Obj {
    const obj: Obj = {
      kind: "Thing",
      apiVersion: "v1",
      metadata: { namespace: "ns", name, resourceVersion: String(++this.rv) },
      value,
    };
    this.objects.set(name, obj);
    return obj;
  }

  /** Sends raw text on the newest watch stream. */
  send(text: string): void {
    const stream = this.streams[this.streams.length - 1];
    assert.ok(stream, "no watch open");
    stream.enqueue(this.#encoder.encode(text));
  }

  event(type: string, object: unknown): void {
    this.send(JSON.stringify({ type, object }) + "\n");
  }

  /** Ends the newest watch with a 410 Expired ERROR event. */
  expire(): void {
    this.event("ERROR", {
      kind: "Status",
      apiVersion: "v1",
      code: 410,
      reason: "Expired",
      message: "too old",
    });
  }

  /** Records each list request in `events` as `get <continue token or ->`. */
  recordGets(events: string[]): void {
    const getJson = this.client.getJson;
    this.client.getJson = (path, query, action, signal, parse) => {
      events.push(`get ${query.continue ?? "-"}`);
      return getJson(path, query, action, signal, parse);
    };
  }

  async nextWatch(count: number): Promise<void> {
    while (this.streams.length < count) await new Promise<void>((r) => this.#watchWaiters.push(r));
  }

  client: KubeClient = {
    identity: "test",
    server: () => "http://fake",
    getJson: (
      _path: string,
      query: Record<string, string>,
      action: RequestAction,
      _signal?: AbortSignal,
      parse: (body: Uint8Array<ArrayBuffer>) => unknown = parseJsonBytes,
    ) => {
      this.requests.push({ verb: action.verb, query });
      const error = this.listErrors.shift();
      if (error) return Promise.reject(error);
      const items = [...this.objects.values()];
      const start = Number(query.continue ?? 0);
      const limit = Number(query.limit);
      const page = items.slice(start, start + limit);
      const more = start + limit < items.length;
      // Through the caller's parser, as the real client does: the list's items come as their JSON texts.
      return Promise.resolve(parse(new TextEncoder().encode(JSON.stringify({
        kind: "ThingList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.rv), ...(more ? { continue: String(start + limit) } : {}) },
        items: page,
      }))));
    },
    openStream: (_path: string, query: Record<string, string>, action: RequestAction) => {
      this.requests.push({ verb: action.verb, query });
      const error = this.openErrors.shift();
      if (error) return Promise.reject(error);
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
      this.streams.push(controller);
      for (const w of this.#watchWaiters.splice(0)) w();
      const stream: KubeStream = {
        server: "http://fake",
        body,
        close: () => Promise.resolve(),
      };
      return Promise.resolve(stream);
    },
    close: () => {},
  };
}

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function withWatcher(
  api: FakeApi,
  options: WatcherOptions<number>,
  fn: (w: ReturnType<typeof createWatcher<number>>, changes: Change<number>[][]) => Promise<void>,
): Promise<void> {
  const changes: Change<number>[][] = [];
  const watcher = createWatcher(api.client, KIND, {
    backoffBaseMs: 5,
    backoffCapMs: 20,
    ...options,
    onChange: (c) => changes.push([...c]),
  });
  const controller = new AbortController();
  const running = watcher.run(controller.signal);
  try {
    await fn(watcher, changes);
  } finally {
    controller.abort();
    await running;
  }
}

Deno.test("createWatcher() lists in pages, then watches from the list's resourceVersion with bookmarks", async () => {
  const api = new FakeApi();
  for (let i = 0; i < 5; i++) api.put(`o${i}`, i);
  await withWatcher(
    api,
    { pageSize: 2, labelSelector: "a=b", watchTimeoutSeconds: 7 },
    async (w, changes) => {
      await api.nextWatch(1);
      assert.deepEqual(api.requests.map((r) => r.query.continue ?? "-"), ["-", "2", "4", "-"]);
      assert.ok(api.requests.every((r) => r.query.labelSelector === "a=b"));
      const watch = api.requests[3]!;
      assert.equal(watch.verb, "watch");
      assert.deepEqual(
        { rv: watch.query.resourceVersion, b: watch.query.allowWatchBookmarks },
        { rv: "105", b: "true" },
      );
      // timeoutSeconds is jittered between 75% and 100% of the setting, so watchers do not reconnect in step.
      const t = Number(watch.query.timeoutSeconds);
      assert.ok(t >= 5 && t <= 7, `timeoutSeconds ${t}`);
      assert.equal(w.store.size, 5);
      assert.equal(w.stats.synced, true);
      assert.equal(changes.length, 1);
      assert.equal(changes[0]!.length, 5);
    },
  );
});

Deno.test("createWatcher() asks for the next list page before it projects the current one", async () => {
  const api = new FakeApi();
  for (let i = 0; i < 5; i++) api.put(`o${i}`, i);
  const events: string[] = [];
  api.recordGets(events);
  const kind: ResourceKind<number> = {
    ...KIND,
    project(object) {
      events.push(`project ${(object as Obj).metadata.name}`);
      return KIND.project(object);
    },
  };
  const watcher = createWatcher(api.client, kind, { pageSize: 2, onChange: () => {} });
  const controller = new AbortController();
  const running = watcher.run(controller.signal);
  try {
    await api.nextWatch(1);
  } finally {
    controller.abort();
    await running;
  }
  assert.deepEqual(events, [
    "get -",
    "get 2",
    "project o0",
    "project o1",
    "get 4",
    "project o2",
    "project o3",
    "project o4",
  ]);
  assert.equal(watcher.store.size, 5);
});

Deno.test("createWatcher() hands each page of the first list on while the next is in flight, not a relist's", async () => {
  const api = new FakeApi();
  for (let i = 0; i < 5; i++) api.put(`o${i}`, i);
  api.put("bad", "not a number");
  const events: string[] = [];
  api.recordGets(events);
  const options: WatcherOptions<number> = {
    pageSize: 2,
    onListPage: (items) => events.push(`page ${items.join(",")}`),
  };
  await withWatcher(api, options, async (_, changes) => {
    await api.nextWatch(1);
    // The malformed item is left out; the list's changes follow as without the pages.
    assert.deepEqual(events, ["get -", "get 2", "page 0,1", "get 4", "page 2,3", "page 4"]);
    assert.deepEqual(changes.map((c) => c.length), [5]);
    events.length = 0;
    api.put("o0", 10);
    api.expire();
    await api.nextWatch(2);
    assert.deepEqual(events, ["get -", "get 2", "get 4"]);
    assert.deepEqual(changes.map((c) => c.length), [5, 1]);
  });
});

Deno.test("createWatcher() reads list items one by one: one that is not JSON fails the list as a garbled body does", async () => {
  const api = new FakeApi();
  api.put("a", 1);
  api.put("b", 2);
  const getJson = api.client.getJson;
  let garble = true;
  api.client.getJson = (path, query, action, signal, parse) =>
    getJson(path, query, action, signal, (body) => {
      const text = new TextDecoder().decode(body);
      const garbled = garble ? text.replace('"value":2', '"value":2x') : text;
      garble = false;
      return parse!(new TextEncoder().encode(garbled));
    });
  const log = memoryLogger();
  await withWatcher(api, { log }, async (w, changes) => {
    await api.nextWatch(1);
    const failed = log.lines.find((l) => l.msg === "API request failed");
    assert.match(String(failed?.error), /sent a things list item that is not JSON in all namespaces/);
    assert.equal(w.stats.restarts.error, 1);
    assert.equal(api.requests.filter((r) => r.verb === "list").length, 2, "listed again after the failure");
    assert.deepEqual(
      changes.map((c) => c.map((x) => x.key)),
      [["ns/a", "ns/b"]],
      "nothing from the failed list",
    );
  });
});

Deno.test("createWatcher() applies events split mid-line and dedupes replays", async () => {
  const api = new FakeApi();
  api.put("a", 1);
  await withWatcher(api, {}, async (w, changes) => {
    await api.nextWatch(1);
    const line = JSON.stringify({ type: "ADDED", object: api.put("b", 2) }) + "\n";
    api.send(line.slice(0, 10));
    // An event split across chunks is applied once whole (the LineSplitter test shows no half is used).
    api.send(line.slice(10) + JSON.stringify({ type: "MODIFIED", object: api.put("a", 1) }));
    await until("b", () => w.store.get("ns/b") === 2);
    api.send("\n");
    // a MODIFIED with the same projection and a replayed ADDED change nothing
    api.event("ADDED", api.objects.get("b"));
    api.event("BOOKMARK", { kind: "Thing", apiVersion: "v1", metadata: { resourceVersion: "999" } });
    await until("bookmark", () => w.stats.resourceVersion === "999");
    assert.deepEqual(changes.slice(1), [[{ type: "ADDED", key: "ns/b", value: 2 }]]);
    api.event("DELETED", api.objects.get("a"));
    api.event("DELETED", api.objects.get("a"));
    await until("delete", () => !w.store.has("ns/a"));
    assert.equal(changes.length, 3);
    assert.equal(w.stats.events.ADDED, 2);
    assert.equal(w.stats.events.DELETED, 2);
  });
});

Deno.test("createWatcher() relists on an Expired ERROR event and emits only the difference", async () => {
  const api = new FakeApi();
  api.put("keep", 1);
  api.put("change", 2);
  api.put("gone", 3);
  await withWatcher(api, {}, async (w, changes) => {
    await api.nextWatch(1);
    api.objects.delete("gone");
    api.put("change", 20);
    api.put("new", 4);
    api.put("keep", 1);
    api.expire();
    await api.nextWatch(2);
    assert.equal(w.stats.restarts.expired, 1);
    // The relist was forced by a watch that delivered nothing: it confirms no shrink (not independent).
    assert.equal(w.stats.fullSyncs, 1);
    const diff = changes[1]!.map((c) => `${c.type} ${c.key}`).sort();
    assert.deepEqual(diff, ["ADDED ns/new", "DELETED ns/gone", "MODIFIED ns/change"]);
    assert.equal(api.requests[api.requests.length - 1]!.query.resourceVersion, String(api.rv));
    // After the watch delivered an event, the next relist is an independent full sync.
    api.event("MODIFIED", api.put("keep", 5));
    api.expire();
    await api.nextWatch(3);
    assert.equal(w.stats.restarts.expired, 2);
    assert.equal(w.stats.fullSyncs, 2);
  });
});

Deno.test("createWatcher() resumes from the last resourceVersion after garbage, drops and open errors", async () => {
  const api = new FakeApi();
  api.put("a", 1);
  const log = memoryLogger();
  await withWatcher(api, { log }, async (w) => {
    await api.nextWatch(1);
    api.event("MODIFIED", api.put("a", 2));
    api.send("this is not json\n");
    await api.nextWatch(2);
    assert.equal(api.requests[api.requests.length - 1]!.query.resourceVersion, String(api.rv));
    assert.equal(w.stats.restarts.garbage, 1);
    assert.ok(log.lines.some((l) => l.msg === "the watch stream sent a line that is not JSON, resuming"));
    api.openErrors.push(new ServerError("boom", "http://fake", 500));
    api.streams[1]!.error(new Error("connection reset"));
    await api.nextWatch(3);
    assert.equal(w.stats.restarts.dropped, 1);
    assert.equal(w.stats.restarts.error, 1);
    assert.equal(w.stats.fullSyncs, 1);
    assert.equal(w.store.get("ns/a"), 2);
    // a 410 when opening the watch relists
    api.openErrors.push(new Expired("gone", "http://fake"));
    api.streams[2]!.close();
    await until("relist", () => w.stats.fullSyncs === 2);
    assert.equal(w.stats.lastError, null);
  });
});

Deno.test("createWatcher() reconnects a stalled stream and resyncs on its interval", async () => {
  const api = new FakeApi();
  api.put("a", 1);
  await withWatcher(api, { readTimeoutMs: 30, resyncMs: 150 }, async (w) => {
    await api.nextWatch(2);
    assert.equal(w.stats.restarts.stalled, 1);
    assert.equal(w.stats.fullSyncs, 1);
    await until("resync", () => w.stats.fullSyncs >= 2);
    assert.ok((w.stats.restarts.resync ?? 0) >= 1);
  });
});

Deno.test("createWatcher() skips malformed objects with a warning and keeps the last good one", async () => {
  const api = new FakeApi();
  api.put("good", 1);
  api.put("bad", "x");
  const log = memoryLogger();
  await withWatcher(api, { log }, async (w) => {
    await api.nextWatch(1);
    assert.deepEqual([...w.store.keys()], ["ns/good"]);
    assert.deepEqual([...w.stats.problems.values()], [{ object: "ns/bad", reason: "value is not a number" }]);
    api.event("MODIFIED", api.put("good", "oops"));
    api.event("ADDED", { kind: "Thing", apiVersion: "v1", metadata: 5 });
    api.event("MODIFIED", api.put("bad", 7));
    await until("fixed", () => w.store.get("ns/bad") === 7);
    assert.equal(w.store.get("ns/good"), 1);
    assert.deepEqual([...w.stats.problems.keys()].sort(), ["(ADDED event)", "ns/good"]);
    assert.ok(log.lines.some((l) => l.level === "warn" && l.object === "ns/good"));
  });
});

Deno.test("createWatcher() backs off on errors and reports them", async () => {
  const api = new FakeApi();
  for (let i = 0; i < 4; i++) {
    api.listErrors.push(new ServerError(`API server down ${i}`, "http://fake", 503));
  }
  const { waits, sleep } = recordedSleep();
  const log = memoryLogger();
  await withWatcher(api, { backoffBaseMs: 10, backoffCapMs: 40, random: () => 1, sleep, log }, async (w) => {
    await api.nextWatch(1);
    assert.ok(
      log.lines.some((l) => l.msg === "API request failed" && /API server down 3/.test(String(l.error))),
    );
    // attempts 1..4 → 10, 20, 40, 40 (equal jitter, random() = 1: the whole delay)
    assert.deepEqual(waits, [10, 20, 40, 40]);
    assert.equal(w.stats.restarts.error, 4);
    assert.equal(w.stats.lastError, null);
  });
});

// ---- against the test API server ----

function endpoints(name: string, ip: string): JsonObject {
  return {
    metadata: { name, namespace: "a", annotations: { domain: `${name}.example.com`, proto: "http" } },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 80, protocol: "TCP" }] }],
  };
}

function ipOf(set: EndpointSet | null | undefined): string | undefined {
  return set?.groups[0]?.addresses[0]?.ip;
}

Deno.test("createWatcher() loses and repeats no update through every fault of the test server", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [endpoints("web", "10.0.0.1")] } });
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const seen: string[] = [];
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    backoffBaseMs: 10,
    backoffCapMs: 40,
    readTimeoutMs: 300,
    onChange: (changes) => {
      for (const c of changes) seen.push(`${c.type} ${c.key} ${ipOf(c.value) ?? "-"}`);
    },
  });
  const controller = new AbortController();
  const running = watcher.run(controller.signal);
  const written: string[] = ["ADDED a/web 10.0.0.1"];
  let n = 1;
  const write = () => {
    n++;
    const ip = `10.0.${Math.floor(n / 250)}.${n % 250}`;
    server.upsert("endpoints", endpoints("web", ip));
    written.push(`MODIFIED a/web ${ip}`);
  };
  const caughtUp = () => until("caught up", () => seen.length === written.length);
  try {
    await server.waitForWatches(1);
    write();
    await caughtUp();
    server.dropWatches();
    write();
    await caughtUp();
    server.stallWatches();
    write();
    await caughtUp();
    await server.waitForWatches(1);
    server.sendGarbage();
    write();
    await caughtUp();
    server.failNext(2, { status: 500, watch: true });
    server.failNext(1, { abort: true, watch: true });
    server.dropWatches();
    write();
    await caughtUp();
    // a backlog replayed in 2048-byte chunks, split mid-event
    await server.waitForWatches(1);
    await server.stopListening();
    for (let i = 0; i < 40; i++) write();
    await server.startListening();
    await caughtUp();
    assert.equal(server.requests.filter((r) => !r.watch).length, 1, "no relist");
    // expiry: a relist diffed against the store emits the one real change
    await server.waitForWatches(1);
    await server.stopListening();
    write();
    server.compact();
    await server.startListening();
    await caughtUp();
    assert.equal(watcher.stats.restarts.expired, 1);
    assert.deepEqual(seen, written);
    assert.equal(ipOf(watcher.store.get("a/web")), written.at(-1)?.split(" ")[2]);
  } finally {
    controller.abort();
    await running;
    client.close();
  }
});

Deno.test("createWatcher() reopens a watch the server ends at timeoutSeconds, without relisting", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [endpoints("web", "10.0.0.1")] } });
  const client = createKubeClient(plainConnection([server.url]));
  const watcher = createWatcher(client, ENDPOINTS_KIND, { watchTimeoutSeconds: 1 });
  const controller = new AbortController();
  const running = watcher.run(controller.signal);
  try {
    await server.waitForWatches(1);
    server.upsert("endpoints", endpoints("web", "10.0.0.2"));
    await until("second watch", () => server.requests.filter((r) => r.watch).length === 2);
    server.upsert("endpoints", endpoints("web", "10.0.0.3"));
    await until("event on the second watch", () => ipOf(watcher.store.get("a/web")) === "10.0.0.3");
    const watches = server.requests.filter((r) => r.watch);
    assert.equal(watches[0]!.query.get("timeoutSeconds"), "1");
    assert.equal(watches[1]!.query.get("resourceVersion"), String(server.resourceVersion - 1));
    assert.equal(watcher.stats.restarts.closed, 1);
    assert.equal(server.requests.filter((r) => !r.watch).length, 1);
  } finally {
    controller.abort();
    await running;
    client.close();
  }
});
