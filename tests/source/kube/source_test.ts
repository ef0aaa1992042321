import assert from "node:assert/strict";
import {
  createKubeSource,
  type KubeSource,
  type KubeSourceOptions,
  type KubeSourceSettings,
} from "../../../lib/source/kube/source.ts";
import type { EndpointSet } from "../../../lib/model/endpoints.ts";
import { memoryLogger } from "../../../lib/log.ts";
import { type CertPair, type TestCerts, testCerts } from "../../support/certs.ts";
import { waitFor } from "../../support/haproxy.ts";
import { type JsonObject, type KubeServer, startKubeServer } from "../../../lib/demo/kube_server.ts";

const FAST: KubeSourceOptions = {
  backoffBaseMs: 10,
  backoffCapMs: 50,
  requestTimeoutMs: 1000,
  watchTimeoutSeconds: 30,
  readTimeoutMs: 5000,
};

function ep(ns: string, name: string, ips: string[], annotations?: Record<string, string>): JsonObject {
  return {
    metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}), labels: { app: name } },
    subsets: [{
      addresses: ips.map((ip) => ({ ip })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    }],
  };
}

function routed(domain: string): Record<string, string> {
  return { domain, proto: "http" };
}

function settings(
  server: KubeServer | string[],
  extra: Partial<KubeSourceSettings> = {},
): KubeSourceSettings {
  return {
    apiServers: Array.isArray(server) ? server : [server.url],
    resource: "endpoints",
    namespace: [],
    interval: 300_000,
    ...extra,
  };
}

/** Runs a source until `fn` returns; waits resolve with the performance.now() of the listener call. */
async function running(
  s: KubeSourceSettings,
  options: KubeSourceOptions,
  fn: (
    source: KubeSource,
    until: (what: string, check: (sets: EndpointSet[]) => boolean, ms?: number) => Promise<number>,
  ) => Promise<void>,
): Promise<void> {
  const source = await createKubeSource(s, { ...FAST, ...options });
  const waiters = new Set<{ check: (sets: EndpointSet[]) => boolean; resolve: (t: number) => void }>();
  source.onChange(() => {
    const at = performance.now();
    for (const w of waiters) {
      if (w.check(source.snapshot())) {
        waiters.delete(w);
        w.resolve(at);
      }
    }
  });
  function until(what: string, check: (sets: EndpointSet[]) => boolean, ms = 30_000): Promise<number> {
    if (source.status().synced && check(source.snapshot())) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`Timed out waiting for ${what}: ${JSON.stringify(source.status())}`));
      }, ms);
      const waiter = {
        check: (sets: EndpointSet[]) => source.status().synced && check(sets),
        resolve: (t: number) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      waiters.add(waiter);
    });
  }
  const controller = new AbortController();
  const run = source.run(controller.signal);
  try {
    await fn(source, until);
  } finally {
    controller.abort();
    await run;
  }
}

/** Polls `check` until it holds; fails loudly, naming `what`, after `timeoutMs`. */
function eventually(what: string, check: () => boolean, timeoutMs = 30_000): Promise<true> {
  return waitFor(() => check() || undefined, { what, timeoutMs, intervalMs: 5 });
}

function names(sets: EndpointSet[]): string[] {
  return sets.map((s) => `${s.namespace}/${s.name}`);
}

function ipsOf(sets: EndpointSet[], name: string): string[] {
  return sets.find((s) => s.name === name)?.groups.flatMap((g) => g.addresses.map((a) => a.ip)) ?? [];
}

function lists(server: KubeServer): number {
  return server.requests.filter((r) => !r.watch).length;
}

