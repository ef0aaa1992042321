import assert from "node:assert/strict";
import { parseCommandLine } from "../../../lib/settings/cli.ts";
import { ConfigError, loadSettings, optionSpecs } from "../../../lib/settings/options.ts";
import { createKubeClient } from "../../../lib/source/kube/client.ts";
import {
  createKubeSource,
  ENDPOINTS_KIND,
  type KubeSourceSettings,
} from "../../../lib/source/kube/source.ts";
import { createWatcher } from "../../../lib/source/kube/watch.ts";
import { memoryLogger } from "../../../lib/log.ts";
import {
  endpoints,
  seenBackends,
  startDaemonProcess,
  startHttpBackends,
  startKube,
  waitForBackends,
} from "../../support/daemon.ts";
import { haproxyAvailable, waitFor } from "../../support/haproxy.ts";
import { plainConnection } from "../../support/kube_connection.ts";
import { type JsonObject, type KubeServer, startKubeServer } from "../../../lib/demo/kube_server.ts";

const ep = (name: string, ip: string): JsonObject => ({
  metadata: { name, namespace: "a", annotations: { domain: `${name}.example.com`, proto: "http" } },
  subsets: [{ addresses: [{ ip }], ports: [{ name: "http", port: 8080, protocol: "TCP" }] }],
});
const FAST = { backoffBaseMs: 10, backoffCapMs: 50, requestTimeoutMs: 1000, readTimeoutMs: 5000 };

function settings(server: KubeServer, extra: Partial<KubeSourceSettings> = {}): KubeSourceSettings {
  return { apiServers: [server.url], resource: "endpoints", namespace: [], interval: 300_000, ...extra };
}

/** Forces a relist: the watch is dropped and its reopening answered 410 Gone. */
function forceRelist(server: KubeServer): void {
  server.failNext(1, { status: 410, watch: true });
  server.dropWatches();
}

Deno.test("createKubeSource() takes a list of the wrong kind as an API error, never as an empty list", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [ep("web", "10.0.0.1"), ep("api", "10.0.0.2")] },
  });
  const log = memoryLogger();
  const source = await createKubeSource(settings(server), { ...FAST, log });
  const sizes: number[] = [];
  source.onChange(() => sizes.push(source.snapshot().length));
  const c = new AbortController();
  const run = source.run(c.signal);
  try {
    await waitFor(() => source.status().synced && source.snapshot().length === 2, { what: "the first sync" });
    const syncs = source.status().fullSyncs;
    const podList = { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] };
    server.failNext(3, { path: "/api/v1/endpoints", watch: false, body: podList });
    server.failNext(1, {
      path: "/api/v1/endpoints",
      watch: false,
      body: { ...podList, kind: "EndpointsList", apiVersion: "v2" },
    });
    forceRelist(server);
    await waitFor(() => (source.status().restarts.invalid ?? 0) >= 1, { what: "the wrong answer seen" });
    const status = source.status();
    assert.match(
      status.lastError ?? "",
      /answered the list of endpoints in all namespaces with a "PodList" of "v1", not a EndpointsList of v1: ignored/,
    );
    assert.ok(
      log.lines.some((l) => l.level === "error" && /PodList/.test(String(l.error))),
      "logged as an error",
    );
    // The real list comes back after the four wrong answers; nothing was ever emptied or counted as a sync.
    await waitFor(() => source.status().lastError === null && source.status().restarts.invalid === 4, {
      what: "recovery after four wrong answers",
    });
    assert.ok(sizes.every((n) => n === 2), `snapshot sizes seen: ${sizes}`);
    assert.deepEqual(source.snapshot().map((s) => s.name).sort(), ["api", "web"]);
    // Wrong answers are no syncs; and the real relist, forced by a watch that failed before delivering
    // anything, is no independent confirmation either (a shrink would still wait).
    assert.equal(source.status().fullSyncs, syncs);
  } finally {
    c.abort();
    await run;
  }
});

Deno.test("createWatcher() takes a watch event of the wrong kind as an API error: nothing applied, resumed", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("web", "10.0.0.1")] } });
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const log = memoryLogger();
  const watcher = createWatcher(client, ENDPOINTS_KIND, { ...FAST, log });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    const events = [
      {
        type: "DELETED",
        object: { kind: "Pod", apiVersion: "v1", metadata: { name: "web", namespace: "a" } },
      },
      { type: "DELETED", object: { metadata: { name: "web", namespace: "a", resourceVersion: "1" } } },
      { type: "ADDED", object: { ...ep("web", "10.6.6.6"), kind: "Endpoints", apiVersion: "v2" } },
      { type: "ERROR", object: { kind: "Pod", apiVersion: "v1", code: 410, reason: "Expired" } },
    ];
    for (const [n, event] of events.entries()) {
      await server.waitForWatches(1);
      assert.equal(server.sendGarbage(JSON.stringify(event) + "\n"), 1);
      await waitFor(() => watcher.stats.restarts.invalid === n + 1, {
        what: `wrong-kind event ${n} refused`,
      });
      assert.equal(watcher.store.get("a/web")?.groups[0]?.addresses[0]?.ip, "10.0.0.1", `after event ${n}`);
    }
    assert.ok(
      log.lines.some((l) =>
        /sent a ERROR event on the watch of endpoints .* with a "Pod" of "v1", not a Status of v1/.test(
          String(l.error),
        )
      ),
    );
    assert.equal(watcher.stats.restarts.expired, undefined, "an ERROR that is not a Status is no 410");
    assert.equal(
      log.lines.filter((l) => l.msg === "the watch stream sent an event of the wrong kind, resuming").length,
      4,
    );
    // Resumed (no relist): the next real event arrives on a new watch.
    server.upsert("endpoints", ep("web", "10.0.0.2"));
    await waitFor(() => watcher.store.get("a/web")?.groups[0]?.addresses[0]?.ip === "10.0.0.2", {
      what: "the next event",
    });
    assert.equal(server.requests.filter((r) => !r.watch).length, 1, "no relist");
  } finally {
    c.abort();
    await run;
    client.close();
  }
});

