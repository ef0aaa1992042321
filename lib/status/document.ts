/**
 * The `/status` JSON document and the liveness and readiness verdicts, built from the loop's
 * {@linkcode DaemonState} (and HAProxy's view): pure functions of their arguments, no routes, no I/O.
 *
 * @module
 */
import { skippedObjectCount } from "../model/model.ts";
import type { DaemonState, HaproxyView } from "../record/state.ts";
import type { Verdict } from "./page.ts";
import { DEFAULT_LIMIT, type DomainQuery, pageLink, pageOfDomains } from "./domain_query.ts";
import { tlsSummary } from "./tls_status.ts";
import { effectiveSettings } from "./domain_settings.ts";
import { commit } from "../version.ts";
import { backendOf, backendTotals } from "./haproxy_rows.ts";

/** The paths the document links to (the app's routes, lib/status/app.ts). */
export const STATUS_ROUTES = {
  /** The document itself. */
  status: "/status",
  /** One domain in full. */
  domain: "/status/domains/:name",
} as const;

/** `/healthz` body while the loop is alive. */
export const ALIVE_TEXT = "ok";
/** `/readyz` body while ready. */
export const READY_TEXT = "ready";

/**
 * Default of `StatusAppOptions.staleAfterMs` (lib/status/app.ts): longer than a pass can take with the default
 * check and reload timeouts (30 s each), so a slow reload is not taken for a dead loop.
 */
export const DEFAULT_STALE_AFTER_MS = 120_000;

/** Liveness: the loop's heartbeat is younger than `staleAfterMs`. */
export function liveness(
  state: DaemonState,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
): Verdict {
  const age = now - state.heartbeatAt;
  if (age > staleAfterMs) {
    return {
      ok: false,
      reason: `Loop not seen for ${Math.round(age / 1000)} s (limit ${Math.round(staleAfterMs / 1000)} s)`,
    };
  }
  return { ok: true, reason: ALIVE_TEXT };
}

/** Readiness: the loop is alive and reports itself ready (synced once, installed config = last rendered). */
export function readinessVerdict(
  state: DaemonState,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
): Verdict {
  const alive = liveness(state, now, staleAfterMs);
  if (!alive.ok) return alive;
  return { ok: state.ready.ok, reason: state.ready.reason || (state.ready.ok ? READY_TEXT : "not ready") };
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

/** The runtime path: where commands go, applies by path, servers draining, commands by result. */
function runtimeSummary(state: DaemonState): unknown {
  if (state.runtime === undefined) return null;
  const byPath = { runtime: 0, reload: 0, unchanged: 0 };
  for (const a of state.applies) if (a.path !== undefined) byPath[a.path]++;
  const lastReload = state.applies.find((a) => a.path === "reload");
  return {
    ...state.runtime,
    recentAppliesByPath: byPath,
    lastReloadReason: lastReload?.reloadReason ?? null,
  };
}

function run(record: DaemonState["applies"][number] | null, duration: number | null): unknown {
  if (record === null) return null;
  return {
    at: iso(record.at),
    outcome: record.outcome,
    durationMs: duration,
    detail: record.detail,
    errors: record.errors,
  };
}

/** Servers of all domains: ready and not. */
function serverCounts(domains: DaemonState["domains"]): { ready: number; notReady: number; domains: number } {
  let ready = 0, all = 0, count = 0;
  for (const name in domains) {
    count++;
    for (const server of domains[name]!.servers) {
      all++;
      if (server.ready) ready++;
    }
  }
  return { ready, notReady: all - ready, domains: count };
}

/**
 * The `/status` JSON document: the summary, and one page of the domains (`query`: search, offset, limit;
 * the first {@linkcode DEFAULT_LIMIT} by default) and of the skipped objects.
 */
export function statusDocument(
  state: DaemonState,
  haproxy: HaproxyView | null,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
  query: DomainQuery = { q: "", offset: 0, limit: DEFAULT_LIMIT },
): Record<string, unknown> {
  const page = pageOfDomains(state.domains, query);
  const counted = serverCounts(state.domains);
  const next = query.offset + query.limit < page.matched ? pageLink(query, query.offset + query.limit) : null;
  return {
    version: state.version,
    commit: commit(),
    startedAt: iso(state.startedAt),
    uptimeSeconds: Math.round((now - state.startedAt) / 1000),
    heartbeatAt: iso(state.heartbeatAt),
    healthy: liveness(state, now, staleAfterMs),
    ready: readinessVerdict(state, now, staleAfterMs),
    source: sourceSummary(state.source),
    counts: {
      objects: state.source.objects,
      domains: counted.domains,
      servers: { ready: counted.ready, notReady: counted.notReady },
      skipped: skippedObjectCount(state.skipped),
    },
    skipped: state.skipped.slice(0, query.limit),
    config: {
      path: state.config.path,
      installedHash: state.config.installedHash,
      renderedHash: state.config.renderedHash,
      current: state.config.installedHash !== null &&
        state.config.installedHash === state.config.renderedHash,
    },
    reloadMode: state.reloadMode,
    runtime: runtimeSummary(state),
    lastSuccessAt: iso(state.lastSuccessAt),
    lastApply: run(state.applies[0] ?? null, state.applies[0]?.durationMs ?? null),
    lastCheck: run(state.lastCheck, state.lastCheck?.checkMs ?? null),
    lastReload: run(state.lastReload, state.lastReload?.reloadMs ?? null),
    applies: state.applies.map((a) => ({ ...a, at: iso(a.at) })),
    domainsPage: {
      q: query.q,
      offset: query.offset,
      limit: query.limit,
      matched: page.matched,
      next: next === null ? null : `${STATUS_ROUTES.status}${next}`,
      detail: STATUS_ROUTES.domain,
    },
    domains: Object.fromEntries(page.entries.map(([name, d]) => [name, domainSummary(d, haproxy)])),
    haproxy: haproxySummary(haproxy),
  };
}

/**
 * HAProxy's part of the document: processes and the backend rows summed up, never a list that grows with
 * the servers (a domain's servers are at `/status/domains/NAME`).
 */
function haproxySummary(haproxy: HaproxyView | null): Record<string, unknown> | null {
  if (haproxy === null) return null;
  const totals = haproxy.error === null ? backendTotals(haproxy) : { backends: {}, usableServers: 0 };
  return {
    processes: haproxy.processes,
    backends: totals.backends,
    usableServers: totals.usableServers,
    readAt: iso(haproxy.readAt),
    error: haproxy.error,
  };
}

function sourceSummary(source: DaemonState["source"]): Record<string, unknown> {
  return {
    kind: source.kind,
    endpoint: source.endpoint,
    resource: source.resource,
    namespaces: source.namespaces,
    synced: source.synced,
    listing: source.listing ?? [],
    fullSyncs: source.fullSyncs,
    lastEventAt: iso(source.lastEventAt),
    lastFullSyncAt: iso(source.lastFullSyncAt),
    events: source.events,
    restarts: source.restarts,
    lastError: source.lastError,
    problems: source.problems,
  };
}

function domainSummary(
  d: DaemonState["domains"][string],
  haproxy: HaproxyView | null,
): Record<string, unknown> {
  return {
    proto: d.proto,
    port: d.port,
    listenPort: d.listenPort,
    object: `${d.namespace}/${d.name}`,
    id: d.id,
    servers: d.servers,
    settings: effectiveSettings(d),
    ...(d.tls === undefined ? {} : { tls: tlsSummary(d.tls) }),
    ...(haproxy === null ? {} : { haproxy: backendOf(d, haproxy) ?? null }),
  };
}
