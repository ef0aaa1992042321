/**
 * Proves the test API server (lib/demo/kube_server.ts) matches the facts recorded from a real
 * kube-apiserver v1.26 (tests/support/kube_recorded.ts): list shapes, order and pagination tokens, watch
 * framing, replay, bookmarks, 410 paths, 401/403 bodies, headers; plus its mutation and fault APIs.
 */
import assert from "node:assert/strict";
import https from "node:https";
import { type KubeServer, type KubeServerOptions, startKubeServer } from "../../lib/demo/kube_server.ts";
import { RECORDED, RECORDED_OBJECTS } from "../support/kube_recorded.ts";
import { testCerts } from "../support/certs.ts";
import type { JsonObject, JsonValue } from "../../lib/demo/kube_objects.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const UA = "kube-recorder/1.0";

// ------------------------------------------------------------------------------------------- helpers

/** A raw HTTP/1.1 connection, to see status line, header order and chunk framing exactly. */
class RawConnection {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async open(
    port: number,
    target: string,
    headers: Record<string, string> = {},
  ): Promise<RawConnection> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const all: Record<string, string> = { "User-Agent": UA, Accept: "*/*", ...headers };
    const lines = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
    for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`);
    await conn.write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    return new RawConnection(conn);
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  #indexOf(text: string): number {
    return decoder.decode(this.#buf).indexOf(text);
  }

  async #take(n: number): Promise<Uint8Array | undefined> {
    while (this.#buf.length < n) if (!(await this.#fill())) return undefined;
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  async #line(): Promise<string | undefined> {
    let i: number;
    while ((i = this.#indexOf("\r\n")) < 0) if (!(await this.#fill())) return undefined;
    const bytes = await this.#take(encoder.encode(decoder.decode(this.#buf).slice(0, i)).length + 2);
    return decoder.decode(bytes!).slice(0, -2);
  }

  /** Status line and headers in order. */
  async head(): Promise<{ status: number; headers: Array<[string, string]> }> {
    const statusLine = await this.#line();
    assert.ok(statusLine, "No status line");
    const headers: Array<[string, string]> = [];
    for (;;) {
      const line = await this.#line();
      if (line === undefined || line === "") break;
      const colon = line.indexOf(":");
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    return { status: Number(statusLine.split(" ")[1]), headers };
  }

  /** The next chunk's data; null at the terminating chunk; "eof" when the connection ended without it. */
  async chunk(): Promise<string | null | "eof"> {
    const sizeLine = await this.#line();
    if (sizeLine === undefined) return "eof";
    const size = parseInt(sizeLine, 16);
    if (size === 0) {
      await this.#line();
      return null;
    }
    const data = await this.#take(size + 2);
    if (!data) return "eof";
    return decoder.decode(data.subarray(0, size));
  }

  /** The rest of a Content-Length body. */
  async body(length: number): Promise<string> {
    return decoder.decode(await this.#take(length));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

interface RawResponse {
  status: number;
  headers: Array<[string, string]>;
  header(name: string): string | undefined;
  framing: "length" | "chunked";
  chunks: string[];
  body: string;
}

/** One complete request over a raw connection. */
async function raw(
  server: KubeServer,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const conn = await RawConnection.open(server.port, target, headers);
  try {
    const { status, headers: responseHeaders } = await conn.head();
    const header = (name: string) =>
      responseHeaders.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    const length = header("content-length");
    const chunks: string[] = [];
    if (length !== undefined) {
      const body = await conn.body(Number(length));
      return { status, headers: responseHeaders, header, framing: "length", chunks, body };
    }
    for (;;) {
      const c = await conn.chunk();
      if (c === null) break;
      assert.notEqual(c, "eof", "Chunked body ended without the terminating chunk");
      chunks.push(c as string);
    }
    return { status, headers: responseHeaders, header, framing: "chunked", chunks, body: chunks.join("") };
  } finally {
    conn.close();
  }
}

const VOLATILE = new Set(["uid", "creationTimestamp", "resourceVersion", "clusterIP", "time"]);

/** JSON text with volatile values replaced and managedFields dropped, key order kept. */
function shape(text: string): string {
  const walk = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== "object") return value;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "managedFields") continue;
      if (k === "clusterIPs") out[k] = ["*"];
      else out[k] = VOLATILE.has(k) && typeof v === "string" ? "*" : walk(v);
    }
    return out;
  };
  return JSON.stringify(walk(JSON.parse(text) as JsonValue));
}

function lines(body: string): JsonObject[] {
  return body.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as JsonObject);
}

function rvOf(o: JsonValue | undefined): string {
  return ((o as JsonObject).metadata as JsonObject).resourceVersion as string;
}

async function recordedCluster(options: KubeServerOptions = {}): Promise<KubeServer> {
  return await startKubeServer({ objects: RECORDED_OBJECTS, managedFields: false, ...options });
}

function headerNames(response: RawResponse): string[] {
  return response.headers.map(([k]) => k);
}

// ------------------------------------------------------------------------------------------- lists

Deno.test("startKubeServer() lists Endpoints like recording 01: bytes, header order, Content-Length", async () => {
  await using server = await recordedCluster();
  const res = await raw(server, "/api/v1/endpoints");
  assert.equal(res.status, 200);
  assert.deepEqual(headerNames(res), ["Audit-Id", ...RECORDED["01"]!.headers]);
  assert.equal(res.header("content-type"), "application/json");
  assert.equal(res.header("cache-control"), "no-cache, private");
  assert.equal(res.framing, "length");
  assert.ok(res.body.endsWith("]}\n"));
  assert.equal(shape(res.body), shape(RECORDED["01"]!.body));
  const list = JSON.parse(res.body);
  assert.equal(list.metadata.resourceVersion, String(server.resourceVersion));
  for (const item of list.items) assert.equal(item.kind, undefined);
});

Deno.test("startKubeServer() matches recordings 04, 05, 06: slices by label, services with defaults, namespaced", async () => {
  await using server = await recordedCluster();
  const slices = await raw(
    server,
    "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io/service-name=api",
  );
  assert.equal(shape(slices.body), shape(RECORDED["04"]!.body));
  const services = await raw(server, "/api/v1/namespaces/rec/services");
  assert.equal(shape(services.body), shape(RECORDED["05"]!.body));
  assert.equal(services.framing, "length", "without managedFields the body is below 2048 bytes");
  for (const name of ["third", "fourth", "fifth"]) {
    server.upsert("services", { metadata: { name, namespace: "rec" }, spec: { ports: [{ port: 1 }] } });
  }
  const larger = await raw(server, "/api/v1/namespaces/rec/services");
  assert.ok(encoder.encode(larger.body).length > 2048);
  assert.equal(larger.framing, "chunked", "above 2048 bytes, like recording 05 (2122 bytes, chunked)");
  const namespaced = await raw(server, "/api/v1/namespaces/rec/endpoints");
  assert.equal(shape(namespaced.body), shape(RECORDED["06"]!.body));
  const empty = await raw(server, "/api/v1/namespaces/missing/endpoints");
  assert.equal(empty.status, 200);
  assert.deepEqual(JSON.parse(empty.body).items, []);
});

Deno.test("startKubeServer() paginates with the real continue token and a consistent snapshot (02, 03)", async () => {
  // kubernetes gets RV 210, web 211: the list RV is 211 like in the recording, so the token is byte-equal.
  await using server = await recordedCluster({
    startResourceVersion: 209,
    objects: { endpoints: RECORDED_OBJECTS.endpoints },
  });
  const page1 = await raw(server, "/api/v1/endpoints?limit=1");
  const recorded1 = JSON.parse(RECORDED["02"]!.body);
  const list1 = JSON.parse(page1.body);
  assert.equal(list1.metadata.continue, recorded1.metadata.continue);
  assert.equal(list1.metadata.remainingItemCount, 1);
  assert.equal(shape(page1.body), shape(RECORDED["02"]!.body));
  server.patch("endpoints", "rec", "web", { metadata: { annotations: { domain: "changed.example.com" } } });
  const page2 = await raw(server, `/api/v1/endpoints?limit=1&continue=${list1.metadata.continue}`);
  assert.equal(shape(page2.body), shape(RECORDED["03"]!.body));
  const list2 = JSON.parse(page2.body);
  assert.equal(list2.metadata.resourceVersion, "211");
  assert.equal(list2.metadata.continue, undefined);
  assert.equal(
    list2.items[0].metadata.annotations.domain,
    "web.example.com",
    "page 2 must come from page 1's snapshot",
  );
});

Deno.test("startKubeServer() serves resourceVersion=0 from the cache: limit ignored, the type's own RV (19)", async () => {
  await using server = await recordedCluster();
  server.upsert("services", {
    metadata: { name: "other", namespace: "rec" },
    spec: { ports: [{ port: 1 }] },
  });
  const cached = JSON.parse((await raw(server, "/api/v1/endpoints?resourceVersion=0&limit=1")).body);
  assert.equal(cached.items.length, 2);
  assert.equal(cached.metadata.continue, undefined);
  assert.ok(
    Number(cached.metadata.resourceVersion) < server.resourceVersion,
    "cache RV is the last endpoints RV",
  );
  const etcd = JSON.parse((await raw(server, "/api/v1/endpoints")).body);
  assert.equal(etcd.metadata.resourceVersion, String(server.resourceVersion));
});

Deno.test("startKubeServer() answers bad resourceVersions like recordings 13 and 20", async () => {
  await using server = await recordedCluster({ tooLargeWaitMs: 50 });
  for (
    const [target, key] of [
      ["/api/v1/endpoints?resourceVersion=abc", "13a"],
      ["/api/v1/endpoints?watch=1&resourceVersion=abc&timeoutSeconds=5", "13b"],
      ["/api/v1/endpoints?resourceVersion=abc&limit=1", "13c"],
      ["/api/v1/endpoints?resourceVersionMatch=Exact", "13d"],
    ] as const
  ) {
    const res = await raw(server, target);
    assert.equal(res.status, RECORDED[key]!.status, key);
    assert.equal(res.body, RECORDED[key]!.body, key);
  }
  const tooLarge = await raw(server, "/api/v1/endpoints?resourceVersion=99999999");
  assert.equal(tooLarge.status, 504);
  assert.equal(tooLarge.header("retry-after"), "1");
  assert.equal(
    tooLarge.body,
    RECORDED["20"]!.body.replace("current: 217", `current: ${server.resourceVersion}`),
  );
});

Deno.test("KubeServer.compact() makes old Exact lists and continue tokens 410 (10, 17)", async () => {
  await using server = await recordedCluster({
    startResourceVersion: 209,
    objects: { endpoints: RECORDED_OBJECTS.endpoints },
  });
  const token = JSON.parse((await raw(server, "/api/v1/endpoints?limit=1")).body).metadata.continue;
  server.patch("endpoints", "rec", "web", { metadata: { annotations: { domain: "x.example.com" } } });
  const before = await raw(server, "/api/v1/endpoints?resourceVersion=211&resourceVersionMatch=Exact");
  assert.equal(before.status, 200);
  assert.equal(JSON.parse(before.body).items[1].metadata.annotations.domain, "web.example.com");
  server.compact();
  const exact = await raw(server, "/api/v1/endpoints?resourceVersion=211&resourceVersionMatch=Exact");
  assert.equal(exact.status, 410);
  assert.equal(exact.body, RECORDED["10"]!.body);
  const cont = await raw(server, `/api/v1/endpoints?limit=1&continue=${token}`);
  assert.equal(cont.status, 410);
  assert.equal(cont.body, RECORDED["17"]!.body);
  const old = lines((await raw(server, "/api/v1/endpoints?watch=1&resourceVersion=211")).body);
  assert.equal((old[0]!.object as JsonObject).message, "too old resource version: 211 (212)");
  // an informer's relist (RV=0, the type's cache RV) can still watch after compaction
  const cacheRV =
    JSON.parse((await raw(server, "/api/v1/endpoints?resourceVersion=0")).body).metadata.resourceVersion;
  const resumed = raw(server, `/api/v1/endpoints?watch=1&resourceVersion=${cacheRV}&timeoutSeconds=1`);
  await server.waitForWatches(1);
  server.remove("endpoints", "rec", "web");
  assert.deepEqual(lines((await resumed).body).map((e) => e.type), ["DELETED"]);
});

Deno.test("startKubeServer() filters by field selectors and set-based label selectors", async () => {
  await using server = await recordedCluster();
  const list = async (query: string) => {
    const res = await raw(server, `/apis/discovery.k8s.io/v1/endpointslices?${query}`);
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body);
  };
  const itemNames = (l: { items: JsonObject[] }) => l.items.map((i) => (i.metadata as JsonObject).name);
  assert.deepEqual(itemNames(await list("fieldSelector=metadata.name%3Dapi-v6")), ["api-v6"]);
  assert.deepEqual(itemNames(await list("fieldSelector=metadata.namespace!%3Drec")), []);
  assert.deepEqual(itemNames(await list("labelSelector=kubernetes.io%2Fservice-name+in+(api,x)")), [
    "api-v4",
    "api-v6",
  ]);
  assert.deepEqual(itemNames(await list("labelSelector=!kubernetes.io%2Fservice-name")), []);
  assert.deepEqual(itemNames(await list("labelSelector=kubernetes.io%2Fservice-name!%3Dapi")), []);
  const page = await list("labelSelector=kubernetes.io%2Fservice-name&limit=1");
  assert.deepEqual(itemNames(page), ["api-v4"]);
  assert.ok(page.metadata.continue);
  assert.equal(page.metadata.remainingItemCount, undefined, "omitted when a selector is used");
  const bad = await raw(server, "/api/v1/endpoints?fieldSelector=spec.foo%3Dx");
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.body).message, "field label not supported: spec.foo");
});

// ------------------------------------------------------------------------------------------- watches

Deno.test("startKubeServer() watch replays recording 07: one event per chunk, DELETED RV, bookmark, clean end", async () => {
  await using server = await recordedCluster({ bookmarkBeforeTimeoutMs: 1500 });
  const rv = server.resourceVersion;
  const conn = await RawConnection.open(
    server.port,
    `/api/v1/endpoints?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=2`,
  );
  try {
    const head = await conn.head();
    assert.equal(head.status, 200);
    assert.deepEqual(head.headers.map(([k]) => k), ["Audit-Id", ...RECORDED["07"]!.headers]);
    await server.waitForWatches(1);
    const patch = (body: string, type = "application/merge-patch+json") =>
      fetch(`${server.url}/api/v1/namespaces/rec/endpoints/web?fieldManager=kubectl-patch`, {
        method: "PATCH",
        headers: { "Content-Type": type },
        body,
      }).then((r) => r.text());
    await patch('{"metadata":{"annotations":{"domain":"www.example.com"}}}');
    await patch(
      '{"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"},{"ip":"192.0.2.12"}],' +
        '"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}',
    );
    const created = await fetch(`${server.url}/api/v1/namespaces/rec/endpoints`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        apiVersion: "v1",
        kind: "Endpoints",
        metadata: { name: "extra" },
        subsets: [{ addresses: [{ ip: "192.0.2.40" }], ports: [{ name: "http", port: 80 }] }],
      }),
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    const deleted = await fetch(`${server.url}/api/v1/namespaces/rec/endpoints/extra`, { method: "DELETE" });
    assert.equal((await deleted.json()).status, "Success");
    const chunks: string[] = [];
    for (;;) {
      const c = await conn.chunk();
      if (c === null) break;
      assert.notEqual(c, "eof");
      chunks.push(c as string);
    }
    // The server ended the stream by itself (a clean last chunk, not EOF) after the bookmark it sends
    // before timeoutSeconds: the order is the proof, not a clock.
    const recorded = RECORDED["07"]!.body.split("\n").filter((l) => l !== "");
    assert.equal(chunks.length, 5, "four events and one bookmark, each its own chunk");
    for (let i = 0; i < 4; i++) {
      assert.ok(chunks[i]!.endsWith("\n"));
      assert.equal(shape(chunks[i]!), shape(recorded[i]!), `event ${i}`);
    }
    const events = chunks.map((c) => JSON.parse(c));
    assert.equal(
      rvOf(events[3].object),
      String(Number(rvOf(events[2].object)) + 1),
      "DELETED has its own RV",
    );
    assert.equal(chunks[4], recorded[4]!.replace('"217"', `"${server.resourceVersion}"`) + "\n");
  } finally {
    conn.close();
  }
});

Deno.test("startKubeServer() sends no bookmark on a quiet watch and ends cleanly (18)", async () => {
  await using server = await recordedCluster({ bookmarkBeforeTimeoutMs: 800 });
  server.upsert("services", {
    metadata: { name: "noise", namespace: "rec" },
    spec: { ports: [{ port: 1 }] },
  });
  const res = await raw(
    server,
    `/api/v1/namespaces/rec/endpoints?watch=1&resourceVersion=${server.resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=1`,
  );
  assert.equal(res.status, 200);
  assert.equal(res.framing, "chunked");
  assert.equal(res.body, "");
});

Deno.test("startKubeServer() answers a too old watch RV with 200 and one ERROR event (09)", async () => {
  await using server = await recordedCluster();
  const res = await raw(
    server,
    "/api/v1/endpoints?watch=1&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=15",
  );
  assert.equal(res.status, 200);
  assert.deepEqual(res.chunks, [RECORDED["09"]!.body.replace("(207)", `(${server.resourceVersion})`)]);
});

Deno.test("startKubeServer() watch with a labelSelector turns leaving into DELETED and returning into ADDED (14)", async () => {
  await using server = await recordedCluster({ bookmarkBeforeTimeoutMs: 1000 });
  const watching = raw(
    server,
    "/apis/discovery.k8s.io/v1/endpointslices?watch=1&labelSelector=kubernetes.io%2Fservice-name%3Dapi&allowWatchBookmarks=true&timeoutSeconds=2",
  );
  await server.waitForWatches(1);
  const relabel = (value: string) =>
    server.patch("endpointslices", "rec", "api-v6", {
      metadata: { labels: { "kubernetes.io/service-name": value } },
    });
  relabel("other");
  relabel("api");
  server.patch("endpointslices", "rec", "api-v4", { metadata: { annotations: { note: "again" } } });
  const events = lines((await watching).body);
  assert.deepEqual(
    events.map((e) => `${e.type} ${((e.object as JsonObject).metadata as JsonObject).name ?? ""}`),
    ["ADDED api-v4", "ADDED api-v6", "DELETED api-v6", "ADDED api-v6", "MODIFIED api-v4", "BOOKMARK "],
  );
  const recorded = lines(RECORDED["14"]!.body);
  assert.equal(shape(JSON.stringify(events[2])), shape(JSON.stringify(recorded[2])));
  const deleted = (events[2]!.object as JsonObject).metadata as JsonObject;
  assert.equal(
    (deleted.labels as JsonObject)["kubernetes.io/service-name"],
    "api",
    "DELETED carries the old labels",
  );
  assert.equal(deleted.generation, 1);
  assert.equal(
    ((events[3]!.object as JsonObject).metadata as JsonObject).generation,
    3,
    "labels bump generation",
  );
  assert.equal(
    ((events[4]!.object as JsonObject).metadata as JsonObject).generation,
    1,
    "annotations do not",
  );
  assert.equal(
    JSON.stringify(events[5]),
    RECORDED["14"]!.body.trimEnd().split("\n").at(-1)!.replace('"230"', `"${server.resourceVersion}"`),
  );
});

Deno.test("startKubeServer() coalesces replayed events into 2048-byte chunks", async () => {
  await using server = await recordedCluster({ historyLimit: 50 });
  const rv = server.resourceVersion;
  for (let i = 0; i < 20; i++) {
    server.patch("endpoints", "rec", "web", { metadata: { annotations: { n: String(i) } } });
  }
  const res = await raw(server, `/api/v1/endpoints?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
  assert.ok(res.chunks.length >= 2);
  for (const c of res.chunks.slice(0, -1)) assert.equal(encoder.encode(c).length, 2048);
  assert.ok(res.chunks.some((c) => !c.endsWith("\n")), "chunk boundaries fall inside events");
  const events = lines(res.body);
  assert.equal(events.length, 20);
  assert.equal(rvOf(events[0]!.object), String(rv + 1));
  // a start RV that fell out of the 50-event window gets 410
  for (let i = 0; i < 40; i++) {
    server.patch("endpoints", "rec", "web", { metadata: { annotations: { n: `x${i}` } } });
  }
  const expired = lines((await raw(server, `/api/v1/endpoints?watch=1&resourceVersion=${rv}`)).body);
  assert.equal(expired.length, 1);
  assert.equal(expired[0]!.type, "ERROR");
  assert.equal((expired[0]!.object as JsonObject).code, 410);
});