Deno.test("createKubeSource() reflects added, changed and deleted Endpoints from the watch, without relisting", async () => {
  await using server = await startKubeServer({
    objects: {
      endpoints: [ep("a", "web", ["10.0.0.1"], routed("web.example.com")), ep("a", "plain", ["10.0.0.9"])],
    },
  });
  await running(settings(server), {}, async (source, until) => {
    await until("first sync", (sets) => names(sets).join() === "a/web");
    assert.equal(source.status().objects, 2, "the unannotated object is held (as a key only)");
    // Each change arrives as a watch event (the one list is the first; resync is minutes away).
    server.upsert("endpoints", ep("b", "api", ["10.0.1.1"], routed("api.example.com")));
    await until("added", (sets) => names(sets).includes("b/api"));
    server.upsert("endpoints", ep("a", "web", ["10.0.0.1", "10.0.0.2"], routed("web.example.com")));
    await until("changed", (sets) => ipsOf(sets, "web").length === 2);
    server.patch("endpoints", "a", "plain", { metadata: { annotations: routed("plain.example.com") } });
    await until("annotated", (sets) => names(sets).includes("a/plain"));
    server.remove("endpoints", "a", "web");
    await until("deleted", (sets) => !names(sets).includes("a/web"));
    assert.equal(lists(server), 1, "no relist");
    const status = source.status();
    assert.equal(status.synced, true);
    assert.equal(status.fullSyncs, 1);
    assert.equal(status.endpoint, server.url);
    assert.deepEqual(status.events, { ADDED: 1, MODIFIED: 2, DELETED: 1 });
    assert.deepEqual(names(source.snapshot()), ["a/plain", "b/api"]);
  });
});

Deno.test("createKubeSource() hands the first list's routed sets on page by page, the same objects as the snapshot", async () => {
  const objects = [
    ep("a", "web", ["10.0.0.1"], routed("web.example.com")),
    ep("a", "plain", ["10.0.0.9"]),
    ep("b", "api", ["10.0.1.1"], routed("api.example.com")),
    ep("b", "node", ["10.0.1.2"], { ...routed("node.example.com"), "haconfd.io/backend-mode": "nodeport" }),
  ];
  await using server = await startKubeServer({ objects: { endpoints: objects } });
  const pages: string[][] = [];
  const seen: EndpointSet[] = [];
  let syncedDuringPages = false;
  await running(settings(server), { pageSize: 2 }, async (source, until) => {
    source.onListing?.((sets) => {
      syncedDuringPages ||= source.status().synced;
      pages.push(names([...sets]));
      seen.push(...sets);
    });
    await until("first sync", (sets) => sets.length === 3);
    // The node-port set waits for the nodes: it comes with the snapshot only.
    assert.deepEqual(pages, [["a/web"], ["b/api"]]);
    assert.equal(syncedDuringPages, false);
    const snapshot = source.snapshot();
    for (const set of seen) assert.ok(snapshot.includes(set), `${set.name}: the same object`);
    server.upsert("endpoints", ep("c", "new", ["10.0.2.1"], routed("new.example.com")));
    await until("added", (sets) => names(sets).includes("c/new"));
    assert.equal(pages.length, 2, "watch events are no pages");
  });
});

