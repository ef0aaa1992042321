import assert from "node:assert/strict";
import { createKubeSource, type KubeSourceOptions, type KubeSourceSettings } from "../lib/kube/source.ts";
import type { EndpointSet } from "../lib/kube/objects.ts";
import { type JsonObject, startKubeServer } from "../lib/demo/kube_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const routed = (domain: string) => ({ domain, proto: "http" });
const slice = (name: string, service: string | undefined, ip: string, ns = "a"): JsonObject => ({
  metadata: { name, namespace: ns, labels: service ? { "kubernetes.io/service-name": service } : { x: "y" } },
  addressType: "IPv4",
  endpoints: [{ addresses: [ip], conditions: { ready: true } }],
  ports: [{ name: "http", port: 8080, protocol: "TCP" }],
});
const svc = (name: string, annotations?: Record<string, string>, ns = "a"): JsonObject => ({
  metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
  spec: { ports: [{ port: 80 }] },
});
const ipsOf = (sets: EndpointSet[], name: string) =>
  sets.find((s) => s.name === name)?.groups.flatMap((g) => g.addresses.map((a) => a.ip)) ?? [];
const FAST: KubeSourceOptions = { backoffBaseMs: 10, backoffCapMs: 50, requestTimeoutMs: 1000 };
function settings(url: string, extra: Partial<KubeSourceSettings> = {}): KubeSourceSettings {
  return { apiServers: [url], resource: "endpointslices", namespace: [], interval: 300_000, ...extra };
}
async function eventually(check: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(5);
}

Deno.test("createKubeSource() drops a slice relabelled from an annotated Service to an unannotated one", async () => {
  await using server = await startKubeServer({
    objects: {
      services: [svc("web", routed("web.example.com")), svc("other")],
      endpointslices: [slice("s1", "web", "10.0.0.1")],
    },
  });
  const source = await createKubeSource(settings(server.url), FAST);
  let notified = 0;
  source.onChange(() => notified++);
  const c = new AbortController();
  const run = source.run(c.signal);
  try {
    await eventually(() => source.status().synced && ipsOf(source.snapshot(), "web").length === 1);
    assert.deepEqual(ipsOf(source.snapshot(), "web"), ["10.0.0.1"]);
    const before = source.status().events.MODIFIED ?? 0;
    server.patch("endpointslices", "a", "s1", {
      metadata: { labels: { "kubernetes.io/service-name": "other" } },
    });
    await eventually(() => (source.status().events.MODIFIED ?? 0) > before);
    await sleep(100);
    assert.deepEqual(
      ipsOf(source.snapshot(), "web"),
      [],
      "slice moved away from web, web should have no IPs",
    );
  } finally {
    c.abort();
    await run;
  }
});

Deno.test("createKubeSource() detaches a slice that loses its service-name label", async () => {
  await using server = await startKubeServer({
    objects: {
      services: [svc("web", routed("web.example.com"))],
      endpointslices: [slice("s1", "web", "10.0.0.1")],
    },
  });
  const source = await createKubeSource(settings(server.url, { interval: 500 }), FAST);
  const c = new AbortController();
  const run = source.run(c.signal);
  try {
    await eventually(() => source.status().synced && ipsOf(source.snapshot(), "web").length === 1);
    server.upsert("endpointslices", slice("s1", undefined, "10.0.0.1"));
    await sleep(1500); // > 2 resyncs
    assert.deepEqual(
      ipsOf(source.snapshot(), "web"),
      [],
      "a slice no longer labelled for web still feeds web",
    );
  } finally {
    c.abort();
    await run;
  }
});

Deno.test("createKubeSource() watches a namespace named twice once", async () => {
  await using server = await startKubeServer({
    objects: {
      endpoints: [{
        metadata: { name: "web", namespace: "a", annotations: routed("web.example.com") },
        subsets: [{
          addresses: [{ ip: "10.0.0.1" }],
          ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        }],
      }],
    },
  });
  const source = await createKubeSource(
    settings(server.url, { resource: "endpoints", namespace: ["a", "a"] }),
    FAST,
  );
  const c = new AbortController();
  const run = source.run(c.signal);
  try {
    await eventually(() => source.status().synced);
    const names = source.snapshot().map((s) => `${s.namespace}/${s.name}`);
    assert.deepEqual(names, ["a/web"]);
  } finally {
    c.abort();
    await run;
  }
});
