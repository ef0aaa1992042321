import assert from "node:assert/strict";
import type { EndpointSet } from "../../../lib/model/endpoints.ts";
import { createKubeSource, type KubeSourceSettings } from "../../../lib/source/kube/source.ts";
import { type JsonObject, startKubeServer } from "../../../lib/demo/kube_server.ts";

function ep(name: string, ips: string[], domain?: string): JsonObject {
  return {
    metadata: { name, namespace: "a", ...(domain ? { annotations: { domain, proto: "http" } } : {}) },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: "http", port: 8080 }] }],
  };
}

function slice(name: string, service: string, ips: string[]): JsonObject {
  return {
    metadata: { name, namespace: "a", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: ips.map((ip) => ({ addresses: [ip] })),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

function service(name: string, domain?: string): JsonObject {
  return {
    metadata: { name, namespace: "a", ...(domain ? { annotations: { domain, proto: "http" } } : {}) },
  };
}

/**
 * Runs a source; `step(change, done)` makes a change on the server and waits until `done(snapshot)`; after
 * each, the sets rebuilt from takeChanges() alone must equal snapshot().
 */
async function mirrored(
  resource: KubeSourceSettings["resource"],
  objects: Parameters<typeof startKubeServer>[0],
  steps: [
    string,
    (server: Awaited<ReturnType<typeof startKubeServer>>) => void,
    (sets: EndpointSet[]) => boolean,
  ][],
): Promise<void> {
  await using server = await startKubeServer(objects);
  const source = await createKubeSource({
    apiServers: [server.url],
    resource,
    namespace: [],
    interval: 300_000,
  }, { backoffBaseMs: 10, backoffCapMs: 50, requestTimeoutMs: 2000 });
  let wake = () => {};
  source.onChange(() => wake());
  const until = (what: string, check: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), 10_000);
      wake = () => check() && (clearTimeout(timer), resolve());
      wake();
    });
  const controller = new AbortController();
  const run = source.run(controller.signal);
  try {
    await until("first sync", () => source.status().synced);
    assert.equal(source.takeChanges(), null, "the first call cannot say: read the snapshot");
    const mirror = new Map(source.snapshot().map((s) => [`${s.namespace}/${s.name}`, s]));
    for (const [what, change, done] of steps) {
      change(server);
      await until(what, () => done(source.snapshot()));
      for (const [key, set] of source.takeChanges() ?? []) {
        set === null ? mirror.delete(key) : mirror.set(key, set);
      }
      const sorted = (sets: Iterable<EndpointSet>) =>
        [...sets].sort((a, b) => `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1);
      assert.deepEqual(sorted(mirror.values()), sorted(source.snapshot()), `after ${what}`);
    }
  } finally {
    controller.abort();
    await run;
  }
}

const has = (name: string, ips?: number) => (sets: EndpointSet[]) => {
  const set = sets.find((s) => s.name === name);
  return set !== undefined && (ips === undefined || set.groups.flatMap((g) => g.addresses).length === ips);
};
const gone = (name: string) => (sets: EndpointSet[]) => !sets.some((s) => s.name === name);

Deno.test("createKubeSource() takeChanges() tells Endpoints changes that rebuild the snapshot", async () => {
  await mirrored("endpoints", {
    objects: { endpoints: [ep("web", ["10.0.0.1"], "web.test"), ep("plain", ["10.0.0.2"])] },
  }, [
    ["added", (s) => s.upsert("endpoints", ep("api", ["10.0.1.1"], "api.test")), has("api")],
    ["changed", (s) => s.upsert("endpoints", ep("web", ["10.0.0.1", "10.0.0.3"], "web.test")), has("web", 2)],
    ["annotated", (s) => s.upsert("endpoints", ep("plain", ["10.0.0.2"], "plain.test")), has("plain")],
    ["unannotated", (s) => s.upsert("endpoints", ep("api", ["10.0.1.1"])), gone("api")],
    ["deleted", (s) => s.remove("endpoints", "a", "web"), gone("web")],
  ]);
});

Deno.test("createKubeSource() takeChanges() tells EndpointSlice and Service changes that rebuild the snapshot", async () => {
  await mirrored("endpointslices", {
    objects: {
      services: [service("web", "web.test"), service("api", "api.test"), service("other")],
      endpointslices: [slice("web-1", "web", ["10.0.0.1"]), slice("api-1", "api", ["10.0.1.1"])],
    },
  }, [
    ["second slice", (s) => s.upsert("endpointslices", slice("web-2", "web", ["10.0.0.2"])), has("web", 2)],
    ["slice moved", (s) => s.upsert("endpointslices", slice("web-2", "api", ["10.0.0.2"])), has("api", 2)],
    ["service annotated", (s) => s.upsert("services", service("other", "other.test")), has("other", 0)],
    [
      "slice of it",
      (s) => s.upsert("endpointslices", slice("other-1", "other", ["10.0.2.1"])),
      has("other", 1),
    ],
    ["slice deleted", (s) => s.remove("endpointslices", "a", "web-1"), has("web", 0)],
    ["service unannotated", (s) => s.upsert("services", service("api")), gone("api")],
  ]);
});