Deno.test("createKubeSource() joins EndpointSlices to their annotated Service and maps conditions", async () => {
  const slice = (name: string, service: string, endpoints: JsonObject[]): JsonObject => ({
    metadata: { name, namespace: "a", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  });
  await using server = await startKubeServer({
    objects: {
      services: [
        {
          metadata: { name: "web", namespace: "a", annotations: routed("web.example.com") },
          spec: { ports: [{ port: 80 }] },
        },
        { metadata: { name: "other", namespace: "a" }, spec: { ports: [{ port: 80 }] } },
      ],
      endpointslices: [
        slice("web-1", "web", [
          { addresses: ["10.0.0.1"], conditions: { ready: true, serving: true, terminating: false } },
          { addresses: ["10.0.0.2"], conditions: { ready: false, serving: true, terminating: true } },
          { addresses: ["10.0.0.3"], conditions: { ready: false, serving: false } },
          { addresses: ["10.0.0.4"] },
        ]),
        slice("other-1", "other", [{ addresses: ["10.0.9.1"] }]),
      ],
    },
  });
  let notified = 0;
  await running(settings(server, { resource: "endpointslices" }), {}, async (source, until) => {
    source.onChange(() => notified++);
    await until("first sync", (sets) => names(sets).join() === "a/web");
    const web = source.snapshot()[0]!;
    assert.deepEqual(web.annotations, routed("web.example.com"));
    assert.deepEqual(web.groups[0]!.addresses, [
      { ip: "10.0.0.1", ready: true },
      { ip: "10.0.0.2", ready: false, draining: true },
      { ip: "10.0.0.3", ready: false },
      { ip: "10.0.0.4", ready: true },
    ]);
    const before = notified;
    server.upsert("endpointslices", slice("other-1", "other", [{ addresses: ["10.0.9.2"] }]));
    server.upsert("endpointslices", slice("web-2", "web", [{ addresses: ["10.0.0.5"] }]));
    await until("second slice", (sets) => sets[0]?.groups.length === 2);
    assert.equal(notified, before + 1, "a slice of an unannotated Service notifies no one");
    server.patch("services", "a", "other", { metadata: { annotations: routed("other.example.com") } });
    await until("annotated service", (sets) => ipsOf(sets, "other").join() === "10.0.9.2");
    server.remove("services", "a", "web");
    await until("service gone", (sets) => names(sets).join() === "a/other");
    assert.equal(lists(server), 2, "one list per resource, no relist");
    assert.ok(server.requests.some((r) => r.path === "/apis/discovery.k8s.io/v1/endpointslices" && r.watch));
    assert.ok(server.requests.some((r) => r.path === "/api/v1/services" && r.watch));
  });
});

Deno.test("createKubeSource() passes namespaces and the label selector to the API", async () => {
  await using server = await startKubeServer({
    objects: {
      endpoints: [
        {
          ...ep("a", "one", ["10.0.0.1"], routed("one.example.com")),
          metadata: {
            name: "one",
            namespace: "a",
            labels: { haconfd: "yes" },
            annotations: routed("one.example.com"),
          },
        },
        {
          ...ep("b", "two", ["10.0.0.2"], routed("two.example.com")),
          metadata: {
            name: "two",
            namespace: "b",
            labels: { haconfd: "yes" },
            annotations: routed("two.example.com"),
          },
        },
        {
          ...ep("b", "no", ["10.0.0.3"], routed("no.example.com")),
          metadata: {
            name: "no",
            namespace: "b",
            labels: { haconfd: "no" },
            annotations: routed("no.example.com"),
          },
        },
        ep("c", "three", ["10.0.0.4"], routed("three.example.com")),
      ],
    },
  });
  await running(
    settings(server, { namespace: ["a", "b"], labelSelector: "haconfd=yes" }),
    {},
    async (source, until) => {
      await until("sync", (sets) => sets.length === 2);
      assert.deepEqual(names(source.snapshot()), ["a/one", "b/two"]);
      const paths = [...new Set(server.requests.map((r) => r.path))].sort();
      assert.deepEqual(paths, ["/api/v1/namespaces/a/endpoints", "/api/v1/namespaces/b/endpoints"]);
      assert.ok(server.requests.every((r) => r.query.get("labelSelector") === "haconfd=yes"));
      assert.deepEqual(source.status().namespaces, ["a", "b"]);
    },
  );
});

Deno.test("createKubeSource() survives expiry, drops, stalls, garbage, 500s and refused connections", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [ep("a", "web", ["10.0.0.1"], routed("web.example.com"))] },
  });
  const log = memoryLogger();
  let ip = 1;
  const bump = () => {
    ip++;
    server.upsert("endpoints", ep("a", "web", [`10.0.0.${ip}`], routed("web.example.com")));
    return `10.0.0.${ip}`;
  };
  await running(settings(server), { log, readTimeoutMs: 300 }, async (source, until) => {
    await until("sync", (sets) => sets.length === 1);
    await server.waitForWatches(1);

    server.dropWatches();
    let want = bump();
    await until("after a drop", (sets) => ipsOf(sets, "web").join() === want);

    server.stallWatches();
    want = bump();
    await until("after a stall", (sets) => ipsOf(sets, "web").join() === want);

    await server.waitForWatches(1);
    server.sendGarbage('{"type":"MODIFIED","object":{garbage\n');
    want = bump();
    await until("after garbage", (sets) => ipsOf(sets, "web").join() === want);

    await server.waitForWatches(1);
    server.failNext(3, { status: 500, watch: true });
    server.dropWatches();
    want = bump();
    await until("after 500s", (sets) => ipsOf(sets, "web").join() === want);

    await server.waitForWatches(1);
    await server.stopListening();
    want = bump();
    await eventually("a refused connection", () => /Cannot connect/.test(source.status().lastError ?? ""));
    await server.startListening();
    await until("after refused connections", (sets) => ipsOf(sets, "web").join() === want);

    assert.equal(lists(server), 1, "no relist so far");
    await server.waitForWatches(1);
    await server.stopListening();
    want = bump();
    server.upsert("endpoints", ep("a", "new", ["10.9.9.9"], routed("new.example.com")));
    server.compact();
    await server.startListening();
    await until("after expiry", (sets) => ipsOf(sets, "web").join() === want && sets.length === 2);

    const status = source.status();
    assert.equal(status.restarts.expired, 1);
    assert.ok((status.restarts.dropped ?? 0) >= 2, JSON.stringify(status.restarts));
    assert.ok((status.restarts.stalled ?? 0) >= 1);
    assert.equal(status.restarts.garbage, 1);
    assert.ok((status.restarts.error ?? 0) >= 3);
    assert.equal(status.fullSyncs, 2);
    assert.equal(lists(server), 2, "one relist, for the expiry");
    assert.equal(status.lastError, null);
    assert.ok(log.lines.some((l) => l.msg === "the watch stream sent a line that is not JSON, resuming"));
  });
});

