import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import assert from "node:assert/strict";
import { memoryLogger } from "../../lib/log.ts";
import { createMetrics } from "../../lib/status/metrics.ts";
import type { ApplyRecord, DaemonState, HaproxyView } from "../../lib/record/state.ts";
import {
  authorized,
  CONFIG_OFF_TEXT,
  createStatusApp,
  INTERNAL_ERROR_TEXT,
  NO_CONFIG_TEXT,
  startStatusServer,
  type StatusAppOptions,
  UNAUTHORIZED_TEXT,
} from "../../lib/status/app.ts";
import { ago, serverLook } from "../../lib/status/page.ts";
import { backendOf } from "../../lib/status/haproxy_rows.ts";
import type { BackendServers } from "../../lib/haproxy/view.ts";

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const TOKEN = "s3cret-token-0123456789";
const HASH = "c0ffee".repeat(10) + "abcd";

const CHECK_FAILED: ApplyRecord = {
  at: T0 - 120_000,
  outcome: "check-failed",
  detail: "haproxy -c rejected the config",
  durationMs: 80,
  renderMs: 3,
  checkMs: 70,
  reloadMs: null,
  hash: "dead".repeat(16),
  errors: ["[ALERT] unknown keyword 'balanse'"],
};

const APPLIED: ApplyRecord = {
  at: T0 - 60_000,
  outcome: "applied",
  detail: "Reloaded HAProxy",
  durationMs: 250,
  renderMs: 4,
  checkMs: 60,
  reloadMs: 180,
  hash: HASH,
  errors: [],
};

function fixture(): DaemonState {
  return {
    version: "0.1.0",
    startedAt: T0 - 7_200_000,
    heartbeatAt: T0 - 2_000,
    source: {
      kind: "kube",
      endpoint: "https://10.0.0.10:6443",
      resource: "endpointslices",
      namespaces: ["monitoring", "web"],
      synced: true,
      fullSyncs: 3,
      lastEventAt: T0 - 10_000,
      lastFullSyncAt: T0 - 600_000,
      events: { ADDED: 5, MODIFIED: 2 },
      restarts: { expired: 1 },
      objects: 7,
      lastError: null,
      problems: [{ object: "web/broken", reason: "subsets[0].addresses: expected array" }],
    },
    config: { path: "/etc/haproxy/haproxy.cfg", installedHash: HASH, renderedHash: HASH },
    ready: { ok: true, reason: "synced; the installed config is the last one rendered" },
    domains: {
      "grafana.example.com": {
        ips: ["10.244.0.7"],
        proto: "http",
        port: 3000,
        id: "grafana_example_com_1a2b3c4d",
        namespace: "monitoring",
        name: "grafana",
        ports: { http: 3000 },
        notReadyIps: ["10.244.0.8"],
        servers: [
          { ip: "10.244.0.7", port: 3000, name: "grafana-0", ready: true },
          { ip: "10.244.0.8", port: 3000, name: "grafana-1", ready: false },
        ],
        listenPort: null,
        host: "grafana.example.com",
        settings: DEFAULT_SETTINGS,
      },
      "redis.example.com": {
        ips: ["10.244.1.9"],
        proto: "redis",
        port: 6379,
        id: "redis_example_com_5e6f7a8b",
        namespace: "cache",
        name: "redis",
        ports: { redis: 6379 },
        notReadyIps: [],
        servers: [{ ip: "10.244.1.9", port: 6379, name: "redis-0", ready: true }],
        listenPort: 6379,
        host: "redis.example.com",
        settings: DEFAULT_SETTINGS,
      },
    },
    skipped: [{
      object: "web/evil",
      reason: 'annotation "domain": "<script>alert(1)</script>" is not a DNS name',
    }],
    applies: [APPLIED, CHECK_FAILED],
    lastCheck: APPLIED,
    lastReload: APPLIED,
    lastSuccessAt: APPLIED.at,
    reloadMode: "master-socket",
  };
}