Deno.test("startKubeServer() watch without resourceVersion sends ADDED for all, then live events", async () => {
  await using server = await recordedCluster();
  const watching = raw(server, "/api/v1/namespaces/rec/endpoints?watch=true&timeoutSeconds=1");
  await server.waitForWatches(1);
  server.remove("endpoints", "rec", "web");
  server.remove("endpoints", "default", "kubernetes");
  const events = lines((await watching).body);
  assert.deepEqual(events.map((e) => e.type), ["ADDED", "DELETED"]);
  assert.equal((events[0]!.object as JsonObject).kind, "Endpoints");
});

Deno.test("startKubeServer() keeps a watch from a too-large RV silent until the RV is passed", async () => {
  await using server = await recordedCluster();
  const ahead = server.resourceVersion + 2;
  const watching = raw(server, `/api/v1/endpoints?watch=1&resourceVersion=${ahead}&timeoutSeconds=1`);
  await server.waitForWatches(1);
  for (const n of ["1", "2", "3"]) {
    server.patch("endpoints", "rec", "web", { metadata: { annotations: { n } } });
  }
  const events = lines((await watching).body);
  assert.deepEqual(events.map((e) => rvOf(e.object)), [String(ahead + 1)]);
});

Deno.test("KubeServer.bookmark() forces a bookmark on bookmark-enabled watches only", async () => {
  await using server = await recordedCluster();
  const withBookmarks = raw(
    server,
    `/api/v1/endpoints?watch=1&resourceVersion=${server.resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=1`,
  );
  const without = raw(
    server,
    `/api/v1/endpoints?watch=1&resourceVersion=${server.resourceVersion}&timeoutSeconds=1`,
  );
  await server.waitForWatches(2);
  assert.equal(server.bookmark(), 1);
  assert.deepEqual(lines((await withBookmarks).body).map((e) => e.type), ["BOOKMARK"]);
  assert.equal((await without).body, "");
});

