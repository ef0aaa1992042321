import assert from "node:assert/strict";
import {
  createKubeSource,
  type KubeSourceOptions,
  type KubeSourceSettings,
} from "../../../lib/source/kube/source.ts";
import type { EndpointSet } from "../../../lib/model/endpoints.ts";
import { waitFor } from "../../support/haproxy.ts";
import { type JsonObject, startKubeServer } from "../../../lib/demo/kube_server.ts";

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
/** Polls `check` until it holds; fails loudly, naming `what`, after `timeoutMs`. */
function eventually(what: string, check: () => boolean, timeoutMs = 5000): Promise<true> {
  return waitFor(() => check() || undefined, { what, timeoutMs, intervalMs: 5 });
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
    await eventually(
      "the first sync",
      () => source.status().synced && ipsOf(source.snapshot(), "web").length === 1,
    );
    assert.deepEqual(ipsOf(source.snapshot(), "web"), ["10.0.0.1"]);
    const before = source.status().events.MODIFIED ?? 0;
    server.patch("endpointslices", "a", "s1", {
      metadata: { labels: { "kubernetes.io/service-name": "other" } },
    });
    await eventually("the relabelling event", () => (source.status().events.MODIFIED ?? 0) > before);
    await eventually(
      "web without the slice that moved away",
      () => ipsOf(source.snapshot(), "web").length === 0,
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
    await eventually(
      "the first sync",
      () => source.status().synced && ipsOf(source.snapshot(), "web").length === 1,
    );
    server.upsert("endpointslices", slice("s1", undefined, "10.0.0.1"));
    await eventually("web without the unlabelled slice", () => ipsOf(source.snapshot(), "web").length === 0);
    // ...and it stays detached through two resyncs (relists diffed against the store).
    const syncs = source.status().fullSyncs;
    await eventually("two resyncs", () => source.status().fullSyncs >= syncs + 2);
    assert.deepEqual(
      ipsOf(source.snapshot(), "web"),
      [],
      "a slice no longer labelled for web feeds web again",
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
    await eventually("the first sync", () => source.status().synced);
    const names = source.snapshot().map((s) => `${s.namespace}/${s.name}`);
    assert.deepEqual(names, ["a/web"]);
  } finally {
    c.abort();
    await run;
  }
});