const HAPROXY: HaproxyView = {
  processes: [
    { pid: 100, role: "master", reloads: 2, uptime: "2h", version: "2.8.5" },
    { pid: 200, role: "worker", reloads: 0, uptime: "1m", version: "2.8.5" },
  ],
  backends: {
    be_grafana_example_com_1a2b3c4d: { status: "DOWN", usable: 0 },
    tcp_redis_example_com_5e6f7a8b: { status: "UP", usable: 1 },
  },
  readAt: T0 - 500,
  error: null,
};

const GRAFANA_SERVERS: BackendServers = {
  backend: "be_grafana_example_com_1a2b3c4d",
  servers: [{ server: "grafana-0", address: "10.244.0.7:3000", status: "DOWN" }],
  readAt: T0 - 400,
  error: null,
};

/** A reader of one backend's servers that records the names it was asked for. */
function serversReader(asked: string[][]): (names: readonly string[]) => Promise<BackendServers> {
  return (names) => {
    asked.push([...names]);
    return Promise.resolve(
      names.includes(GRAFANA_SERVERS.backend!) ? GRAFANA_SERVERS : {
        backend: null,
        servers: [],
        readAt: T0,
        error: null,
      },
    );
  };
}

function app(state: DaemonState | (() => DaemonState) = fixture(), options: Partial<StatusAppOptions> = {}) {
  const read = typeof state === "function" ? state : () => state;
  return createStatusApp(read, { metrics: createMetrics(), now: () => T0, node: "lb-1", ...options });
}

function bearer(token: string): RequestInit {
  return { headers: { Authorization: `Bearer ${token}` } };
}

Deno.test("createStatusApp() answers /healthz 200 while the loop's heartbeat is fresh", async () => {
  const res = await app().request("/healthz");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok\n");
  assert.equal(res.headers.get("cache-control"), "no-store");
});

Deno.test("createStatusApp() answers /healthz 503 once the heartbeat is older than staleAfterMs", async () => {
  const state = { ...fixture(), heartbeatAt: T0 - 90_000 };
  const res = await app(state, { staleAfterMs: 60_000 }).request("/healthz");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "Loop not seen for 90 s (limit 60 s)\n");
});

Deno.test("createStatusApp() flips /readyz between 503 and 200 with the state, giving the reason", async () => {
  let current: DaemonState = { ...fixture(), ready: { ok: false, reason: "not synced with the source yet" } };
  const status = app(() => current);
  let res = await status.request("/readyz");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "not synced with the source yet\n");

  current = { ...current, ready: { ok: true, reason: "synced; config current" } };
  res = await status.request("/readyz");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "synced; config current\n");

  current = {
    ...current,
    ready: { ok: false, reason: 'the installed config "ab12" is not the last rendered "cd34"' },
  };
  res = await status.request("/readyz");
  assert.equal(res.status, 503);
  assert.match(await res.text(), /not the last rendered/);

  current = { ...fixture(), heartbeatAt: T0 - 600_000 };
  res = await status.request("/readyz");
  assert.equal(res.status, 503, "a dead loop is not ready even if its last record said so");
  assert.match(await res.text(), /^Loop not seen for 600 s/);
});

Deno.test("createStatusApp() answers HEAD /readyz with the status and no body", async () => {
  const res = await app().request("/readyz", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "");
});

