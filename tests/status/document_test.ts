import assert from "node:assert/strict";
import type { Domain } from "../../lib/model/model.ts";
import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import type { ApplyRecord, DaemonState } from "../../lib/record/state.ts";
import {
  DEFAULT_STALE_AFTER_MS,
  liveness,
  readinessVerdict,
  STATUS_ROUTES,
  statusDocument,
} from "../../lib/status/document.ts";
import { daemonState } from "../support/fixtures.ts";

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

function apply(outcome: ApplyRecord["outcome"], extra: Partial<ApplyRecord> = {}): ApplyRecord {
  return {
    at: NOW - 1000,
    outcome,
    detail: outcome,
    durationMs: 10,
    renderMs: 1,
    checkMs: null,
    reloadMs: null,
    hash: null,
    errors: [],
    ...extra,
  };
}

function domain(name: string, ready: boolean[]): Domain {
  return {
    ips: ["10.0.0.1"],
    proto: "http",
    port: 80,
    id: `${name}_id`,
    namespace: "ns",
    name,
    ports: { http: 80 },
    notReadyIps: [],
    servers: ready.map((r, i) => ({ ip: `10.0.0.${i + 1}`, port: 80, name: `${name}-${i}`, ready: r })),
    listenPort: null,
    host: name,
    settings: DEFAULT_SETTINGS,
  };
}

/** A fresh daemon: nothing synced, nothing installed, no passes yet. */
function state(extra: Partial<DaemonState> = {}): DaemonState {
  return daemonState(NOW, extra);
}

Deno.test("liveness() holds up to staleAfterMs, then names the age and the limit in seconds", () => {
  const cases: [number, number | undefined, { ok: boolean; reason: string }][] = [
    [0, undefined, { ok: true, reason: "ok" }],
    [DEFAULT_STALE_AFTER_MS, undefined, { ok: true, reason: "ok" }],
    [DEFAULT_STALE_AFTER_MS + 1, undefined, { ok: false, reason: "Loop not seen for 120 s (limit 120 s)" }],
    [10_000, 5_000, { ok: false, reason: "Loop not seen for 10 s (limit 5 s)" }],
    [1_600, 1_000, { ok: false, reason: "Loop not seen for 2 s (limit 1 s)" }],
    // A heartbeat from the future (clock step) is not a dead loop.
    [-5_000, 1_000, { ok: true, reason: "ok" }],
  ];
  for (const [age, staleAfterMs, verdict] of cases) {
    assert.deepEqual(liveness(state({ heartbeatAt: NOW - age }), NOW, staleAfterMs), verdict, String(age));
  }
});

Deno.test("readinessVerdict() reports a dead loop first, then the state's own verdict with a default reason", () => {
  const cases: [Partial<DaemonState>, { ok: boolean; reason: string }][] = [
    [{ ready: { ok: true, reason: "" } }, { ok: true, reason: "ready" }],
    [{ ready: { ok: false, reason: "" } }, { ok: false, reason: "not ready" }],
    [{ ready: { ok: false, reason: "waiting for the first sync" } }, {
      ok: false,
      reason: "waiting for the first sync",
    }],
    [{ ready: { ok: true, reason: "synced" }, heartbeatAt: NOW - 3_000 }, {
      ok: false,
      reason: "Loop not seen for 3 s (limit 2 s)",
    }],
  ];
  for (const [extra, verdict] of cases) {
    assert.deepEqual(readinessVerdict(state(extra), NOW, 2_000), verdict, JSON.stringify(extra));
  }
});

Deno.test("statusDocument() of a fresh daemon has nulls, zero counts and no current config", () => {
  const doc = statusDocument(state(), null, NOW);
  assert.equal(doc.version, "1.2.3");
  assert.equal(doc.uptimeSeconds, 90);
  assert.equal(doc.startedAt, new Date(NOW - 90_400).toISOString());
  assert.deepEqual(doc.counts, { objects: 0, domains: 0, servers: { ready: 0, notReady: 0 }, skipped: 0 });
  assert.deepEqual(doc.config, {
    path: "/etc/haproxy/haproxy.cfg",
    installedHash: null,
    renderedHash: null,
    current: false,
  });
  for (const key of ["lastSuccessAt", "lastApply", "lastCheck", "lastReload", "runtime", "haproxy"]) {
    assert.equal(doc[key], null, key);
  }
  assert.deepEqual(doc.domainsPage, {
    q: "",
    offset: 0,
    limit: 100,
    matched: 0,
    next: null,
    detail: STATUS_ROUTES.domain,
  });
});

Deno.test("statusDocument() calls the config current only when the installed hash is the rendered one", () => {
  const cases: [string | null, string | null, boolean][] = [
    [null, null, false],
    [null, "a", false],
    ["a", "b", false],
    ["a", null, false],
    ["a", "a", true],
  ];
  for (const [installedHash, renderedHash, current] of cases) {
    const config = { path: "/x.cfg", installedHash, renderedHash };
    const doc = statusDocument(state({ config }), null, NOW) as { config: { current: boolean } };
    assert.equal(doc.config.current, current, `${installedHash} ${renderedHash}`);
  }
});

