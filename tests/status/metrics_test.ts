import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import assert from "node:assert/strict";
import { APPLY_RESULTS, createMetrics, METRIC_PREFIX, type Metrics } from "../../lib/status/metrics.ts";
import type { ApplyRecord, DaemonState, HaproxyView } from "../../lib/record/state.ts";
import { createStatusApp } from "../../lib/status/app.ts";
import { familiesByName, type Family, findSample, parsePrometheus } from "../support/prometheus.ts";

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

function record(overrides: Partial<ApplyRecord> = {}): ApplyRecord {
  return {
    at: T0,
    outcome: "applied",
    detail: "Reloaded",
    durationMs: 200,
    renderMs: 5,
    checkMs: 40,
    reloadMs: 150,
    hash: "ab".repeat(32),
    errors: [],
    ...overrides,
  };
}

function state(overrides: Partial<DaemonState> = {}): DaemonState {
  return {
    version: "0.1.0",
    startedAt: T0 - 3_600_000,
    heartbeatAt: T0 - 1_000,
    source: {
      kind: "kube",
      endpoint: "https://10.0.0.1:6443",
      resource: "endpoints",
      namespaces: [],
      synced: true,
      fullSyncs: 4,
      lastEventAt: T0 - 5_000,
      lastFullSyncAt: T0 - 60_000,
      events: { ADDED: 10, MODIFIED: 7 },
      restarts: { expired: 2, dropped: 1 },
      objects: 12,
      lastError: null,
      problems: [],
    },
    config: {
      path: "/etc/haproxy/haproxy.cfg",
      installedHash: "ab".repeat(32),
      renderedHash: "ab".repeat(32),
    },
    ready: { ok: true, reason: "synced and current" },
    domains: {
      "a.example.com": {
        ips: ["10.0.0.1", "10.0.0.2"],
        proto: "http",
        port: 80,
        id: "a_example_com_00000001",
        namespace: "web",
        name: "a",
        ports: { http: 80 },
        notReadyIps: ["10.0.0.3"],
        servers: [
          { ip: "10.0.0.1", port: 80, name: "a-1", ready: true },
          { ip: "10.0.0.2", port: 80, name: "a-2", ready: true },
          { ip: "10.0.0.3", port: 80, name: "a-3", ready: false },
        ],
        listenPort: null,
        host: "a.example.com",
        settings: DEFAULT_SETTINGS,
      },
      "redis.example.com": {
        ips: ["10.0.1.1"],
        proto: "redis",
        port: 6379,
        id: "redis_example_com_00000002",
        namespace: "cache",
        name: "redis",
        ports: { redis: 6379 },
        notReadyIps: [],
        servers: [{ ip: "10.0.1.1", port: 6379, name: "redis-0", ready: true }],
        listenPort: 6379,
        host: "redis.example.com",
        settings: DEFAULT_SETTINGS,
      },
    },
    skipped: [{ object: "x/y", reason: "bad domain" }],
    applies: [record()],
    lastCheck: record(),
    lastReload: record(),
    lastSuccessAt: T0 - 30_000,
    reloadMode: "command",
    ...overrides,
  };
}

const HAPROXY: HaproxyView = {
  processes: [
    { pid: 1, role: "master", reloads: 3, uptime: "1h", version: "2.8.5" },
    { pid: 2, role: "worker", reloads: 0, uptime: "5m", version: "2.8.5" },
  ],
  backends: {
    be_a_example_com_00000001: { status: "UP", usable: 1 },
    be_b_example_com_00000003: { status: "DOWN", usable: 0 },
    tcp_redis_example_com_00000002: { status: "UP", usable: 1 },
  },
  readAt: T0,
  error: null,
};

async function families(
  metrics: Metrics,
  s?: DaemonState,
  haproxy?: HaproxyView | null,
): Promise<Map<string, Family>> {
  const text = await metrics.render(s, haproxy);
  return familiesByName(parsePrometheus(text));
}

function value(family: Family | undefined, labels: Record<string, string> = {}): number {
  assert.ok(family, "family missing");
  const sample = findSample(family, labels);
  assert.ok(sample, `no sample ${JSON.stringify(labels)} in ${family.name}`);
  return Number(sample.value);
}

