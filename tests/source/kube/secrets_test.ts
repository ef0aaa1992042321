import assert from "node:assert/strict";
import { SECRETS_KIND } from "../../../lib/source/kube/secrets.ts";
import { createKubeSource, type KubeSource } from "../../../lib/source/kube/source.ts";
import { type JsonObject, type KubeServer, startKubeServer } from "../../../lib/demo/kube_server.ts";
import { waitFor } from "../../support/haproxy.ts";
import { tlsCerts } from "../../support/tls_certs.ts";

function tlsSecret(namespace: string, name: string, cert: string, key: string, labels = {}): JsonObject {
  return {
    metadata: { name, namespace, labels },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": cert, "tls.key": key },
  };
}

function web(namespace: string, name: string, annotations: Record<string, string>): JsonObject {
  return {
    metadata: {
      name,
      namespace,
      annotations: { domain: `${name}.example.test`, proto: "http", ...annotations },
    },
    subsets: [{ addresses: [{ ip: "127.0.0.1" }], ports: [{ name: "http", port: 8080 }] }],
  };
}

function secretRequests(server: KubeServer) {
  return server.requests.filter((r) => r.path.endsWith("/secrets"));
}

async function withSource(
  server: KubeServer,
  extra: { namespace?: string[]; secretLabelSelector?: string; tls?: boolean },
  fn: (source: KubeSource) => Promise<void>,
): Promise<void> {
  const source = await createKubeSource(
    {
      apiServers: [server.url],
      resource: "endpoints",
      namespace: extra.namespace ?? [],
      interval: 300_000,
      ...extra,
    },
    { backoffBaseMs: 10, backoffCapMs: 50, requestTimeoutMs: 5000, watchTimeoutSeconds: 30 },
  );
  const controller = new AbortController();
  const run = source.run(controller.signal);
  try {
    await fn(source);
  } finally {
    controller.abort();
    await run;
  }
}

function until(what: string, check: () => boolean): Promise<true> {
  return waitFor(() => check() || undefined, { what, timeoutMs: 30_000, intervalMs: 5 });
}

Deno.test("SECRETS_KIND.project() keeps the PEM data and name only, and refuses without quoting the data", () => {
  const data = { "tls.crt": btoa("CERT"), "tls.key": btoa("-----BEGIN PRIVATE KEY-----") };
  const metadata = {
    name: "s",
    namespace: "n",
    labels: { a: "b" },
    annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ data }) },
  };
  const view = SECRETS_KIND.project({ metadata, type: "kubernetes.io/tls", data });
  assert.ok(view !== null && typeof view !== "string");
  assert.deepEqual(Object.keys(view).sort(), ["cert", "digest", "key", "name", "namespace", "type"]);
  assert.equal(view.cert, "CERT");
  assert.equal(view.key.reveal(), "-----BEGIN PRIVATE KEY-----");
  assert.ok(!JSON.stringify(view).includes("PRIVATE KEY"));
  assert.equal(SECRETS_KIND.project({ metadata, type: "Opaque", data }), null);
  const bad = SECRETS_KIND.project({
    metadata,
    type: "kubernetes.io/tls",
    data: { ...data, "tls.key": "!!PRIVATE!!" },
  });
  assert.equal(bad, 'data "tls.key" is missing or not base64');
  assert.equal(SECRETS_KIND.fieldSelector, "type=kubernetes.io/tls");
});

Deno.test("createKubeSource() watches TLS Secrets only once a service names one, by type, namespace and label", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const a2 = await certs.leaf("a2", ["a.example.test"]);
  await using server = await startKubeServer({
    objects: {
      endpoints: [web("shop", "plain", {})],
      secrets: [
        tlsSecret("shop", "tls-a", a.cert, a.key, { tls: "yes" }),
        tlsSecret("shop", "tls-unlabelled", a.cert, a.key),
        tlsSecret("other", "tls-a", a.cert, a.key, { tls: "yes" }),
        {
          metadata: { name: "opaque", namespace: "shop", labels: { tls: "yes" } },
          stringData: { password: "x" },
        },
      ],
    },
  });
  await withSource(server, { namespace: ["shop"], tls: false }, async (source) => {
    await until("the first sync", () => source.status().synced);
    server.upsert("endpoints", web("shop", "off", { "haconfd.io/tls-secret": "tls-a" }));
    await until("the change", () => source.snapshot().some((s) => s.name === "off"));
    assert.deepEqual(secretRequests(server), [], "without --tls no Secrets watch");
    server.remove("endpoints", "shop", "off");
  });
  await withSource(
    server,
    { namespace: ["shop"], secretLabelSelector: "tls=yes", tls: true },
    async (source) => {
      await until("the first sync", () => source.status().synced);
      assert.deepEqual(secretRequests(server), [], "no service names a Secret: no Secrets watch");
      server.upsert("endpoints", web("shop", "a", { "haconfd.io/tls-secret": "tls-a" }));
      await until("the Secrets list", () => source.secrets().length === 1 && source.status().synced);
      const [held] = source.secrets();
      assert.equal(`${held!.namespace}/${held!.name}`, "shop/tls-a");
      for (const request of secretRequests(server)) {
        assert.equal(request.path, "/api/v1/namespaces/shop/secrets");
        assert.equal(request.query.get("fieldSelector"), "type=kubernetes.io/tls");
        assert.equal(request.query.get("labelSelector"), "tls=yes");
      }
      const digest = held!.digest;
      server.upsert("secrets", tlsSecret("shop", "tls-a", a2.cert, a2.key, { tls: "yes" }));
      await until("the renewal", () => source.secrets()[0]?.digest !== digest);
      assert.equal(source.secrets()[0]!.cert, a2.cert);
      assert.ok(!JSON.stringify(source.secrets()).includes("PRIVATE KEY"));
      server.remove("secrets", "shop", "tls-a");
      await until("the deletion", () => source.secrets().length === 0);
    },
  );
});

Deno.test("createKubeSource() stays synced while a Secrets watch started after the first sync lists, and says so", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [web("shop", "plain", {})] } });
  await withSource(server, { tls: true }, async (source) => {
    await until("the first sync", () => source.status().synced);
    assert.deepEqual(source.status().listing, []);
    const list = server.holdNext({ path: "/api/v1/secrets", watch: false });
    let reached = false;
    void list.reached.then(() => reached = true);
    server.upsert("endpoints", web("shop", "a", { "haconfd.io/tls-secret": "tls-a" }));
    await until("the Secrets list to be held", () => reached);
    assert.equal(source.status().synced, true);
    assert.deepEqual(source.status().listing, ["listing TLS Secrets"]);
    list.release();
    await until("the Secrets list", () => source.status().listing?.length === 0);
    assert.equal(source.status().synced, true);
  });
});

Deno.test("createKubeSource() is not synced before a Secrets watch started by the first list has listed too", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [web("shop", "a", { "haconfd.io/tls-secret": "tls-a" })] },
  });
  const list = server.holdNext({ path: "/api/v1/secrets", watch: false });
  let reached = false;
  void list.reached.then(() => reached = true);
  await withSource(server, { tls: true }, async (source) => {
    await until("the Secrets list to be held", () => reached);
    assert.equal(source.status().synced, false);
    assert.deepEqual(source.status().listing, []);
    list.release();
    await until("the first sync", () => source.status().synced);
  });
});