Deno.test("statusDocument() takes durations from the pass's own step and counts servers over all domains", () => {
  const reload = apply("applied", { reloadMs: 40, checkMs: 20, durationMs: 70, errors: [] });
  const failed = apply("check-failed", { checkMs: 15, errors: ["[ALERT] bad"], at: NOW - 5_000 });
  const doc = statusDocument(
    state({
      applies: [reload, failed],
      lastCheck: failed,
      lastReload: reload,
      domains: {
        "a.test": domain("a", [true, false, false]),
        "b.test": domain("b", [true]),
        "c.test": domain("c", []),
      },
    }),
    null,
    NOW,
    DEFAULT_STALE_AFTER_MS,
    { q: "", offset: 0, limit: 1 },
  );
  assert.deepEqual(doc.lastApply, {
    at: new Date(NOW - 1000).toISOString(),
    outcome: "applied",
    durationMs: 70,
    detail: "applied",
    errors: [],
  });
  assert.deepEqual(doc.lastCheck, {
    at: new Date(NOW - 5_000).toISOString(),
    outcome: "check-failed",
    durationMs: 15,
    detail: "check-failed",
    errors: ["[ALERT] bad"],
  });
  assert.equal((doc.lastReload as { durationMs: number }).durationMs, 40);
  assert.deepEqual((doc.counts as { servers: unknown }).servers, { ready: 2, notReady: 2 });
  assert.equal((doc.counts as { domains: number }).domains, 3);
  assert.deepEqual(Object.keys(doc.domains as object), ["a.test"]);
  assert.deepEqual((doc.domainsPage as { next: string | null }).next, "/status?offset=1&limit=1");
  assert.deepEqual((doc.applies as { at: string }[]).map((a) => a.at), [
    new Date(NOW - 1000).toISOString(),
    new Date(NOW - 5_000).toISOString(),
  ]);
});

Deno.test("statusDocument() links the next page only while matches remain, and bounds skipped by the limit", () => {
  const domains = Object.fromEntries(["a", "b", "c"].map((n) => [`${n}.test`, domain(n, [true])]));
  const skipped = ["x", "y", "z"].map((n) => ({ object: `ns/${n}`, reason: "bad" }));
  const cases: [{ q: string; offset: number; limit: number }, string | null, number][] = [
    [{ q: "", offset: 0, limit: 2 }, "/status?offset=2&limit=2", 2],
    [{ q: "", offset: 2, limit: 2 }, null, 2],
    [{ q: "", offset: 0, limit: 3 }, null, 3],
    [{ q: "b", offset: 0, limit: 1 }, null, 1],
    [{ q: "test", offset: 1, limit: 1 }, "/status?q=test&offset=2&limit=1", 1],
  ];
  for (const [query, next, skippedShown] of cases) {
    const doc = statusDocument(state({ domains, skipped }), null, NOW, DEFAULT_STALE_AFTER_MS, query);
    assert.equal((doc.domainsPage as { next: string | null }).next, next, JSON.stringify(query));
    assert.equal((doc.skipped as unknown[]).length, skippedShown, JSON.stringify(query));
    assert.equal((doc.counts as { skipped: number }).skipped, 3);
  }
});

Deno.test("statusDocument() summarises the runtime path: applies by path and the newest reload's reason", () => {
  const runtime = {
    target: "master CLI /run/m.sock",
    draining: [{ server: "be/s1", sinceMs: 5 }],
    commands: { ok: 3, failed: 1 },
  };
  const applies = [
    apply("applied", { path: "runtime" }),
    apply("applied", { path: "reload", reloadReason: "frontend f changed" }),
    apply("unchanged", { path: "unchanged" }),
    apply("applied", { path: "reload", reloadReason: "older reason" }),
    apply("render-failed"),
  ];
  const doc = statusDocument(state({ runtime, applies }), null, NOW);
  assert.deepEqual(doc.runtime, {
    ...runtime,
    recentAppliesByPath: { runtime: 1, reload: 2, unchanged: 1 },
    lastReloadReason: "frontend f changed",
  });
  const none = statusDocument(
    state({ runtime, applies: [apply("applied", { path: "runtime" })] }),
    null,
    NOW,
  );
  assert.equal((none.runtime as { lastReloadReason: string | null }).lastReloadReason, null);
});

Deno.test("statusDocument() gives HAProxy's view with its read time as ISO text", () => {
  const view = { processes: [], backends: {}, readAt: NOW - 250, error: "Cannot read: refused" };
  assert.deepEqual(statusDocument(state(), view, NOW).haproxy, {
    processes: [],
    backends: {},
    usableServers: 0,
    readAt: new Date(NOW - 250).toISOString(),
    error: "Cannot read: refused",
  });
});