Deno.test("createMetrics() renders valid exposition with every family, help and type", async () => {
  const metrics = createMetrics({ version: "9.9.9", commit: "abc123" });
  const text = await metrics.render(state(), HAPROXY);
  const parsed = parsePrometheus(text);
  const expected: Record<string, Family["type"]> = {
    build_info: "GAUGE",
    applies_total: "COUNTER",
    reloads_total: "COUNTER",
    render_duration_seconds: "HISTOGRAM",
    check_duration_seconds: "HISTOGRAM",
    reload_duration_seconds: "HISTOGRAM",
    domains: "GAUGE",
    domains_by_proto: "GAUGE",
    servers: "GAUGE",
    skipped_objects: "GAUGE",
    ready: "GAUGE",
    last_success_timestamp_seconds: "GAUGE",
    start_time_seconds: "GAUGE",
    heartbeat_timestamp_seconds: "GAUGE",
    source_syncs_total: "COUNTER",
    source_events_total: "COUNTER",
    source_watch_restarts_total: "COUNTER",
    source_objects: "GAUGE",
    source_synced: "GAUGE",
    source_error: "GAUGE",
    source_last_event_timestamp_seconds: "GAUGE",
    source_last_full_sync_timestamp_seconds: "GAUGE",
    haproxy_backends: "GAUGE",
    haproxy_servers_usable: "GAUGE",
    haproxy_processes: "GAUGE",
  };
  const byName = new Map(parsed.map((f) => [f.name, f]));
  for (const [suffix, type] of Object.entries(expected)) {
    const family = byName.get(`${METRIC_PREFIX}${suffix}`);
    assert.ok(family, `missing ${suffix}`);
    assert.equal(family.type, type, suffix);
    assert.ok(family.help.length > 0, `${suffix} has no help`);
  }
  for (const family of parsed) assert.ok(family.name.startsWith(METRIC_PREFIX), family.name);
  assert.equal(
    value(byName.get("haconfd_build_info"), { version: "9.9.9", commit: "abc123", deno: Deno.version.deno }),
    1,
  );
});

Deno.test("createMetrics() mirrors the state's gauges and source counters", async () => {
  const metrics = createMetrics();
  const f = await families(metrics, state(), HAPROXY);
  assert.equal(value(f.get("haconfd_domains")), 2);
  assert.equal(value(f.get("haconfd_domains_by_proto"), { proto: "http" }), 1);
  assert.equal(value(f.get("haconfd_domains_by_proto"), { proto: "redis" }), 1);
  assert.equal(value(f.get("haconfd_servers"), { state: "ready" }), 3);
  assert.equal(value(f.get("haconfd_servers"), { state: "not_ready" }), 1);
  assert.equal(value(f.get("haconfd_skipped_objects")), 1);
  assert.equal(value(f.get("haconfd_ready")), 1);
  assert.equal(value(f.get("haconfd_last_success_timestamp_seconds")), (T0 - 30_000) / 1000);
  assert.equal(value(f.get("haconfd_start_time_seconds")), (T0 - 3_600_000) / 1000);
  assert.equal(value(f.get("haconfd_source_syncs_total")), 4);
  assert.equal(value(f.get("haconfd_source_events_total"), { type: "ADDED" }), 10);
  assert.equal(value(f.get("haconfd_source_events_total"), { type: "MODIFIED" }), 7);
  assert.equal(value(f.get("haconfd_source_watch_restarts_total"), { reason: "expired" }), 2);
  assert.equal(value(f.get("haconfd_source_watch_restarts_total"), { reason: "dropped" }), 1);
  assert.equal(value(f.get("haconfd_source_objects")), 12);
  assert.equal(value(f.get("haconfd_source_synced")), 1);
  assert.equal(value(f.get("haconfd_source_error")), 0);
  assert.equal(value(f.get("haconfd_source_last_event_timestamp_seconds")), (T0 - 5_000) / 1000);
  assert.equal(value(f.get("haconfd_haproxy_backends"), { status: "UP" }), 2);
  assert.equal(value(f.get("haconfd_haproxy_backends"), { status: "DOWN" }), 1);
  assert.equal(value(f.get("haconfd_haproxy_servers_usable")), 2);
  assert.equal(value(f.get("haconfd_haproxy_processes")), 2);
});

Deno.test("createMetrics() sets mirrored values absolutely on every scrape, never adding up", async () => {
  const metrics = createMetrics();
  await metrics.render(state());
  const next = state();
  next.source = { ...next.source, fullSyncs: 5, events: { ADDED: 11 }, restarts: {}, lastError: "boom" };
  next.domains = {};
  next.ready = { ok: false, reason: "not synced" };
  next.lastSuccessAt = null;
  const f = await families(metrics, next, null);
  assert.equal(value(f.get("haconfd_source_syncs_total")), 5);
  assert.equal(value(f.get("haconfd_source_events_total"), { type: "ADDED" }), 11);
  assert.equal(f.get("haconfd_source_events_total")?.metrics.length, 1, "MODIFIED is gone");
  assert.equal(f.get("haconfd_source_watch_restarts_total")?.metrics.length, 0);
  assert.equal(value(f.get("haconfd_domains")), 0);
  assert.equal(f.get("haconfd_domains_by_proto")?.metrics.length, 0);
  assert.equal(value(f.get("haconfd_servers"), { state: "ready" }), 0);
  assert.equal(value(f.get("haconfd_ready")), 0);
  assert.equal(value(f.get("haconfd_source_error")), 1);
  assert.equal(value(f.get("haconfd_last_success_timestamp_seconds")), 0);
  assert.equal(f.get("haconfd_haproxy_backends")?.metrics.length, 0, "no HAProxy view, no HAProxy samples");
  assert.equal(value(f.get("haconfd_haproxy_servers_usable")), 0);
});

