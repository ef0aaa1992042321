/**
 * Prometheus metrics of the daemon (`prom-client`, one registry per {@linkcode createMetrics} call, no
 * global state). The loop drives the counters and histograms of what it does (applies, reloads, render,
 * check and reload durations); everything that mirrors the daemon's record (domains, servers, source
 * counters, timestamps) is set from a {@linkcode DaemonState} at scrape time.
 *
 * @module
 */
import { skippedObjectCount } from "../model/model.ts";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ApplyOutcome, ApplyRecord, DaemonState, HaproxyView } from "../record/state.ts";
import { commit, VERSION } from "../version.ts";
import { certificateExpiries } from "./tls_status.ts";

/** Prefix of every metric name. */
export const METRIC_PREFIX = "haconfd_";

/** Histogram buckets (seconds) of the render, check and reload durations. */
export const DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

const APPLY_OUTCOMES: Record<ApplyOutcome, true> = {
  "applied": true,
  "unchanged": true,
  "dry-run": true,
  "held": true,
  "render-failed": true,
  "check-failed": true,
  "write-failed": true,
  "reload-failed": true,
  "internal-error": true,
};

/** Every `result` label value of `haconfd_applies_total` (the loop's {@linkcode ApplyOutcome}s). */
export const APPLY_RESULTS: readonly ApplyOutcome[] = Object.keys(APPLY_OUTCOMES) as ApplyOutcome[];

/** `result` label values of `haconfd_reloads_total`. */
export const RELOAD_RESULTS = ["success", "failure"] as const;
/** The result of one reload. */
export type ReloadResultLabel = typeof RELOAD_RESULTS[number];

/** The daemon's metrics. */
export interface Metrics {
  /** The registry holding them all. */
  readonly registry: Registry;
  /** `haconfd_applies_total{result}`: passes of the loop by {@linkcode ApplyOutcome}. */
  readonly applies: Counter<"result">;
  /** `haconfd_reloads_total{result}`: reloads by {@linkcode ReloadResultLabel}. */
  readonly reloads: Counter<"result">;
  /** `haconfd_render_duration_seconds`. */
  readonly renderSeconds: Histogram;
  /** `haconfd_check_duration_seconds`: the check command (`haproxy -c`). */
  readonly checkSeconds: Histogram;
  /** `haconfd_reload_duration_seconds`. */
  readonly reloadSeconds: Histogram;
  /** `haconfd_runtime_commands_total{result}`: Runtime API commands by result (`ok`, `failed`). */
  readonly runtimeCommands: Counter<"result">;
  /** `haconfd_apply_paths_total{path}`: applies that reached HAProxy by path (`runtime`, `reload`, `unchanged`). */
  readonly applyPaths: Counter<"path">;
  /** Counts Runtime API commands (use this, not `runtimeCommands` directly, to keep the totals). */
  recordRuntimeCommands(result: "ok" | "failed", count: number): void;
  /** The totals of `runtimeCommands`. */
  runtimeCommandCounts(): { ok: number; failed: number };
  /**
   * Counts one pass of the loop in one call: `applies`, the duration histograms for the steps that ran,
   * and `reloads` when it reloaded (failure when the outcome is `reload-failed`). Use this or the
   * individual metrics, not both, or the pass is counted twice.
   */
  recordApply(record: ApplyRecord): void;
  /** Sets the gauges and mirrored counters from the daemon's record (and HAProxy's view, when known). */
  observeState(state: DaemonState, haproxy?: HaproxyView | null): void;
  /** The Prometheus text exposition; with a state, {@linkcode Metrics.observeState} runs first. */
  render(state?: DaemonState, haproxy?: HaproxyView | null): Promise<string>;
  /** The `Content-Type` of {@linkcode Metrics.render}'s text. */
  readonly contentType: string;
}

/** Options of {@linkcode createMetrics}. */
export interface MetricsOptions {
  /** Version in `haconfd_build_info`. @default {VERSION} */
  version?: string;
  /** Commit in `haconfd_build_info`. @default {commit()} */
  commit?: string;
}

