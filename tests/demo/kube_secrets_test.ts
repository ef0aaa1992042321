/**
 * The test API server's Secrets against recordings 22, 23, 29 and 30 of a real kube-apiserver v1.26
 * (tests/support/kube_recorded_secrets.ts): list shape with the type field selector, selectors and their
 * 400s, 403 bodies, and a watch through a renewal in place and a deletion.
 */
import assert from "node:assert/strict";
import { type JsonObject, type KubeServer, startKubeServer } from "../../lib/demo/kube_server.ts";
import { RECORDED_SECRETS } from "../support/kube_recorded_secrets.ts";

const TLS = "fieldSelector=type%3Dkubernetes.io%2Ftls";
const SERVER_SET = new Set(["uid", "resourceVersion", "creationTimestamp", "managedFields"]);

/** Recorded items as `kubectl create` sent them: without the fields the server sets. */
function asCreated(item: JsonObject): JsonObject {
  const metadata = Object.fromEntries(
    Object.entries(item.metadata as JsonObject).filter(([k]) => !SERVER_SET.has(k)),
  );
  return { ...item, metadata };
}

/** An object without the fields the server sets (to compare a served object with a recorded one). */
function comparable(value: JsonObject): string {
  return JSON.stringify(asCreated(value));
}

function recordedItems(key: string): JsonObject[] {
  return (JSON.parse(RECORDED_SECRETS[key]!.body) as { items: JsonObject[] }).items;
}

async function recordedSecrets(options: Parameters<typeof startKubeServer>[0] = {}): Promise<KubeServer> {
  // The cluster of recording 22: two TLS Secrets and the Opaque db-pass (30d also lists the later opaque-2).
  const opaque = recordedItems("30d").filter((s) => (s.metadata as JsonObject).name === "db-pass");
  const secrets = [...recordedItems("22"), ...opaque].map(asCreated);
  return await startKubeServer({ objects: { secrets }, managedFields: false, ...options });
}

async function get(server: KubeServer, path: string, token = ""): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = token === "" ? {} : { Authorization: `Bearer ${token}` };
  const res = await fetch(`${server.url}${path}`, { headers });
  return { status: res.status, body: await res.text() };
}

Deno.test("startKubeServer() lists Secrets by type like recording 22, and filters like 30a and 30d", async () => {
  await using server = await recordedSecrets();
  const tls = await get(server, `/api/v1/secrets?${TLS}`);
  assert.equal(tls.status, 200);
  const list = JSON.parse(tls.body);
  assert.equal(list.kind, "SecretList");
  assert.deepEqual(list.items.map(comparable), recordedItems("22").map(comparable));
  assert.deepEqual(Object.keys(list.items[0]), ["metadata", "data", "type"]);
  for (
    const [query, key] of [[`${TLS}&labelSelector=app%3Dshop`, "30a"], [
      "fieldSelector=type%21%3Dkubernetes.io%2Ftls%2Cmetadata.namespace%3Drec2",
      "30d",
    ]] as const
  ) {
    // Recorded after 23's changes (tls-a renewed, opaque-2 added): compared by name.
    const filtered = JSON.parse((await get(server, `/api/v1/secrets?${query}`)).body);
    const names = (items: JsonObject[]) => items.map((s) => (s.metadata as JsonObject).name);
    assert.deepEqual(names(filtered.items), names(recordedItems(key)).filter((n) => n !== "opaque-2"), key);
  }
  const doubled = JSON.parse(
    (await get(server, "/api/v1/secrets?fieldSelector=type%3D%3Dkubernetes.io%2Ftls")).body,
  );
  assert.deepEqual(doubled.items.map(comparable), recordedItems("22").map(comparable), "== like =");
  const named = JSON.parse(
    (await get(server, `/api/v1/namespaces/rec2/secrets?${TLS},metadata.name%3Dtls-d`)).body,
  );
  assert.deepEqual(named.items.map((s: JsonObject) => (s.metadata as JsonObject).name), ["tls-d"]);
});