Deno.test("createMetrics() starts every apply and reload result at zero", async () => {
  const f = await families(createMetrics());
  for (const result of APPLY_RESULTS) {
    assert.equal(value(f.get("haconfd_applies_total"), { result }), 0, result);
  }
  assert.equal(value(f.get("haconfd_reloads_total"), { result: "success" }), 0);
  assert.equal(value(f.get("haconfd_reloads_total"), { result: "failure" }), 0);
  assert.equal(f.get("haconfd_build_info")?.metrics.length, 1, "build info without a state");
});

Deno.test("Metrics.recordApply() counts the pass, its durations and its reload", async () => {
  const metrics = createMetrics();
  metrics.recordApply(record({ renderMs: 4, checkMs: 30, reloadMs: 150 }));
  metrics.recordApply(record({ outcome: "reload-failed", reloadMs: 2_000 }));
  metrics.recordApply(record({ outcome: "check-failed", reloadMs: null }));
  metrics.recordApply(record({ outcome: "unchanged", checkMs: null, reloadMs: null }));
  const f = await families(metrics);
  const applies = f.get("haconfd_applies_total");
  assert.equal(value(applies, { result: "applied" }), 1);
  assert.equal(value(applies, { result: "reload-failed" }), 1);
  assert.equal(value(applies, { result: "check-failed" }), 1);
  assert.equal(value(applies, { result: "unchanged" }), 1);
  assert.equal(value(f.get("haconfd_reloads_total"), { result: "success" }), 1);
  assert.equal(value(f.get("haconfd_reloads_total"), { result: "failure" }), 1);
  const reload = f.get("haconfd_reload_duration_seconds")?.metrics[0];
  assert.equal(reload?.count, "2");
  assert.equal(Number(reload?.sum), 2.15);
  assert.equal(reload?.buckets?.["0.25"], "1");
  assert.equal(reload?.buckets?.["2.5"], "2");
  assert.equal(f.get("haconfd_check_duration_seconds")?.metrics[0]?.count, "3");
  assert.equal(f.get("haconfd_render_duration_seconds")?.metrics[0]?.count, "4");
});

Deno.test("Metrics fields drive the counters and histograms directly", async () => {
  const metrics = createMetrics();
  metrics.applies.inc({ result: "applied" });
  metrics.reloads.inc({ result: "failure" });
  metrics.checkSeconds.observe(0.02);
  const f = await families(metrics);
  assert.equal(value(f.get("haconfd_applies_total"), { result: "applied" }), 1);
  assert.equal(value(f.get("haconfd_reloads_total"), { result: "failure" }), 1);
  assert.equal(f.get("haconfd_check_duration_seconds")?.metrics[0]?.count, "1");
});

Deno.test("createMetrics() keeps each registry separate", async () => {
  const a = createMetrics();
  const b = createMetrics();
  a.applies.inc({ result: "applied" }, 3);
  assert.equal(value((await families(a)).get("haconfd_applies_total"), { result: "applied" }), 3);
  assert.equal(value((await families(b)).get("haconfd_applies_total"), { result: "applied" }), 0);
});

Deno.test("createStatusApp() serves /metrics as parseable Prometheus text", async () => {
  const metrics = createMetrics();
  metrics.recordApply(record());
  const app = createStatusApp(() => state(), {
    metrics,
    now: () => T0,
    readHaproxy: () => Promise.resolve(HAPROXY),
  });
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.ok(text.endsWith("\n"));
  const f = familiesByName(parsePrometheus(text));
  assert.equal(value(f.get("haconfd_domains")), 2);
  assert.equal(value(f.get("haconfd_applies_total"), { result: "applied" }), 1);
  assert.equal(value(f.get("haconfd_haproxy_backends"), { status: "DOWN" }), 1);
  for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
    assert.match(line, /^haconfd_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$/, line);
  }
});

Deno.test("parse-prometheus-text-format rejects malformed text, so the checks above mean something", () => {
  assert.throws(() => parsePrometheus("# TYPE x counter\nx{a=} 1\n"));
});