// ------------------------------------------------------------------------------------------- auth

Deno.test("startKubeServer() answers 401 and 403 exactly like recordings 11 and 12", async () => {
  await using server = await recordedCluster({
    tokens: { "admin-token": "admin", "reader-token": { name: "reader", groups: ["readers"] } },
    authorize: { admin: [{ verbs: "*", resources: "*" }] },
  });
  const anonymous = await raw(server, "/api/v1/endpoints");
  assert.equal(anonymous.status, 403);
  assert.deepEqual(headerNames(anonymous), ["Audit-Id", ...RECORDED["11a"]!.headers]);
  assert.equal(anonymous.body, RECORDED["11a"]!.body);
  for (const path of ["/api/v1/endpoints", "/version"]) {
    const bad = await raw(server, path, { Authorization: "Bearer not-a-valid-token" });
    assert.equal(bad.status, 401);
    assert.deepEqual(headerNames(bad), ["Audit-Id", ...RECORDED["11b"]!.headers]);
    assert.equal(bad.body, RECORDED["11b"]!.body);
  }
  const reader = { Authorization: "Bearer reader-token" };
  for (
    const [target, key] of [
      ["/api/v1/endpoints", "12a"],
      ["/api/v1/namespaces/rec/endpoints?watch=1&timeoutSeconds=5", "12b"],
      ["/apis/discovery.k8s.io/v1/endpointslices", "12c"],
    ] as const
  ) {
    const res = await raw(server, target, reader);
    assert.equal(res.status, 403, key);
    assert.equal(res.body, RECORDED[key]!.body, key);
    assert.equal(res.header("x-content-type-options"), "nosniff");
  }
  const version = await raw(server, "/version");
  assert.equal(version.status, 200);
  const api = await raw(server, "/api");
  assert.equal(api.status, 403);
  assert.equal(
    JSON.parse(api.body).message,
    'forbidden: User "system:anonymous" cannot get path "/api"',
  );
  assert.deepEqual(JSON.parse(api.body).details, {});
  const admin = await raw(server, "/api/v1/endpoints", { Authorization: "Bearer admin-token" });
  assert.equal(admin.status, 200);
  assert.equal(server.requests.at(-1)?.user, "admin");
});