Deno.test("createStatusApp() serves /status as JSON with source, counts, config, runs and HAProxy", async () => {
  const res = await app(fixture(), { readHaproxy: () => Promise.resolve(HAPROXY) }).request("/status");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.equal(body.node, "lb-1");
  assert.equal(body.version, "0.1.0");
  assert.equal(body.uptimeSeconds, 7200);
  assert.deepEqual(body.healthy, { ok: true, reason: "ok" });
  assert.equal(body.ready.ok, true);
  assert.deepEqual(
    [body.source.kind, body.source.endpoint, body.source.resource, body.source.namespaces],
    ["kube", "https://10.0.0.10:6443", "endpointslices", ["monitoring", "web"]],
  );
  assert.equal(body.source.lastEventAt, new Date(T0 - 10_000).toISOString());
  assert.equal(body.source.lastFullSyncAt, new Date(T0 - 600_000).toISOString());
  assert.deepEqual(body.source.restarts, { expired: 1 });
  assert.deepEqual(body.counts, { objects: 7, domains: 2, servers: { ready: 2, notReady: 1 }, skipped: 1 });
  assert.equal(body.skipped[0].object, "web/evil");
  assert.deepEqual(body.config, {
    path: "/etc/haproxy/haproxy.cfg",
    installedHash: HASH,
    renderedHash: HASH,
    current: true,
  });
  assert.deepEqual(body.lastCheck, {
    at: new Date(APPLIED.at).toISOString(),
    outcome: "applied",
    durationMs: 60,
    detail: "Reloaded HAProxy",
    errors: [],
  });
  assert.equal(body.lastReload.durationMs, 180);
  assert.equal(body.applies[1].outcome, "check-failed");
  assert.deepEqual(body.applies[1].errors, ["[ALERT] unknown keyword 'balanse'"]);
  assert.equal(body.domains["redis.example.com"].listenPort, 6379);
  assert.equal(body.haproxy.processes.length, 2);
  assert.deepEqual(body.haproxy.backends, { DOWN: 1, UP: 1 });
  assert.equal(body.haproxy.usableServers, 1);
  assert.deepEqual(body.domains["grafana.example.com"].haproxy, { status: "DOWN", usable: 0 });
  assert.deepEqual(body.domains["redis.example.com"].haproxy, { status: "UP", usable: 1 });
  assert.equal(body.haproxy.error, null);
});

Deno.test("createStatusApp() indents /status?pretty and reports no HAProxy view when none is configured", async () => {
  const res = await app().request("/status?pretty");
  const text = await res.text();
  assert.match(text, /^\{\n {2}"node": "lb-1",\n/);
  assert.equal(JSON.parse(text).haproxy, null);
});

Deno.test("createStatusApp() turns a failing or hanging HAProxy read into an error in the view", async () => {
  const failing = app(fixture(), { readHaproxy: () => Promise.reject(new Error("Cannot connect: ENOENT")) });
  assert.equal((await (await failing.request("/status")).json()).haproxy.error, "Cannot connect: ENOENT");
  const hanging = app(fixture(), { readHaproxy: () => new Promise(() => {}), haproxyTimeoutMs: 20 });
  const body = await (await hanging.request("/status")).json();
  assert.match(body.haproxy.error, /^Timed out after 20 ms reading the HAProxy master socket$/);
});

Deno.test("createStatusApp() serves / as an HTML page with domains, servers, applies, escaped values", async () => {
  const res = await app(fixture(), { readHaproxy: () => Promise.resolve(HAPROXY) }).request("/");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const page = await res.text();
  assert.match(page, /^<!DOCTYPE html>/);
  for (
    const text of [
      "grafana.example.com",
      "redis.example.com",
      "10.244.0.7:3000",
      "monitoring/grafana",
      "lb-1",
      "check-failed",
      "[ALERT] unknown keyword &#39;balanse&#39;",
      "web/broken",
      "master-socket",
    ]
  ) {
    assert.ok(page.includes(text), `page lacks ${text}`);
  }
  assert.ok(!page.includes("<script>"), "values are escaped");
  assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.match(page, /0\/2 up/, "HAProxy's backend row: no server of grafana takes traffic");
  assert.ok(!page.includes('<b class="bad-text">DOWN</b>'), "no server's state without reading its backend");
  assert.ok(!page.includes('href="config"'), "no /config link while it is off");
  assert.ok(!page.includes("http-equiv"), "no refresh unless asked");
});

Deno.test("createStatusApp() adds a refresh to / on ?refresh and rejects a bad one with 400", async () => {
  const status = app();
  const page = await (await status.request("/?refresh=15")).text();
  assert.match(page, /<meta http-equiv="refresh" content="15">/);
  const bad = await status.request("/?refresh=0.5");
  assert.equal(bad.status, 400);
  assert.equal(await bad.text(), 'Invalid refresh "0.5": give whole seconds from 1 to 3600\n');
});

Deno.test("createStatusApp() keeps /config off by default", async () => {
  let read = 0;
  const res = await app(fixture(), { readConfig: () => (read++, Promise.resolve("global\n")) }).request(
    "/config",
  );
  assert.equal(res.status, 404);
  assert.equal(await res.text(), `${CONFIG_OFF_TEXT}\n`);
  assert.equal(read, 0, "the file is not even read");
});

Deno.test("createStatusApp() serves /config when exposed, 404 before a config is installed", async () => {
  const on = app(fixture(), { exposeConfig: true, readConfig: () => Promise.resolve("global\n  daemon\n") });
  const res = await on.request("/config");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(await res.text(), "global\n  daemon\n");
  assert.ok((await (await on.request("/")).text()).includes('href="config"'));
  const none = app(fixture(), { exposeConfig: true, readConfig: () => Promise.resolve(null) });
  const missing = await none.request("/config");
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), `${NO_CONFIG_TEXT}\n`);
});

