import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYamlForTest } from "yaml";
import { createFileSource, parseDump } from "../../lib/source/file.ts";
import { memoryLogger } from "../../lib/log.ts";
import { waitForSync } from "../../lib/source/source.ts";
import { endpoints } from "../support/daemon.ts";
import { startKubeServer } from "../../lib/demo/kube_server.ts";
import { waitFor } from "../support/haproxy.ts";
import { endpointsList, endpointsObject } from "../support/fixtures.ts";
import { installed, run } from "../support/process.ts";

function dump(...names: string[]): string {
  return JSON.stringify(endpointsList(
    ...names.map((name) =>
      endpointsObject({ name, annotations: { domain: `${name}.example.test`, proto: "http" } })
    ),
  ));
}

/** Starts a file source on `path` and returns helpers to wait for its snapshot. */
function watch(path: string) {
  const log = memoryLogger();
  const source = createFileSource(path, { log, settleMs: 20 });
  const controller = new AbortController();
  let changed = Promise.withResolvers<void>();
  source.onChange(() => changed.resolve());
  const running = source.run(controller.signal);
  return {
    source,
    log,
    names: () => source.snapshot().map((s) => s.name).sort(),
    /** Waits until the snapshot's names are `want` (or fails after 5 s). */
    async until(want: string[]): Promise<void> {
      const deadline = Date.now() + 5000;
      while (JSON.stringify(this.names()) !== JSON.stringify(want)) {
        if (Date.now() > deadline) {
          throw new Error(`snapshot is ${JSON.stringify(this.names())}, want ${want}`);
        }
        await Promise.race([changed.promise, new Promise((r) => setTimeout(r, 100))]);
        changed = Promise.withResolvers<void>();
      }
    },
    async stop(): Promise<void> {
      controller.abort();
      await running;
    },
  };
}