Deno.test("startKubeServer() with TLS identifies client certificates by CN and O", async () => {
  const certs = await testCerts();
  try {
    const alice = await certs.client("alice", ["admins"]);
    const bob = await certs.client("bob", ["viewers"]);
    const mallory = await certs.client("alice", ["admins"], { untrusted: true });
    await using server = await recordedCluster({
      tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
      authorize: { "group:admins": [{ verbs: ["list"], resources: ["endpoints"], namespaces: ["rec"] }] },
    });
    const get = (path: string, client?: { cert: string; key: string }) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.get(`${server.url}${path}`, {
          ca: certs.caCert,
          ...(client ? { cert: client.cert, key: client.key } : {}),
          agent: false,
        }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
      });
    const ok = await get("/api/v1/namespaces/rec/endpoints", alice);
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).items.length, 1);
    assert.equal(server.requests.at(-1)?.user, "alice");
    const clusterScope = await get("/api/v1/endpoints", alice);
    assert.equal(clusterScope.status, 403);
    assert.match(
      JSON.parse(clusterScope.body).message,
      /User "alice" cannot list resource "endpoints".*cluster scope/,
    );
    const viewer = await get("/api/v1/namespaces/rec/endpoints", bob);
    assert.equal(viewer.status, 403);
    assert.equal((await get("/api/v1/namespaces/rec/endpoints", mallory)).status, 401);
    assert.equal((await get("/api/v1/namespaces/rec/endpoints")).status, 403);

    const client = Deno.createHttpClient({ caCerts: [certs.caCert], cert: alice.cert, key: alice.key });
    try {
      const res = await fetch(`${server.url}/api/v1/namespaces/rec/endpoints`, { client });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      client.close();
    }
    const wrongCa = Deno.createHttpClient({ caCerts: [certs.otherCaCert] });
    try {
      await assert.rejects(() => fetch(`${server.url}/version`, { client: wrongCa }));
    } finally {
      wrongCa.close();
    }
  } finally {
    await certs.dispose();
  }
});

