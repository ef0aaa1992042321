/**
 * Drives the real `kubectl` (when it is on PATH) against the test API server over TLS, with a token user
 * and a client-certificate user, to prove the server is complete enough for a real client: discovery,
 * lists, label selectors, GET + merge-patch (annotate) producing watch events, and RBAC errors.
 */
import assert from "node:assert/strict";
import { type KubeServer, startKubeServer } from "../lib/demo/kube_server.ts";
import { RECORDED_OBJECTS } from "./support/kube_recorded.ts";
import { type TestCerts, testCerts } from "./support/certs.ts";
import type { JsonObject } from "../lib/demo/kube_objects.ts";

function findKubectl(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const path = `${dir}/kubectl`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const KUBECTL = findKubectl();
const SKIP = KUBECTL ? "" : " (skipped: kubectl is not on PATH)";

interface Kubectl {
  server: KubeServer;
  certs: TestCerts;
  run(
    user: "admin" | "alice" | "reader",
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A TLS server with the recorded objects, a kubeconfig with three users, and a temp dir for the cache. */
async function setup(): Promise<Kubectl> {
  const certs = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "haconfd-kubectl-" });
  let server: KubeServer | undefined;
  try {
    const alice = await certs.client("alice", ["admins"]);
    server = await startKubeServer({
      objects: RECORDED_OBJECTS,
      tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
      tokens: { "admin-token": "admin", "reader-token": "reader" },
      authorize: {
        admin: [{ verbs: "*", resources: "*" }],
        "group:admins": [{ verbs: "*", resources: "*" }],
      },
    });
    const b64 = (text: string) => btoa(text);
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "test",
          cluster: { server: server.url, "certificate-authority-data": b64(certs.caCert) },
        }],
        users: [
          { name: "admin", user: { token: "admin-token" } },
          { name: "reader", user: { token: "reader-token" } },
          {
            name: "alice",
            user: { "client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key) },
          },
        ],
        contexts: ["admin", "reader", "alice"].map((user) => ({
          name: user,
          context: { cluster: "test", user },
        })),
        "current-context": "admin",
      }),
    );
  } catch (error) {
    await server?.close();
    await certs.dispose();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const running = server;
  return {
    server: running,
    certs,
    async run(user, ...args) {
      const out = await new Deno.Command(KUBECTL!, {
        args: [
          "--kubeconfig",
          `${dir}/kubeconfig`,
          "--context",
          user,
          "--cache-dir",
          `${dir}/cache`,
          ...args,
        ],
        clearEnv: true,
        env: { HOME: dir, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
    },
    async [Symbol.asyncDispose]() {
      await running.close();
      await certs.dispose();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function names(list: JsonObject): string[] {
  return (list.items as JsonObject[]).map((i) =>
    `${(i.metadata as JsonObject).namespace}/${(i.metadata as JsonObject).name}`
  );
}

Deno.test({
  name: `kubectl get endpoints -A -o json returns the server's objects (token user, TLS)${SKIP}`,
  ignore: !KUBECTL,
  async fn() {
    await using k = await setup();
    const out = await k.run("admin", "get", "endpoints", "-A", "-o", "json");
    assert.equal(out.code, 0, out.stderr);
    const list = JSON.parse(out.stdout) as JsonObject;
    assert.deepEqual(names(list), ["default/kubernetes", "rec/web"]);
    const web = (list.items as JsonObject[])[1]!;
    assert.deepEqual((web.metadata as JsonObject).annotations, { domain: "web.example.com", proto: "http" });
    const lists = k.server.requests.filter((r) => r.path === "/api/v1/endpoints");
    assert.deepEqual(lists.map((r) => r.url), ["/api/v1/endpoints?limit=500"]);
    assert.equal(lists[0]!.headers.authorization, "Bearer admin-token");
    assert.ok(k.server.requests.some((r) => r.path === "/api/v1"), "kubectl ran discovery");
    assert.ok(k.server.requests.every((r) => r.status === 200));

    const namespaced = await k.run("admin", "get", "endpoints", "-n", "rec");
    assert.equal(namespaced.code, 0, namespaced.stderr);
    assert.match(namespaced.stdout, /^NAME\s+AGE\nweb\s/);
  },
});

Deno.test({
  name: `kubectl annotate endpoints changes the object and a watcher sees MODIFIED (client-cert user)${SKIP}`,
  ignore: !KUBECTL,
  async fn() {
    await using k = await setup();
    const client = Deno.createHttpClient({ caCerts: [k.certs.caCert] });
    try {
      const watch = await fetch(
        `${k.server.url}/api/v1/namespaces/rec/endpoints?watch=true&resourceVersion=${k.server.resourceVersion}`,
        { client, headers: { Authorization: "Bearer admin-token" } },
      );
      assert.equal(watch.status, 200);
      const reader = watch.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        await k.server.waitForWatches(1);
        const out = await k.run(
          "alice",
          "annotate",
          "endpoints",
          "web",
          "-n",
          "rec",
          "domain=a.example.test",
          "proto=http",
          "--overwrite",
        );
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /endpoints\/web annotated/);
        let text = "";
        while (!text.includes("\n")) {
          const { value, done } = await reader.read();
          assert.ok(!done, "watch ended early");
          text += value;
        }
        const event = JSON.parse(text.split("\n")[0]!) as JsonObject;
        assert.equal(event.type, "MODIFIED");
        const meta = (event.object as JsonObject).metadata as JsonObject;
        assert.deepEqual(meta.annotations, { domain: "a.example.test", proto: "http" });
      } finally {
        await reader.cancel();
      }
    } finally {
      client.close();
    }
    const stored = k.server.get("endpoints", "rec", "web")!;
    assert.equal(((stored.metadata as JsonObject).annotations as JsonObject).domain, "a.example.test");
    const managers = ((stored.metadata as JsonObject).managedFields as JsonObject[]).map((m) => m.manager);
    assert.ok(managers.includes("kubectl-annotate"));
    const patch = k.server.requests.find((r) => r.method === "PATCH")!;
    assert.equal(patch.user, "alice");
    assert.equal(patch.headers["content-type"], "application/merge-patch+json");
    assert.equal(patch.url, "/api/v1/namespaces/rec/endpoints/web?fieldManager=kubectl-annotate");
  },
});

Deno.test({
  name: `kubectl get endpointslices -l selects by label${SKIP}`,
  ignore: !KUBECTL,
  async fn() {
    await using k = await setup();
    k.server.upsert("endpointslices", {
      metadata: { name: "other-x", namespace: "rec", labels: { "kubernetes.io/service-name": "other" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.0.2.99"], conditions: { ready: true } }],
      ports: [{ name: "http", port: 80 }],
    });
    const out = await k.run(
      "admin",
      "get",
      "endpointslices",
      "-A",
      "-l",
      "kubernetes.io/service-name=api",
      "-o",
      "json",
    );
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(names(JSON.parse(out.stdout) as JsonObject), ["rec/api-v4", "rec/api-v6"]);
    const request = k.server.requests.find((r) => r.path === "/apis/discovery.k8s.io/v1/endpointslices")!;
    assert.equal(
      request.url,
      "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dapi&limit=500",
    );
    const all = await k.run("admin", "get", "endpointslices", "-n", "rec", "-o", "name");
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.stdout.trim().split("\n"), [
      "endpointslice.discovery.k8s.io/api-v4",
      "endpointslice.discovery.k8s.io/api-v6",
      "endpointslice.discovery.k8s.io/other-x",
    ]);
  },
});

Deno.test({
  name: `kubectl reports the server's 403 message for a user without permission${SKIP}`,
  ignore: !KUBECTL,
  async fn() {
    await using k = await setup();
    const out = await k.run("reader", "get", "endpoints", "-n", "rec", "-o", "json");
    assert.notEqual(out.code, 0);
    assert.match(
      out.stderr,
      /endpoints is forbidden: User "reader" cannot list resource "endpoints" in API group "" in the namespace "rec"/,
    );
  },
});

Deno.test({
  name: `kubectl creates Nodes, patches their status subresource, cordons and lists them${SKIP}`,
  ignore: !KUBECTL,
  async fn() {
    await using k = await setup();
    const file = `${k.certs.dir}/node.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node-a", labels: { pool: "edge" } },
      }),
    );
    // The test server serves no OpenAPI document: no client-side schema validation.
    const created = await k.run("admin", "create", "--validate=false", "-f", file);
    assert.equal(created.code, 0, created.stderr);
    const status = JSON.stringify({
      status: {
        conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "ok" }],
        addresses: [{ type: "InternalIP", address: "127.0.0.2" }],
      },
    });
    const patched = await k.run(
      "admin",
      "patch",
      "node",
      "node-a",
      "--subresource=status",
      "--type=merge",
      "-p",
      status,
    );
    assert.equal(patched.code, 0, patched.stderr);
    const cordoned = await k.run("admin", "cordon", "node-a");
    assert.equal(cordoned.code, 0, cordoned.stderr);
    assert.match(cordoned.stdout, /node\/node-a cordoned/);
    const out = await k.run("admin", "get", "nodes", "-l", "pool=edge", "-o", "json");
    assert.equal(out.code, 0, out.stderr);
    const [node] = (JSON.parse(out.stdout) as JsonObject).items as JsonObject[];
    assert.equal((node!.metadata as JsonObject).namespace, undefined);
    assert.equal((node!.spec as JsonObject).unschedulable, true);
    const conditions = (node!.status as JsonObject).conditions as JsonObject[];
    assert.equal(conditions[0]!.status, "True");
    assert.ok(
      k.server.requests.some((r) => r.path === "/api/v1/nodes/node-a/status" && r.method === "PATCH"),
    );
  },
});