Deno.test("createKubeSource() fails over to the second API server", async () => {
  await using first = await startKubeServer({
    objects: { endpoints: [ep("a", "web", ["10.0.0.1"], routed("w.example.com"))] },
  });
  await using second = await startKubeServer({
    objects: { endpoints: [ep("a", "web", ["10.0.0.2"], routed("w.example.com"))] },
  });
  await first.stopListening();
  await running(settings([first.url, second.url]), {}, async (source, until) => {
    await until("sync", (sets) => ipsOf(sets, "web").join() === "10.0.0.2");
    assert.equal(source.status().endpoint, second.url);
    second.upsert("endpoints", ep("a", "web", ["10.0.0.3"], routed("w.example.com")));
    await until("event", (sets) => ipsOf(sets, "web").join() === "10.0.0.3");
  });
  await first.startListening();
  assert.equal(first.requests.length, 0);
});

Deno.test("createKubeSource() reports 401 and 403 with the identity and permission, and recovers", async () => {
  let allowed = false;
  await using server = await startKubeServer({
    tokens: { "reader-secret": "reader" },
    authorize: (user, attributes) => allowed && user.name === "reader" && attributes.resource === "endpoints",
    objects: { endpoints: [ep("a", "web", ["10.0.0.1"], routed("w.example.com"))] },
  });
  const dir = await Deno.makeTempDir({ prefix: "haconfd-src-" });
  const log = memoryLogger();
  try {
    await Deno.writeTextFile(`${dir}/token`, "stale-secret");
    await running(settings(server, { tokenFile: `${dir}/token` }), { log }, async (source, until) => {
      await eventually("an error", () => source.status().lastError !== null);
      assert.match(
        source.status().lastError ?? "",
        /rejected the credentials of bearer token from ".*token" \(401 Unauthorized\)/,
      );
      await Deno.writeTextFile(`${dir}/token`, "reader-secret");
      // The status code as the message shows it: a bare "403" can be part of the server's port.
      await eventually("a 403", () => /\(403 Forbidden\)/.test(source.status().lastError ?? ""));
      assert.match(
        source.status().lastError ?? "",
        /forbids bearer token from ".*token" to list "endpoints" in all namespaces \(cluster scope\) \(403 Forbidden\): grant it "list" and "watch" on "endpoints" \(RBAC\): endpoints is forbidden: User "reader" cannot list/,
      );
      assert.equal(source.status().synced, false);
      allowed = true;
      await until("recovered", (sets) => sets.length === 1);
      assert.equal(source.status().lastError, null);
    });
    assert.ok(log.lines.some((l) => l.level === "error" && l.msg === "API access denied"));
    assert.ok(log.lines.every((l) => !JSON.stringify(l).includes('secret"')));
    assert.ok(log.lines.every((l) => !JSON.stringify(l).includes("reader-secret")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createKubeSource() skips malformed objects with a warning", async () => {
  await using server = await startKubeServer({
    objects: {
      endpoints: [
        ep("a", "good", ["10.0.0.1"], routed("good.example.com")),
        ep("a", "badip", ["999.1.2.3"], routed("bad.example.com")),
        {
          metadata: { name: "badport", namespace: "a", annotations: routed("p.example.com") },
          subsets: [{ ports: [{ port: "eighty" }] }],
        },
      ],
    },
  });
  const log = memoryLogger();
  await running(settings(server), { log }, async (source, until) => {
    await until("sync", (sets) => sets.length === 1);
    assert.deepEqual(source.status().problems.map((p) => p.object), ["a/badip", "a/badport"]);
    assert.match(
      source.status().problems[0]!.reason,
      /invalid Endpoints: subsets\.0\.addresses\.0\.ip: not an IP address/,
    );
    server.upsert("endpoints", {
      metadata: { name: "good", namespace: "a", annotations: 5 as unknown as JsonObject },
      subsets: [],
    });
    server.upsert("endpoints", ep("a", "later", ["10.0.0.7"], routed("later.example.com")));
    await until("later", (sets) => sets.length === 2);
    assert.deepEqual(ipsOf(source.snapshot(), "good"), ["10.0.0.1"], "the last good version is kept");
    assert.ok(
      log.lines.filter((l) => l.level === "warn" && String(l.msg).startsWith("skipped a malformed")).length >=
        2,
    );
  });
});

async function tlsServer(
  certs: TestCerts,
  extra: Parameters<typeof startKubeServer>[0] = {},
): Promise<KubeServer> {
  return await startKubeServer({
    tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
    tokens: { "token-a": "robot-a", "token-b": "robot-b" },
    authorize: {
      haconfd: [{ verbs: ["list", "watch"], resources: ["endpoints"] }],
      "robot-a": [{ verbs: ["list", "watch"], resources: ["endpoints"] }],
      "robot-b": [{ verbs: ["list", "watch"], resources: ["endpoints"] }],
    },
    objects: { endpoints: [ep("a", "web", ["10.0.0.1"], routed("w.example.com"))] },
    ...extra,
  });
}

async function syncs(
  s: KubeSourceSettings,
  options: KubeSourceOptions,
  server: KubeServer,
): Promise<string | undefined> {
  let user: string | undefined;
  await running(s, options, async (_source, until) => {
    await until("sync", (sets) => sets.length === 1);
    user = server.requests.at(-1)?.user;
  });
  return user;
}

function kubeconfig(
  server: KubeServer,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "other",
    clusters: [{ name: "test", cluster: { server: server.url, ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "test", context: { cluster: "test", user: "u" } }, {
      name: "other",
      context: { cluster: "nope" },
    }],
  });
}

Deno.test("createKubeSource() authenticates by mTLS, token file (rotated), kubeconfig and in-cluster", async () => {
  const certs = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "haconfd-auth-src-" });
  try {
    const me: CertPair = await certs.client("haconfd", ["ops"]);
    await using server = await tlsServer(certs);

    // flags: --ssl-cert/--ssl-key/--ssl-ca
    const mtls = { sslCa: certs.caCertPath, sslCert: me.certPath, sslKey: me.keyPath };
    assert.equal(await syncs(settings(server, mtls), {}, server), "haconfd");

    // flags: --token-file, rotated while watching
    await Deno.writeTextFile(`${dir}/token`, "token-a");
    await running(
      settings(server, { sslCa: certs.caCertPath, tokenFile: `${dir}/token` }),
      {},
      async (source, until) => {
        await until("sync", (sets) => sets.length === 1);
        assert.equal(server.requests.at(-1)?.user, "robot-a");
        await Deno.writeTextFile(`${dir}/token`, "token-b");
        server.dropWatches("endpoints");
        // The reconnect after the drop is asynchronous: wait for the next request rather than a count.
        await eventually("a request with the new token", () => server.requests.at(-1)?.user === "robot-b");
        assert.equal(server.requests.at(-1)?.user, "robot-b");
        assert.equal(source.identity(), `bearer token from "${dir}/token"`);
      },
    );

    // kubeconfig with files (relative to the kubeconfig), named context
    await Deno.copyFile(me.certPath, `${dir}/me.crt`);
    await Deno.copyFile(me.keyPath, `${dir}/me.key`);
    await Deno.copyFile(certs.caCertPath, `${dir}/ca.crt`);
    await Deno.writeTextFile(
      `${dir}/files.kubeconfig`,
      kubeconfig(server, { "certificate-authority": "ca.crt" }, {
        "client-certificate": "me.crt",
        "client-key": "me.key",
      }),
    );
    const viaFiles = settings([], { kubeconfig: `${dir}/files.kubeconfig`, context: "test" });
    assert.equal(await syncs(viaFiles, {}, server), "haconfd");

    // kubeconfig with inline data
    await Deno.writeTextFile(
      `${dir}/inline.kubeconfig`,
      kubeconfig(server, { "certificate-authority-data": btoa(certs.caCert) }, {
        "client-certificate-data": btoa(me.cert),
        "client-key-data": btoa(me.key),
      }),
    );
    assert.equal(
      await syncs(settings([], { kubeconfig: `${dir}/inline.kubeconfig`, context: "test" }), {}, server),
      "haconfd",
    );

    // kubeconfig with a token
    await Deno.writeTextFile(
      `${dir}/token.kubeconfig`,
      kubeconfig(server, { "certificate-authority-data": btoa(certs.caCert) }, { token: "token-b" }),
    );
    assert.equal(
      await syncs(settings([], { kubeconfig: `${dir}/token.kubeconfig`, context: "test" }), {}, server),
      "robot-b",
    );

    // in-cluster: service-account directory and KUBERNETES_SERVICE_HOST/PORT
    await Deno.mkdir(`${dir}/sa`);
    await Deno.writeTextFile(`${dir}/sa/token`, "token-a");
    await Deno.copyFile(certs.caCertPath, `${dir}/sa/ca.crt`);
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(server.port) };
    assert.equal(await syncs(settings([]), { env, serviceAccountDir: `${dir}/sa` }, server), "robot-a");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await certs.dispose();
  }
});