// ------------------------------------------------------------------------------------------- API surface

Deno.test("startKubeServer() serves discovery like recording 15", async () => {
  await using server = await startKubeServer();
  const version = await raw(server, "/version");
  assert.ok(version.body.startsWith('{\n  "major": "1",\n  "minor": "26",'));
  assert.ok(version.body.endsWith("}"), "no trailing newline");
  const api = JSON.parse((await raw(server, "/api?timeout=32s")).body);
  assert.equal(api.kind, "APIVersions");
  const apis = JSON.parse((await raw(server, "/apis")).body);
  assert.deepEqual(apis.groups.map((g: JsonObject) => g.name), ["discovery.k8s.io"]);
  const v1 = JSON.parse((await raw(server, "/api/v1")).body);
  assert.deepEqual(v1.resources.map((r: JsonObject) => r.name), [
    "endpoints",
    "nodes",
    "secrets",
    "services",
  ]);
  const discovery = await raw(server, "/apis/discovery.k8s.io/v1");
  assert.equal(
    discovery.body.trimEnd(),
    '{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"discovery.k8s.io/v1","resources":[{"name":"endpointslices","singularName":"","namespaced":true,"kind":"EndpointSlice","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"storageVersionHash":"Nx3SIv6I0mE="}]}',
  );
  const pretty = await raw(server, "/api/v1/endpoints", { "User-Agent": "curl/8.0" });
  assert.ok(pretty.body.startsWith('{\n  "kind": "EndpointsList"'));
  assert.equal((await raw(server, "/nope")).status, 404);
});