const KiB = 1024;

async function watching(
  server: KubeServer,
  options: { maxEventBytes?: number; readTimeoutMs?: number },
  fn: (
    watcher: ReturnType<typeof createWatcher<unknown>>,
    log: ReturnType<typeof memoryLogger>,
  ) => Promise<void>,
): Promise<void> {
  const client = createKubeClient(plainConnection([server.url]), { requestTimeoutMs: 1000 });
  const log = memoryLogger();
  const watcher = createWatcher<unknown>(client, ENDPOINTS_KIND, { ...FAST, ...options, log });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await server.waitForWatches(1);
    await fn(watcher, log);
  } finally {
    c.abort();
    await run;
    client.close();
  }
}

const ipOf = (value: unknown) =>
  (value as { groups: { addresses: { ip: string }[] }[] }).groups[0]?.addresses[0]?.ip;

Deno.test("createWatcher() abandons a watch line longer than maxEventBytes, logs it and resumes", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("web", "10.0.0.1")] } });
  await watching(server, { maxEventBytes: 64 * KiB }, async (watcher, log) => {
    // One event line of 1 MiB (a huge object), newline included.
    const object = {
      ...ep("huge", "10.0.0.9"),
      kind: "Endpoints",
      apiVersion: "v1",
      pad: "x".repeat(1024 * KiB),
    };
    const huge = { type: "ADDED", object };
    server.sendGarbage(JSON.stringify(huge) + "\n");
    await waitFor(() => watcher.stats.restarts.oversize === 1, { what: "the oversized line refused" });
    assert.ok(
      log.lines.some((l) =>
        l.level === "error" && /longer than 65536 bytes \(--max-event-bytes\)/.test(String(l.error))
      ),
    );
    assert.equal(watcher.store.has("a/huge"), false);
    server.upsert("endpoints", ep("web", "10.0.0.2"));
    await waitFor(() => ipOf(watcher.store.get("a/web")) === "10.0.0.2", { what: "the watch resumed" });
  });
});

Deno.test("createWatcher() abandons an endless line without a newline once it passes maxEventBytes", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("web", "10.0.0.1")] } });
  await watching(server, { maxEventBytes: 64 * KiB }, async (watcher, log) => {
    const piece = '{"type":"ADDED","object":{"kind":"Endpoints","apiVersion":"v1","x":"' +
      "y".repeat(16 * KiB);
    let written = 0;
    // The line never ends: more of it is written for as long as the watcher keeps reading it.
    await waitFor(() => {
      if ((watcher.stats.restarts.oversize ?? 0) >= 1) return true;
      if (server.sendGarbage(piece) > 0) written += piece.length;
      return false;
    }, { what: "the endless line refused", intervalMs: 1 });
    assert.ok(written > 64 * KiB, `only ${written} bytes were written`);
    assert.ok(log.lines.some((l) => l.msg === "the watch stream sent an oversized line, resuming"));
    server.upsert("endpoints", ep("web", "10.0.0.2"));
    await waitFor(() => ipOf(watcher.store.get("a/web")) === "10.0.0.2", { what: "the watch resumed" });
    assert.equal(
      server.requests.filter((r) => !r.watch).length,
      1,
      "resumed from its resourceVersion, no relist",
    );
  });
});

Deno.test("createWatcher() counts progress in whole events: a line dripped byte by byte stalls the watch", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("web", "10.0.0.1")] } });
  await watching(server, { readTimeoutMs: 300 }, async (watcher) => {
    const line = JSON.stringify({
      type: "MODIFIED",
      object: { ...ep("web", "10.6.6.6"), kind: "Endpoints", apiVersion: "v1" },
    });
    let sent = 0;
    // A byte every 50 ms: the stream never goes silent for 300 ms, but no event completes.
    await waitFor(() => {
      if ((watcher.stats.restarts.stalled ?? 0) >= 1) return true;
      if (server.sendGarbage(line[sent % line.length]!) > 0) sent++;
      return false;
    }, { what: "the dripping watch seen as stalled", intervalMs: 50 });
    assert.ok(sent < line.length, "the line was never completed");
    server.upsert("endpoints", ep("web", "10.0.0.2"));
    await waitFor(() => ipOf(watcher.store.get("a/web")) === "10.0.0.2", { what: "the watch resumed" });
  });
});