Deno.test("createFileSource() reads the file and sees an in-place rewrite and an editor's rename", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "endpoints.json");
  await Deno.writeTextFile(path, dump("a"));
  const w = watch(path);
  try {
    await w.until(["a"]);
    assert.equal(w.source.status().synced, true);
    await Deno.writeTextFile(path, dump("a", "b"));
    await w.until(["a", "b"]);
    await Deno.writeTextFile(join(dir, ".endpoints.json.swp"), dump("c"));
    await Deno.rename(join(dir, ".endpoints.json.swp"), path);
    await w.until(["c"]);
  } finally {
    await w.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileSource() sees a ConfigMap-style swap of the ..data symlink", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "..v1"));
    await Deno.writeTextFile(join(dir, "..v1", "endpoints.json"), dump("old"));
    await Deno.symlink("..v1", join(dir, "..data"));
    await Deno.symlink(join("..data", "endpoints.json"), join(dir, "endpoints.json"));
    const w = watch(join(dir, "endpoints.json"));
    try {
      await w.until(["old"]);
      await Deno.mkdir(join(dir, "..v2"));
      await Deno.writeTextFile(join(dir, "..v2", "endpoints.json"), dump("new"));
      await Deno.symlink("..v2", join(dir, "..data_tmp"));
      await Deno.rename(join(dir, "..data_tmp"), join(dir, "..data"));
      await w.until(["new"]);
    } finally {
      await w.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileSource() keeps the last good state while the file is invalid, and recovers", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "endpoints.json");
  await Deno.writeTextFile(path, dump("a"));
  const w = watch(path);
  try {
    await w.until(["a"]);
    await Deno.writeTextFile(path, '{"kind": "List", "items": [');
    const deadline = Date.now() + 5000;
    while (w.source.status().lastError === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(w.source.status().lastError ?? "", /Cannot parse ".*endpoints\.json": not JSON/);
    assert.deepEqual(w.names(), ["a"], "the last good snapshot stays");
    assert.ok(w.log.lines.some((l) => l.msg === "cannot read source file, keeping the last good state"));
    await Deno.writeTextFile(path, dump("b"));
    await w.until(["b"]);
    assert.equal(w.source.status().lastError, null);
  } finally {
    await w.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileSource() fails run() when the file's directory does not exist", async () => {
  const source = createFileSource("/nonexistent-dir/endpoints.json", { log: memoryLogger() });
  await assert.rejects(source.run(new AbortController().signal));
  assert.match(source.status().lastError ?? "", /Cannot read "\/nonexistent-dir\/endpoints\.json"/);
});

Deno.test("createFileSource() does not notify for unrelated files in its directory", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "endpoints.json");
  await Deno.writeTextFile(path, dump("a"));
  const log = memoryLogger();
  const source = createFileSource(path, { log, settleMs: 10 });
  let notified = 0;
  source.onChange(() => notified++);
  const controller = new AbortController();
  const running = source.run(controller.signal);
  try {
    await waitFor(() => notified === 1, { what: "the initial read" });
    for (let i = 0; i < 5; i++) {
      // Each write is seen (the directory's event makes the source read the dump again), and only then
      // is the absence of a notification a fact, with no wait of a guessed length.
      const reads = source.status().fullSyncs;
      await Deno.writeTextFile(join(dir, `haproxy.cfg.rejected`), `attempt ${i}`);
      await waitFor(() => source.status().fullSyncs > reads, { what: `the re-read after write ${i}` });
      assert.equal(notified, 1, "writes beside the dump (e.g. haconfd's own config files) start no pass");
    }
    await Deno.writeTextFile(path, dump("b"));
    await waitFor(() => notified === 2, { what: "the notification for the changed dump" });
  } finally {
    controller.abort();
    await running;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("waitForSync() resolves on the first complete sync and names the last error on a timeout", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "endpoints.json");
  try {
    await Deno.writeTextFile(path, dump("a"));
    const good = createFileSource(path, { log: memoryLogger() });
    const c1 = new AbortController();
    const r1 = good.run(c1.signal);
    await waitForSync(good, r1, 30_000);
    assert.equal(good.status().synced, true);
    c1.abort();
    await r1;

    await Deno.writeTextFile(path, "{ not json");
    const bad = createFileSource(path, { log: memoryLogger() });
    const c2 = new AbortController();
    const r2 = bad.run(c2.signal);
    await assert.rejects(
      waitForSync(bad, r2, 200),
      /No complete sync with the source within 200ms: Cannot parse/,
    );
    c2.abort();
    await r2;

    const gone = createFileSource("/nonexistent-dir/x.json", { log: memoryLogger() });
    const r3 = gone.run(new AbortController().signal);
    await assert.rejects(waitForSync(gone, r3, 2000), /No such file|not found|NotFound/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `kubectl get endpoints -A -o yaml` output as kubectl 1.3x prints it: a List with items, quoted strings. */
const KUBECTL_YAML = `apiVersion: v1
items:
- apiVersion: v1
  kind: Endpoints
  metadata:
    annotations:
      domain: grafana.example.test
      endpoints.kubernetes.io/last-change-trigger-time: "2026-03-02T10:15:42Z"
      proto: http
    creationTimestamp: "2026-03-01T09:00:00Z"
    labels:
      app.kubernetes.io/name: grafana
    name: grafana
    namespace: monitoring
    resourceVersion: "48213"
    uid: 6f1d2c3e-2b8a-4a57-9a53-0c6d1f0a9e21
  subsets:
  - addresses:
    - ip: 10.244.0.77
      nodeName: node-a
      targetRef:
        kind: Pod
        name: grafana-7b9f6d8c5-2lq8m
        namespace: monitoring
        uid: 0a4b3c2d-1e0f-4a5b-8c7d-6e5f4a3b2c1d
    notReadyAddresses:
    - ip: 10.244.2.79
      targetRef:
        kind: Pod
        name: grafana-7b9f6d8c5-zz9qq
        namespace: monitoring
    ports:
    - name: http
      port: 3000
      protocol: TCP
- apiVersion: v1
  kind: Endpoints
  metadata:
    annotations:
      domain: "007.example.test"
      proto: redis
    creationTimestamp: "2026-03-01T09:00:01Z"
    name: redis
    namespace: data
    resourceVersion: "48214"
    uid: 1f1d2c3e-2b8a-4a57-9a53-0c6d1f0a9e22
  subsets:
  - addresses:
    - ip: 10.244.3.20
    ports:
    - port: 6379
      protocol: TCP
kind: List
metadata:
  resourceVersion: ""
`;

Deno.test("parseDump() reads kubectl -o yaml output (a List with items) like the same dump in JSON", () => {
  const fromYaml = parseDump(KUBECTL_YAML, "dump.yaml");
  assert.deepEqual(fromYaml.problems, []);
  assert.deepEqual(fromYaml.sets.map((s) => `${s.namespace}/${s.name}`).sort(), [
    "data/redis",
    "monitoring/grafana",
  ]);
  const grafana = fromYaml.sets.find((s) => s.name === "grafana")!;
  assert.equal(grafana.annotations.domain, "grafana.example.test");
  assert.equal(grafana.created, "2026-03-01T09:00:00Z", "timestamps stay strings");
  assert.deepEqual(grafana.groups[0]?.addresses.map((a) => [a.ip, a.ready, a.target]), [
    ["10.244.0.77", true, "grafana-7b9f6d8c5-2lq8m"],
    ["10.244.2.79", false, "grafana-7b9f6d8c5-zz9qq"],
  ]);
  // The YAML and its JSON twin give the same sets.
  const json = JSON.stringify(parseYamlForTest(KUBECTL_YAML));
  assert.deepEqual(parseDump(json, "dump.json").sets, fromYaml.sets);
});

Deno.test("parseDump() names the input and the line when it is neither JSON nor YAML, without echoing it", () => {
  assert.throws(
    () => parseDump("items: [\n  - {a: 1\n", "dump.yaml"),
    /^TypeError: Cannot parse "dump\.yaml": not JSON or YAML: [^\n]* at line \d+, column \d+$/,
  );
  assert.throws(
    () => parseDump("kind: Pod\nmetadata: {}\n", "dump.yaml"),
    /Cannot use "dump\.yaml": Input is not a Kubernetes list/,
  );
});

Deno.test({
  name: "parseDump() reads what the real kubectl get endpoints -A -o yaml prints, as its -o json",
  ignore: !installed("kubectl"),
  async fn() {
    // Only kubectl talks to this server (no HAProxy, no daemon): cluster addresses as a real cluster has.
    await using kube = await startKubeServer({
      objects: {
        endpoints: [
          endpoints(
            "grafana",
            { domain: "grafana.example.test", proto: "http" },
            ["10.244.0.77", "10.244.1.78"],
            3000,
          ),
          endpoints("redis", { domain: "redis.example.test", proto: "redis" }, ["10.244.3.20"], 6379),
        ],
      },
    });
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        join(dir, "kubeconfig"),
        `apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters: [{name: t, cluster: {server: "${kube.url}"}}]\n` +
          "contexts: [{name: t, context: {cluster: t, user: t}}]\nusers: [{name: t, user: {}}]\n",
      );
      const kubectl = (format: string) =>
        run("kubectl", [
          "--kubeconfig",
          join(dir, "kubeconfig"),
          "--cache-dir",
          join(dir, "cache"),
          "get",
          "endpoints",
          "-A",
          "-o",
          format,
        ], {
          env: { HOME: dir },
        });
      const yaml = await kubectl("yaml");
      assert.equal(yaml.code, 0, yaml.stderr);
      assert.match(
        yaml.stdout,
        /^apiVersion: v1\nitems:\n- apiVersion: v1\n {2}kind: Endpoints\n/,
        "kubectl's List shape",
      );
      const json = await kubectl("json");
      assert.equal(json.code, 0, json.stderr);
      const fromYaml = parseDump(yaml.stdout, "kubectl.yaml");
      assert.deepEqual(fromYaml.problems, []);
      assert.deepEqual(fromYaml.sets.map((s) => s.name).sort(), ["grafana", "redis"]);
      assert.deepEqual(fromYaml.sets, parseDump(json.stdout, "kubectl.json").sets);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