Deno.test("createKubeSource() reports a server certificate that does not verify, unless insecure-skip-tls-verify", async () => {
  const certs = await testCerts();
  try {
    await using server = await tlsServer(certs);
    await running(settings(server, { sslCa: certs.otherCaCertPath }), {}, async (source) => {
      await eventually("an error", () => source.status().lastError !== null);
      assert.match(
        source.status().lastError ?? "",
        /the API server's certificate did not verify against --ssl-ca ".*": UnknownIssuer/,
      );
    });
    // insecure-skip-tls-verify without a CA: the server certificate is not verified (the source syncs),
    // and the start-up warning says so once, naming the cluster and server
    const dir = await Deno.makeTempDir({ prefix: "haconfd-insecure-" });
    const log = memoryLogger();
    try {
      await Deno.writeTextFile(
        `${dir}/kubeconfig`,
        kubeconfig(server, { "insecure-skip-tls-verify": true }, { token: "token-a" }),
      );
      assert.equal(
        await syncs(settings([], { kubeconfig: `${dir}/kubeconfig`, context: "test" }), { log }, server),
        "robot-a",
      );
      const warnings = log.lines.filter((l) =>
        l.level === "warn" && /insecure-skip-tls-verify/.test(String(l.msg))
      );
      assert.equal(warnings.length, 1);
      assert.equal(
        warnings[0]!.msg,
        `insecure-skip-tls-verify of cluster "test" is set: the certificate of API server "${server.url}" is ` +
          "NOT verified, so anyone on the network path can impersonate it; add certificate-authority-data instead",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await certs.dispose();
  }
});