/** Sets a mirrored counter to absolute values: the source keeps the totals, the scrape copies them. */
function mirror<T extends string>(counter: Counter<T>, label: T, values: Record<string, number>): void {
  counter.reset();
  for (const [value, count] of Object.entries(values)) {
    counter.inc({ [label]: value } as Partial<Record<T, string>>, count);
  }
}

function seconds(ms: number | null): number {
  return ms === null ? 0 : ms / 1000;
}

/**
 * Creates the metrics in a fresh registry.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.recordApply(record);                 // after each pass of the loop
 * const text = await metrics.render(state);    // on GET /metrics
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const name = (suffix: string): string => `${METRIC_PREFIX}${suffix}`;

  const applies = labelledCounter(
    "applies_total",
    "Passes of the loop (render, check, swap, reload) by result",
    "result",
  );
  const reloads = labelledCounter("reloads_total", "HAProxy reloads by result", "result");
  const runtimeCommands = labelledCounter(
    "runtime_commands_total",
    "HAProxy Runtime API commands by result (ok, failed)",
    "result",
  );
  const commandCounts = { ok: 0, failed: 0 };
  const applyPaths = labelledCounter(
    "apply_paths_total",
    "Applies by the path HAProxy got them (runtime, reload, unchanged)",
    "path",
  );
  const draining = new Gauge({
    name: name("runtime_draining_servers"),
    help: "Servers removed through the Runtime API that still finish their connections",
    registers,
  });
  const histogram = (suffix: string, help: string): Histogram =>
    new Histogram({ name: name(suffix), help, buckets: [...DURATION_BUCKETS], registers });
  const renderSeconds = histogram("render_duration_seconds", "Time to render the config");
  const checkSeconds = histogram("check_duration_seconds", "Time of the config check command");
  const reloadSeconds = histogram("reload_duration_seconds", "Time to reload HAProxy");

  const buildInfo = new Gauge({
    name: name("build_info"),
    help: "Build information; the value is always 1",
    labelNames: ["version", "commit", "deno"] as const,
    registers,
  });
  const startTime = gauge("start_time_seconds", "When the daemon started, seconds since the epoch");
  const heartbeat = gauge("heartbeat_timestamp_seconds", "When the loop was last known alive");
  const ready = gauge("ready", "1 when synced and the installed config is the last one rendered");
  const lastSuccess = gauge(
    "last_success_timestamp_seconds",
    "When a config was last applied successfully, seconds since the epoch (0 = never)",
  );
  const domains = gauge("domains", "Domains in the last model");
  const domainsByProto = labelledGauge("domains_by_proto", "Domains in the last model by proto", "proto");
  const servers = labelledGauge(
    "servers",
    "Backend servers in the last model by readiness (ready, not_ready)",
    "state",
  );
  const skipped = gauge("skipped_objects", "Objects with routing annotations that could not be used");
  const syncs = new Counter({
    name: name("source_syncs_total"),
    help: "Completed full syncs with the source (lists, relists, resyncs, file reads)",
    registers,
  });
  const events = labelledCounter("source_events_total", "Watch events received by type", "type");
  const restarts = labelledCounter("source_watch_restarts_total", "Watch restarts by reason", "reason");
  const objects = gauge("source_objects", "Objects held from the source");
  const synced = gauge("source_synced", "1 once a first complete sync with the source has happened");
  const sourceError = gauge("source_error", "1 while the source reports an error");
  const lastEvent = gauge(
    "source_last_event_timestamp_seconds",
    "When the last watch event arrived (0 = never)",
  );
  const lastFullSync = gauge(
    "source_last_full_sync_timestamp_seconds",
    "When the last full sync completed (0 = never)",
  );
  const haproxyServers = labelledGauge(
    "haproxy_servers",
    "Servers as HAProxy reports them by status (UP, DOWN, MAINT, ...)",
    "status",
  );
  const haproxyProcesses = gauge("haproxy_processes", "HAProxy processes listed by the master socket");
  const certificateExpiry = labelledGauge(
    "certificate_expiry_seconds",
    "When the certificate of a TLS-terminated domain expires, seconds since the epoch",
    "domain",
  );

  function gauge(suffix: string, help: string): Gauge {
    return new Gauge({ name: name(suffix), help, registers });
  }
  function labelledGauge<L extends string>(suffix: string, help: string, label: L): Gauge<L> {
    return new Gauge({ name: name(suffix), help, labelNames: [label], registers });
  }
  function labelledCounter<L extends string>(suffix: string, help: string, label: L): Counter<L> {
    return new Counter({ name: name(suffix), help, labelNames: [label], registers });
  }

  for (const result of APPLY_RESULTS) applies.inc({ result }, 0);
  for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0);
  buildInfo.set({
    version: options.version ?? VERSION,
    commit: options.commit ?? commit(),
    deno: Deno.version.deno,
  }, 1);

  function observeState(state: DaemonState, haproxy: HaproxyView | null = null): void {
    startTime.set(state.startedAt / 1000);
    heartbeat.set(state.heartbeatAt / 1000);
    ready.set(state.ready.ok ? 1 : 0);
    lastSuccess.set(seconds(state.lastSuccessAt));
    const all = Object.values(state.domains);
    domains.set(all.length);
    domainsByProto.reset();
    for (const domain of all) domainsByProto.inc({ proto: domain.proto });
    const up = all.reduce((n, d) => n + d.servers.filter((s) => s.ready).length, 0);
    const total = all.reduce((n, d) => n + d.servers.length, 0);
    servers.set({ state: "ready" }, up);
    servers.set({ state: "not_ready" }, total - up);
    skipped.set(skippedObjectCount(state.skipped));
    certificateExpiry.reset();
    for (const [domain, at] of certificateExpiries(state.domains)) certificateExpiry.set({ domain }, at);
    const source = state.source;
    syncs.reset();
    syncs.inc(source.fullSyncs);
    mirror(events, "type", source.events);
    mirror(restarts, "reason", source.restarts);
    objects.set(source.objects);
    synced.set(source.synced ? 1 : 0);
    sourceError.set(source.lastError === null ? 0 : 1);
    lastEvent.set(seconds(source.lastEventAt));
    lastFullSync.set(seconds(source.lastFullSyncAt));
    draining.set(state.runtime?.draining.length ?? 0);
    haproxyServers.reset();
    haproxyProcesses.reset();
    if (haproxy && haproxy.error === null) {
      haproxyProcesses.set(haproxy.processes.length);
      for (const list of Object.values(haproxy.backends)) {
        for (const server of list) haproxyServers.inc({ status: server.status });
      }
    }
  }

  return {
    registry,
    applies,
    reloads,
    renderSeconds,
    checkSeconds,
    reloadSeconds,
    runtimeCommands,
    applyPaths,
    recordRuntimeCommands(result, count) {
      commandCounts[result] += count;
      runtimeCommands.inc({ result }, count);
    },
    runtimeCommandCounts: () => ({ ...commandCounts }),
    contentType: registry.contentType,
    recordApply(record: ApplyRecord): void {
      applies.inc({ result: record.outcome });
      if (record.path !== undefined) applyPaths.inc({ path: record.path });
      if (record.renderMs !== null) renderSeconds.observe(record.renderMs / 1000);
      if (record.checkMs !== null) checkSeconds.observe(record.checkMs / 1000);
      if (record.reloadMs !== null) {
        reloadSeconds.observe(record.reloadMs / 1000);
        reloads.inc({ result: record.outcome === "reload-failed" ? "failure" : "success" });
      }
    },
    observeState,
    async render(state?: DaemonState, haproxy: HaproxyView | null = null): Promise<string> {
      if (state) observeState(state, haproxy);
      return await registry.metrics();
    },
  };
}