Deno.test("startKubeServer() mutations: conflict, no-op, json patch, generation, managedFields", async () => {
  await using server = await startKubeServer({ objects: RECORDED_OBJECTS });
  const web = server.get("endpoints", "rec", "web")!;
  assert.ok(Array.isArray((web.metadata as JsonObject).managedFields));
  const stale = await fetch(`${server.url}/api/v1/namespaces/rec/endpoints/web`, {
    method: "PUT",
    body: JSON.stringify({ ...web, metadata: { ...(web.metadata as JsonObject), resourceVersion: "1" } }),
  });
  assert.equal(stale.status, 409);
  assert.equal((await stale.json()).reason, "Conflict");
  const rv = server.resourceVersion;
  server.patch("endpoints", "rec", "web", { metadata: { annotations: { proto: "http" } } });
  assert.equal(server.resourceVersion, rv, "an unchanged object gets no new RV");
  const res = await fetch(`${server.url}/apis/discovery.k8s.io/v1/namespaces/rec/endpointslices/api-v4`, {
    method: "PATCH",
    headers: { "Content-Type": "application/json-patch+json" },
    body: '[{"op":"replace","path":"/endpoints/1/conditions/ready","value":true}]',
  });
  const slice = await res.json();
  assert.equal(slice.metadata.generation, 2);
  assert.equal(slice.endpoints[1].conditions.ready, true);
  const missing = await fetch(`${server.url}/api/v1/namespaces/rec/endpoints/nope`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).message, 'endpoints "nope" not found');
  assert.equal(server.remove("endpoints", "rec", "web"), true);
  assert.equal(server.remove("endpoints", "rec", "web"), false);
  assert.deepEqual(server.objects("endpoints").map((o) => (o.metadata as JsonObject).name), ["kubernetes"]);
});

