import assert from "node:assert/strict";
import { type KubeServer, startKubeServer } from "../../lib/demo/kube_server.ts";
import type { JsonObject, JsonValue } from "../../lib/demo/kube_objects.ts";
import { canonicalQuantity, freeNodePort, NODE_PORT_RANGE } from "../../lib/demo/kube_nodes.ts";
import {
  RECORDED_NODEPORT,
  RECORDED_NODEPORT_SERVICES,
  RECORDED_NODEPORT_SLICES,
  RECORDED_NODES,
  recordedNodeStatus,
} from "../support/kube_recorded_nodeport.ts";

/** Values that differ between any two servers (ids, times, versions, random allocations). */
const MASKED = new Set([
  "uid",
  "creationTimestamp",
  "resourceVersion",
  "clusterIP",
  "lastHeartbeatTime",
  "lastTransitionTime",
]);

/** JSON with masked values replaced by "*" (nulls kept: a null time is part of the shape), managedFields dropped. */
function masked(value: JsonValue, ports: ReadonlySet<string> = new Set()): JsonValue {
  if (Array.isArray(value)) return value.map((v) => masked(v, ports));
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "managedFields") continue;
    if (k === "clusterIPs") out[k] = ["*"];
    else if ((MASKED.has(k) || ports.has(k)) && v !== null) out[k] = "*";
    else out[k] = masked(v, ports);
  }
  return out;
}

/** Equal as JSON text: key order counts (deepEqual ignores it). */
function assertSameJson(actual: JsonValue, expected: JsonValue): void {
  assert.equal(JSON.stringify(actual, null, 1), JSON.stringify(expected, null, 1));
}

function eventLines(body: string): JsonObject[] {
  return body.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as JsonObject);
}

async function send(server: KubeServer, method: string, path: string, body?: unknown, type?: string) {
  const headers: Record<string, string> = { "user-agent": "kube-recorder/1.0" };
  if (body !== undefined) headers["content-type"] = type ?? "application/json";
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as JsonObject;
}

const MERGE = "application/merge-patch+json";

/** The Nodes of recording 24 made as the recorder made them: create, status subresource, cordon. */
async function recordedNodes(server: KubeServer): Promise<void> {
  for (const n of RECORDED_NODES) await send(server, "POST", "/api/v1/nodes", n);
  const addresses = { "node-a": "198.51.100.51", "node-b": "198.51.100.52", "node-c": "198.51.100.53" };
  for (const [name, address] of Object.entries(addresses)) {
    const status = recordedNodeStatus(name, address, name !== "node-c");
    await send(server, "PATCH", `/api/v1/nodes/${name}/status`, status, MERGE);
  }
  await send(server, "PATCH", "/api/v1/nodes/node-b", { spec: { unschedulable: true } }, MERGE);
}