Deno.test("createStatusApp() reads /config from the state's path by default", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/haproxy.cfg`;
    const state = { ...fixture(), config: { ...fixture().config, path } };
    const status = app(state, { exposeConfig: true });
    assert.equal((await status.request("/config")).status, 404);
    await Deno.writeTextFile(path, "defaults\n");
    const res = await status.request("/config");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "defaults\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createStatusApp() answers unexpected errors with a 500 and logs the detail", async () => {
  const logger = memoryLogger();
  const status = app(fixture(), {
    exposeConfig: true,
    readConfig: () => Promise.reject(new Error("EACCES: permission denied /etc/haproxy/haproxy.cfg")),
    logger,
  });
  const res = await status.request("/config");
  assert.equal(res.status, 500);
  assert.equal(await res.text(), `${INTERNAL_ERROR_TEXT}\n`);
  assert.equal(logger.lines.length, 1);
  assert.equal(logger.lines[0]?.level, "error");
  assert.match(String(logger.lines[0]?.error), /EACCES/);
});

Deno.test("createStatusApp() answers 404 for unknown paths", async () => {
  const res = await app().request("/nope");
  assert.equal(res.status, 404);
  assert.equal(await res.text(), "Not found\n");
});

Deno.test("createStatusApp() with a token: 401 without it, 200 with it, /healthz and /readyz open", async () => {
  const status = app(fixture(), {
    token: TOKEN,
    exposeConfig: true,
    readConfig: () => Promise.resolve("x\n"),
  });
  assert.equal(status.authRequired, true);
  for (const path of ["/", "/status", "/metrics", "/config"]) {
    const res = await status.request(path);
    assert.equal(res.status, 401, path);
    assert.equal(await res.text(), `${UNAUTHORIZED_TEXT}\n`);
    assert.match(
      res.headers.get("www-authenticate") ?? "",
      /^Basic realm="haconfd".*, Bearer realm="haconfd"$/,
    );
    const wrong = await status.request(path, bearer(`${TOKEN}x`));
    assert.equal(wrong.status, 401, `${path} with a wrong token`);
    await wrong.body?.cancel();
    const right = await status.request(path, bearer(TOKEN));
    assert.equal(right.status, 200, `${path} with the token`);
    await right.body?.cancel();
  }
  const basic = await status.request("/status", {
    headers: { Authorization: `Basic ${btoa(`any:${TOKEN}`)}` },
  });
  assert.equal(basic.status, 200, "a browser's Basic prompt works with the token as password");
  await basic.body?.cancel();
  for (const path of ["/healthz", "/readyz"]) {
    const res = await status.request(path);
    assert.equal(res.status, 200, `${path} stays open`);
    await res.body?.cancel();
  }
});

Deno.test("createStatusApp() refuses an empty token", () => {
  assert.throws(() => app(fixture(), { token: " " }), /^TypeError: Invalid status token: it is empty$/);
});

Deno.test("authorized() accepts only the exact token", () => {
  assert.equal(authorized(`Bearer ${TOKEN}`, TOKEN), true);
  assert.equal(authorized(`bearer   ${TOKEN}`, TOKEN), true);
  assert.equal(authorized(`Basic ${btoa(`u:${TOKEN}`)}`, TOKEN), true);
  assert.equal(authorized(`Basic ${btoa(`${TOKEN}:`)}`, TOKEN), false);
  assert.equal(authorized("Basic !!!not-base64", TOKEN), false);
  assert.equal(authorized(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN), false);
  assert.equal(authorized(`Token ${TOKEN}`, TOKEN), false);
  assert.equal(authorized("Bearer", TOKEN), false);
  assert.equal(authorized(undefined, TOKEN), false);
});

Deno.test("startStatusServer() refuses to listen off loopback when the app has no token", () => {
  for (const listen of ["0.0.0.0:0", "*:0"]) {
    assert.throws(() => startStatusServer(app(), listen), {
      name: "TypeError",
      message: `Refusing to serve status on "${listen}" off loopback without a token`,
    });
  }
});

Deno.test("startStatusServer() serves the app over HTTP on a free loopback port and closes", async () => {
  const server = startStatusServer(app(fixture(), { token: TOKEN }), "127.0.0.1:0");
  try {
    assert.equal(server.hostname, "127.0.0.1");
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
    const health = await fetch(new URL("healthz", server.url));
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    const denied = await fetch(new URL("status", server.url));
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const status = await fetch(new URL("status", server.url), bearer(TOKEN));
    assert.equal((await status.json()).source.resource, "endpointslices");
  } finally {
    await server.close();
    await server.close();
  }
  await assert.rejects(fetch(server.url), TypeError);
});

Deno.test("startStatusServer() stops on its signal and reports a port in use", async () => {
  const controller = new AbortController();
  const server = startStatusServer(app(), "127.0.0.1:0", { signal: controller.signal });
  try {
    assert.throws(
      () => startStatusServer(app(), `127.0.0.1:${server.port}`),
      new RegExp(`^Error: Cannot listen on "127.0.0.1:${server.port}" for the status endpoint: `),
    );
  } finally {
    controller.abort();
    await server.finished;
    await server.close();
  }
});

Deno.test("createStatusApp() reads one backend's servers for a domain's detail, on the page and in JSON", async () => {
  const asked: string[][] = [];
  const status = app(fixture(), {
    readHaproxy: () => Promise.resolve(HAPROXY),
    readServers: serversReader(asked),
  });
  const page = await (await status.request("/?domain=grafana.example.com")).text();
  assert.match(page, /<b class="bad-text">DOWN<\/b>/, "HAProxy's server state is shown in the detail");
  assert.ok(page.includes("(be_grafana_example_com_1a2b3c4d)"));
  const body = await (await status.request("/status/domains/redis.example.com")).json();
  assert.deepEqual(body.haproxy, {
    backend: null,
    servers: [],
    readAt: new Date(T0).toISOString(),
    error: null,
  });
  const json = await (await status.request("/status/domains/grafana.example.com")).json();
  assert.deepEqual(json.haproxy.servers, GRAFANA_SERVERS.servers);
  assert.deepEqual(asked, [
    ["be_grafana_example_com_1a2b3c4d", "tcp_grafana_example_com_1a2b3c4d", "grafana_example_com_1a2b3c4d"],
    ["tcp_redis_example_com_5e6f7a8b", "be_redis_example_com_5e6f7a8b", "redis_example_com_5e6f7a8b"],
    ["be_grafana_example_com_1a2b3c4d", "tcp_grafana_example_com_1a2b3c4d", "grafana_example_com_1a2b3c4d"],
  ]);
  await (await status.request("/")).text();
  await (await status.request("/status")).text();
  assert.equal(asked.length, 3, "the list and /status read no servers");
});

Deno.test("serverLook() prefers HAProxy's status, falls back to the model's readiness", () => {
  const grafana = fixture().domains["grafana.example.com"]!;
  assert.deepEqual(backendOf(grafana, HAPROXY), { status: "DOWN", usable: 0 });
  const backend = GRAFANA_SERVERS.servers;
  assert.deepEqual(serverLook(grafana.servers[0]!, backend), { label: "DOWN", tone: "bad" });
  assert.deepEqual(serverLook(grafana.servers[1]!, backend), { label: "not ready", tone: "warn" });
  assert.deepEqual(serverLook(grafana.servers[0]!, undefined), { label: "ready", tone: "good" });
  assert.equal(backendOf(grafana, { ...HAPROXY, error: "down" }), undefined);
});

Deno.test("ago() speaks in seconds, minutes, hours and days", () => {
  assert.equal(ago(T0 - 5_000, T0), "5 s ago");
  assert.equal(ago(T0 - 300_000, T0), "5 min ago");
  assert.equal(ago(T0 - 3 * 3_600_000, T0), "3 h ago");
  assert.equal(ago(T0 - 3 * 86_400_000, T0), "3 d ago");
  assert.equal(ago(T0 + 10_000, T0), "in 10 s");
});

Deno.test("createStatusApp() shows the runtime path: applies by path, reload reasons, draining servers, commands", async () => {
  const runtimeApply: ApplyRecord = {
    ...APPLIED,
    detail: "installed the new config, no reload",
    path: "runtime",
  };
  const reloadApply: ApplyRecord = {
    ...APPLIED,
    path: "reload",
    reloadReason: "frontend http-in changed",
  };
  const state: DaemonState = {
    ...fixture(),
    applies: [runtimeApply, reloadApply, { ...APPLIED, path: "unchanged" }],
    runtime: {
      target: "master CLI /run/haproxy-master.sock",
      draining: [{ server: "be_web/web-1", sinceMs: 4_000 }],
      commands: { ok: 12, failed: 1 },
    },
  };
  const metrics = createMetrics();
  metrics.recordApply(runtimeApply);
  metrics.recordApply(reloadApply);
  metrics.recordRuntimeCommands("ok", 12);
  metrics.recordRuntimeCommands("failed", 1);
  const status = app(state, { metrics });
  const doc = await (await status.request("/status")).json();
  assert.deepEqual(doc.runtime, {
    ...state.runtime,
    recentAppliesByPath: { runtime: 1, reload: 1, unchanged: 1 },
    lastReloadReason: "frontend http-in changed",
  });
  assert.equal(doc.applies[1].reloadReason, "frontend http-in changed");
  const page = await (await status.request("/")).text();
  assert.match(page, /Runtime API, master CLI \/run\/haproxy-master\.sock/);
  assert.match(page, /be_web\/web-1 \(4 s\)/);
  assert.match(page, /12 ok, 1 failed/);
  const text = await (await status.request("/metrics")).text();
  assert.match(text, /^haconfd_runtime_commands_total\{result="ok"\} 12$/m);
  assert.match(text, /^haconfd_runtime_commands_total\{result="failed"\} 1$/m);
  assert.match(text, /^haconfd_apply_paths_total\{path="runtime"\} 1$/m);
  assert.match(text, /^haconfd_apply_paths_total\{path="reload"\} 1$/m);
  assert.match(text, /^haconfd_runtime_draining_servers 1$/m);
});