Deno.test("startKubeServer() answers unsupported Secret field selectors with recording 30's 400s", async () => {
  await using server = await recordedSecrets();
  for (const key of ["30b", "30c", "30e"]) {
    const path = RECORDED_SECRETS[key]!.request.split(" ")[1]!;
    const res = await get(server, path);
    assert.equal(res.status, 400, key);
    assert.equal(res.body, RECORDED_SECRETS[key]!.body, key);
  }
});

Deno.test("startKubeServer() stores Secrets like the real server: stringData, default type, TLS keys required", async () => {
  await using server = await startKubeServer({ managedFields: false });
  const made = server.upsert("secrets", { metadata: { name: "s", namespace: "n" }, stringData: { k: "v" } });
  assert.deepEqual(made.data, { k: "dg==" });
  assert.equal(made.type, "Opaque");
  assert.equal(made.stringData, undefined);
  assert.throws(
    () =>
      server.upsert("secrets", {
        metadata: { name: "t" },
        type: "kubernetes.io/tls",
        data: { "tls.crt": "" },
      }),
    /data\[tls\.key\]: Required value/,
  );
  assert.throws(
    () => server.upsert("secrets", { metadata: { name: "b" }, data: { k: "no!" } }),
    /illegal base64 data at input byte 2/,
  );
});

Deno.test("startKubeServer() refuses Secrets to a user without the grant with recording 29's 403s", async () => {
  await using server = await recordedSecrets({
    tokens: { "reader-token": "reader" },
    authorize: { reader: [{ verbs: ["get", "list", "watch"], resources: ["endpoints", "services"] }] },
  });
  for (const key of ["29a", "29b", "29c", "29d"]) {
    const path = RECORDED_SECRETS[key]!.request.split(" ")[1]!;
    const res = await get(server, path, "reader-token");
    assert.equal(res.status, 403, key);
    assert.equal(res.body, RECORDED_SECRETS[key]!.body, key);
  }
});

/** Reads newline-delimited events of a watch response until `until` accepts one. */
async function readEvents(res: Response, until: (event: JsonObject) => boolean): Promise<JsonObject[]> {
  const events: JsonObject[] = [];
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n")) {
      const event = JSON.parse(buffer.slice(0, nl)) as JsonObject;
      buffer = buffer.slice(nl + 1);
      events.push(event);
      if (until(event)) return events;
    }
  }
  throw new Error(`Watch ended before the awaited event: ${events.length} events`);
}

Deno.test("startKubeServer() watches TLS Secrets like recording 23: renewal is one MODIFIED, Opaque unseen", async () => {
  await using server = await recordedSecrets();
  const d = recordedItems("22").map(asCreated)[1];
  const recorded = RECORDED_SECRETS["23"]!.body.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  const res = await fetch(
    `${server.url}/api/v1/secrets?watch=1&${TLS}&resourceVersion=${server.resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=60`,
  );
  const renewed = recorded.find((e) => e.type === "MODIFIED").object as JsonObject;
  server.upsert("secrets", asCreated(recorded.find((e) => e.type === "ADDED").object));
  server.upsert("secrets", asCreated(renewed));
  server.upsert("secrets", { metadata: { name: "opaque-2", namespace: "rec2" }, stringData: { token: "x" } });
  server.remove("secrets", "rec2", (d!.metadata as JsonObject).name as string);
  server.patch("secrets", "rec2", "opaque-2", { metadata: { annotations: { note: "x" } } });
  const opaqueRV = (server.get("secrets", "rec2", "opaque-2")!.metadata as JsonObject).resourceVersion;
  server.bookmark("secrets");
  const events = await readEvents(res, (e) => e.type === "BOOKMARK");
  await res.body?.cancel();
  assert.deepEqual(events.map((e) => e.type), recorded.map((e) => e.type));
  assert.deepEqual(
    events.filter((e) => e.type !== "BOOKMARK").map((e) => comparable(e.object as JsonObject)),
    recorded.filter((e) => e.type !== "BOOKMARK").map((e) => comparable(e.object)),
  );
  const bookmark = events.at(-1)!.object as JsonObject;
  assert.deepEqual(bookmark, {
    kind: "Secret",
    apiVersion: "v1",
    metadata: { resourceVersion: opaqueRV, creationTimestamp: null },
  });
});