// ------------------------------------------------------------------------------------------- faults

Deno.test("KubeServer.failNext() answers matching requests with the given status, then recovers", async () => {
  await using server = await recordedCluster();
  server.failNext(2, { status: 500, path: "/api/v1/endpoints" });
  server.failNext(1, { status: 429, retryAfterSeconds: 2, watch: true });
  for (let i = 0; i < 2; i++) {
    const res = await raw(server, "/api/v1/endpoints");
    assert.equal(res.status, 500);
    assert.equal(JSON.parse(res.body).reason, "InternalError");
  }
  assert.equal((await raw(server, "/api/v1/endpoints")).status, 200);
  const throttled = await raw(server, "/api/v1/endpoints?watch=1");
  assert.equal(throttled.status, 429);
  assert.equal(throttled.header("retry-after"), "2");
  assert.deepEqual(server.requests.map((r) => r.status), [500, 500, 200, 429]);
  assert.equal(server.requests[0]!.headers["user-agent"], UA);
});

Deno.test("KubeServer.holdNext() holds the next matching request until released, then answers it as usual", async () => {
  await using server = await recordedCluster();
  const held = server.holdNext({ path: "/api/v1/endpoints", watch: false });
  let answered = false;
  const pending = raw(server, "/api/v1/endpoints").then((res) => (answered = true, res));
  await held.reached;
  assert.equal((await raw(server, "/api/v1/services")).status, 200, "other requests go on");
  assert.equal(answered, false);
  held.release();
  assert.equal((await pending).status, 200);
  assert.equal((await raw(server, "/api/v1/endpoints")).status, 200, "only the next one is held");
});