/** The first `count` lines of a watch, after `during` made its changes and a bookmark was forced. */
async function watchLines(
  server: KubeServer,
  path: string,
  count: number,
  during: () => Promise<void>,
): Promise<JsonObject[]> {
  const res = await fetch(`${server.url}${path}`, { headers: { "user-agent": "kube-recorder/1.0" } });
  await server.waitForWatches(1);
  await during();
  server.bookmark();
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (text.split("\n").length <= count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  return eventLines(text).slice(0, count);
}

Deno.test("startKubeServer() lists Nodes like recording 24: no namespace, taint, status defaults, cordon", async () => {
  await using server = await startKubeServer({ managedFields: false });
  await recordedNodes(server);
  const list = await send(server, "GET", "/api/v1/nodes");
  assertSameJson(masked(list), masked(JSON.parse(RECORDED_NODEPORT["24"]!.body)));
  const node = await send(server, "GET", "/api/v1/nodes/node-a");
  assert.equal(node.kind, "Node");
});

Deno.test("startKubeServer() ignores status written through the Node's main resource", async () => {
  await using server = await startKubeServer({ managedFields: false });
  await recordedNodes(server);
  const before = server.get("nodes", "", "node-a")!;
  const after = await send(server, "PATCH", "/api/v1/nodes/node-a", {
    status: { addresses: [{ type: "InternalIP", address: "198.51.100.99" }] },
  }, MERGE);
  assert.deepEqual(after, before);
});

Deno.test("startKubeServer() watches Nodes like recording 25: MODIFIED for status, labels, cordon; DELETED; BOOKMARK", async () => {
  await using server = await startKubeServer({ managedFields: false });
  await recordedNodes(server);
  const rv = server.resourceVersion;
  const got = await watchLines(
    server,
    `/api/v1/nodes?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=15`,
    5,
    async () => {
      await send(server, "PATCH", "/api/v1/nodes/node-a/status", {
        status: {
          conditions: [{
            type: "Ready",
            status: "False",
            reason: "KubeletNotReady",
            message: "container runtime is down",
            lastHeartbeatTime: "2026-12-05T13:44:58Z",
            lastTransitionTime: "2026-12-05T13:44:58Z",
          }],
        },
      }, MERGE);
      await send(server, "PATCH", "/api/v1/nodes/node-b", {
        metadata: { labels: { "topology.kubernetes.io/zone": "zone-c" } },
      }, MERGE);
      await send(server, "PATCH", "/api/v1/nodes/node-c", { spec: { unschedulable: true } }, MERGE);
      await send(server, "DELETE", "/api/v1/nodes/node-b");
    },
  );
  const recorded = eventLines(RECORDED_NODEPORT["25"]!.body);
  assertSameJson(got.map((e) => masked(e)), recorded.map((e) => masked(e)));
  const deleted = got[3]!.object as JsonObject;
  assert.equal((deleted.metadata as JsonObject).resourceVersion, String(server.resourceVersion));
});

Deno.test("startKubeServer() allocates Service node ports like recording 26 and keeps them through writes (27)", async () => {
  await using server = await startKubeServer({ managedFields: false });
  for (const s of RECORDED_NODEPORT_SERVICES) {
    await send(server, "POST", "/api/v1/namespaces/rec2/services", s);
  }
  const list = await send(server, "GET", "/api/v1/namespaces/rec2/services");
  const ports = new Set(["nodePort", "healthCheckNodePort"]);
  assertSameJson(masked(list, ports), masked(JSON.parse(RECORDED_NODEPORT["26"]!.body), ports));
  const lb = server.get("services", "rec2", "lb")!.spec as JsonObject;
  const lbPort = ((lb.ports as JsonObject[])[0]!).nodePort as number;
  const firstCheck = lb.healthCheckNodePort as number;
  for (const p of [lbPort, firstCheck]) {
    assert.ok(p >= NODE_PORT_RANGE.min && p <= NODE_PORT_RANGE.max, `${p}`);
  }
  assert.notEqual(lbPort, firstCheck);

  const rv = server.resourceVersion;
  const got = await watchLines(
    server,
    `/api/v1/namespaces/rec2/services?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=15`,
    5,
    async () => {
      const svc = "/api/v1/namespaces/rec2/services";
      await send(server, "PATCH", `${svc}/lb`, { spec: { externalTrafficPolicy: "Cluster" } }, MERGE);
      await send(server, "PATCH", `${svc}/np`, [{
        op: "replace",
        path: "/spec/ports/0/nodePort",
        value: 30081,
      }], "application/json-patch+json");
      await send(server, "PATCH", `${svc}/lb`, { spec: { externalTrafficPolicy: "Local" } }, MERGE);
      await send(server, "PATCH", `${svc}/np`, { spec: { type: "ClusterIP" } }, MERGE);
    },
  );
  const recorded = eventLines(RECORDED_NODEPORT["27"]!.body);
  // The recording has two bookmarks ~1.2 s apart; the shape of one is what matters.
  assert.deepEqual(
    got.map((e) => masked(e, ports)),
    recorded.slice(0, got.length).map((e) => masked(e, ports)),
  );
  const specOf = (i: number) => ((got[i]!.object as JsonObject).spec as JsonObject);
  assert.equal(specOf(0).healthCheckNodePort, undefined);
  assert.equal(((specOf(1).ports as JsonObject[])[0]!).nodePort, 30081);
  assert.notEqual(specOf(2).healthCheckNodePort, firstCheck);
  assert.equal(((specOf(2).ports as JsonObject[])[0]!).nodePort, lbPort);
});

Deno.test("startKubeServer() lists EndpointSlices with nodeName and partial conditions like recording 28", async () => {
  await using server = await startKubeServer({ managedFields: false });
  for (const s of RECORDED_NODEPORT_SLICES) {
    await send(server, "POST", "/apis/discovery.k8s.io/v1/namespaces/rec2/endpointslices", s);
  }
  const list = await send(
    server,
    "GET",
    "/apis/discovery.k8s.io/v1/namespaces/rec2/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dnp",
  );
  assertSameJson(masked(list), masked(JSON.parse(RECORDED_NODEPORT["28"]!.body)));
});

Deno.test("canonicalQuantity() moves binary quantities to the largest whole unit", () => {
  assert.equal(canonicalQuantity("8192Mi"), "8Gi");
  assert.equal(canonicalQuantity("1536Mi"), "1536Mi");
  assert.equal(canonicalQuantity("4"), "4");
});

Deno.test("freeNodePort() avoids used ports and fails loudly when the range is full", () => {
  const used = new Set([30000, 30001]);
  assert.equal(freeNodePort(used, () => 0), 30002);
  const all = new Set(Array.from({ length: 2768 }, (_, i) => 30000 + i));
  assert.throws(() => freeNodePort(all), RangeError);
});