Deno.test("createKubeSource() refuses a list answer larger than maxResponseBytes as an error and lists again", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [ep("web", "10.0.0.1")] } });
  const big = {
    kind: "EndpointsList",
    apiVersion: "v1",
    metadata: { resourceVersion: "1" },
    items: [{ ...ep("big", "10.0.0.9"), kind: "Endpoints", apiVersion: "v1", pad: "x".repeat(1024 * KiB) }],
  };
  server.failNext(1, { path: "/api/v1/endpoints", watch: false, body: big });
  const log = memoryLogger();
  const source = await createKubeSource(settings(server, { maxResponseBytes: 256 * KiB }), { ...FAST, log });
  const c = new AbortController();
  const run = source.run(c.signal);
  try {
    await waitFor(() => source.status().synced, { what: "the list after the oversized one" });
    assert.equal(source.status().restarts.oversize, 1);
    assert.deepEqual(source.snapshot().map((s) => s.name), ["web"]);
    assert.ok(
      log.lines.some((l) =>
        l.level === "error" &&
        /sent more than 262144 bytes \(--max-response-bytes\) for list "endpoints"/.test(String(l.error))
      ),
    );
  } finally {
    c.abort();
    await run;
  }
});

Deno.test("loadSettings() reads --max-response-bytes and --max-event-bytes as sizes", () => {
  const settingsOf = (args: string[], env: Record<string, string> = {}) =>
    loadSettings(parseCommandLine(args, optionSpecs()).values, env);
  const defaults = settingsOf([]);
  assert.equal(defaults.maxResponseBytes, 64 * 1024 * KiB);
  assert.equal(defaults.maxEventBytes, 8 * 1024 * KiB);
  assert.equal(settingsOf(["--max-response-bytes", "512KiB"]).maxResponseBytes, 512 * KiB);
  assert.equal(settingsOf([], { MAX_EVENT_BYTES: "65536" }).maxEventBytes, 64 * KiB);
  assert.equal(settingsOf(["--max-event-bytes", "1GiB"]).maxEventBytes, 1024 * 1024 * KiB);
  for (const bad of ["12", "0", "8MB", "1.5MiB", "lots"]) {
    assert.throws(
      () => settingsOf(["--max-event-bytes", bad]),
      (error: Error) =>
        error instanceof ConfigError && /--max-event-bytes/.test(error.message) &&
        error.message.includes(`"${bad}" is not a size of at least 1KiB`),
    );
  }
});

Deno.test({
  name: "haconfd run keeps serving every domain and reports the error when a relist answers a PodList",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["grafana-1", "kibana-1"]);
    try {
      await using kube = await startKube([
        endpoints(
          "grafana",
          { domain: "grafana.example.test", proto: "http" },
          [backends[0]!.hostname],
          port,
        ),
        endpoints("kibana", { domain: "kibana.example.test", proto: "http" }, [backends[1]!.hostname], port),
      ]);
      await using daemon = await startDaemonProcess({ apiServer: kube.url });
      const http = daemon.ports.http;
      await waitForBackends(http, "grafana.example.test", ["grafana-1"], 2);
      const good = await Deno.readTextFile(daemon.configPath);

      const from = daemon.logs().length;
      const podList = { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] };
      kube.failNext(1_000_000, { path: "/api/v1/endpoints", watch: false, body: podList });
      kube.failNext(1, { status: 410, watch: true });
      kube.dropWatches();
      // Three relists answered with a PodList, each an error, none taken as an empty list.
      const refused = () =>
        daemon.logs().slice(from).filter((l) =>
          l.msg === "the API server sent an answer that cannot be used" && /PodList/.test(String(l.error))
        ).length;
      await waitFor(() => refused() >= 3, { what: "three PodList answers refused", timeoutMs: 15_000 });
      const status = await daemon.status();
      assert.match(String((status.source as Record<string, unknown>).lastError), /"PodList" of "v1"/);
      const metrics = (await daemon.get("/metrics")).body;
      assert.match(metrics, /^haconfd_source_watch_restarts_total\{reason="invalid"\} [1-9]/m);
      // /readyz stays 200 (the last good config serves) and says that the source is failing.
      const readyz = await daemon.get("/readyz");
      assert.equal(readyz.status, 200);
      assert.match(readyz.body, /source is failing: .*"PodList" of "v1"/);
      assert.equal(await Deno.readTextFile(daemon.configPath), good, "the installed config is untouched");
      assert.deepEqual(await seenBackends(http, "kibana.example.test", 2), ["kibana-1"]);
      assert.ok(
        !daemon.logs().slice(from).some((l) => l.msg === "shrink confirmed by a second full sync, applying"),
      );
      assert.equal((await daemon.stop()).code, 0);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});