Deno.test("KubeServer.dropWatches() cuts streams; stallWatches() silences them; sendGarbage() corrupts them", async () => {
  await using server = await recordedCluster();
  const open = () =>
    RawConnection.open(server.port, `/api/v1/endpoints?watch=1&resourceVersion=${server.resourceVersion}`);
  const dropped = await open();
  const stalled = await open();
  try {
    await dropped.head();
    await stalled.head();
    await server.waitForWatches(2);
    assert.equal(server.sendGarbage("not json\n"), 2);
    assert.equal(await dropped.chunk(), "not json\n");
    assert.equal(await stalled.chunk(), "not json\n");
    assert.equal(server.stallWatches(), 2);
    server.patch("endpoints", "rec", "web", { metadata: { annotations: { x: "1" } } });
    assert.equal(server.dropWatches(), 2);
    assert.equal(await dropped.chunk(), "eof", "no event, no terminating chunk");
    assert.equal(await stalled.chunk(), "eof");
    assert.equal(server.watchCount(), 0);
  } finally {
    dropped.close();
    stalled.close();
  }
});

Deno.test("KubeServer.stopListening() refuses connections until startListening() on the same port", async () => {
  await using server = await recordedCluster();
  const port = server.port;
  await server.stopListening();
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }).then((c) => c.close()));
  await server.startListening();
  assert.equal(server.port, port);
  assert.equal((await raw(server, "/api/v1/endpoints")).status, 200);
});
