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
import { backendTotals } from "./haproxy_rows.ts";

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

/** Makes metrics named `haconfd_<suffix>` in one registry. */
class MetricFactory {
  readonly registry: Registry = new Registry();
  readonly #registers = [this.registry];

  gauge(suffix: string, help: string): Gauge {
    return new Gauge(this.#config(suffix, help));
  }

  labelledGauge<L extends string>(suffix: string, help: string, label: L): Gauge<L> {
    return new Gauge({ ...this.#config(suffix, help), labelNames: [label] });
  }

  counter(suffix: string, help: string): Counter {
    return new Counter(this.#config(suffix, help));
  }

  labelledCounter<L extends string>(suffix: string, help: string, label: L): Counter<L> {
    return new Counter({ ...this.#config(suffix, help), labelNames: [label] });
  }

  histogram(suffix: string, help: string): Histogram {
    return new Histogram({ ...this.#config(suffix, help), buckets: [...DURATION_BUCKETS] });
  }

  #config(suffix: string, help: string): { name: string; help: string; registers: Registry[] } {
    return { name: `${METRIC_PREFIX}${suffix}`, help, registers: this.#registers };
  }

  /** `haconfd_build_info`, set once. */
  buildInfo(options: MetricsOptions): void {
    new Gauge({
      ...this.#config("build_info", "Build information; the value is always 1"),
      labelNames: ["version", "commit", "deno"] as const,
    }).set({
      version: options.version ?? VERSION,
      commit: options.commit ?? commit(),
      deno: Deno.version.deno,
    }, 1);
  }
}

/** The metrics the loop drives: what each pass did. */
function loopMetricSet(f: MetricFactory) {
  const set = {
    applies: f.labelledCounter(
      "applies_total",
      "Passes of the loop (render, check, swap, reload) by result",
      "result",
    ),
    reloads: f.labelledCounter("reloads_total", "HAProxy reloads by result", "result"),
    runtimeCommands: f.labelledCounter(
      "runtime_commands_total",
      "HAProxy Runtime API commands by result (ok, failed)",
      "result",
    ),
    applyPaths: f.labelledCounter(
      "apply_paths_total",
      "Applies by the path HAProxy got them (runtime, reload, unchanged)",
      "path",
    ),
    renderSeconds: f.histogram("render_duration_seconds", "Time to render the config"),
    checkSeconds: f.histogram("check_duration_seconds", "Time of the config check command"),
    reloadSeconds: f.histogram("reload_duration_seconds", "Time to reload HAProxy"),
  };
  for (const result of APPLY_RESULTS) set.applies.inc({ result }, 0);
  for (const result of RELOAD_RESULTS) set.reloads.inc({ result }, 0);
  return set;
}

/** Records the loop's passes and Runtime API commands into its metrics, keeping the command totals. */
class LoopRecorder {
  readonly #set: ReturnType<typeof loopMetricSet>;
  readonly #commandCounts = { ok: 0, failed: 0 };

  constructor(set: ReturnType<typeof loopMetricSet>) {
    this.#set = set;
  }

  recordRuntimeCommands(result: "ok" | "failed", count: number): void {
    this.#commandCounts[result] += count;
    this.#set.runtimeCommands.inc({ result }, count);
  }

  runtimeCommandCounts(): { ok: number; failed: number } {
    return { ...this.#commandCounts };
  }

  recordApply(record: ApplyRecord): void {
    const set = this.#set;
    set.applies.inc({ result: record.outcome });
    if (record.path !== undefined) set.applyPaths.inc({ path: record.path });
    if (record.renderMs !== null) set.renderSeconds.observe(record.renderMs / 1000);
    if (record.checkMs !== null) set.checkSeconds.observe(record.checkMs / 1000);
    if (record.reloadMs !== null) {
      set.reloadSeconds.observe(record.reloadMs / 1000);
      set.reloads.inc({ result: record.outcome === "reload-failed" ? "failure" : "success" });
    }
  }
}

/** The gauges of the daemon itself and of its last model, set from its record at scrape time. */
class ModelGauges {
  readonly #startTime: Gauge;
  readonly #heartbeat: Gauge;
  readonly #ready: Gauge;
  readonly #lastSuccess: Gauge;
  readonly #draining: Gauge;
  readonly #domains: Gauge;
  readonly #domainsByProto: Gauge<"proto">;
  readonly #servers: Gauge<"state">;
  readonly #skipped: Gauge;
  readonly #certificateExpiry: Gauge<"domain">;

  constructor(f: MetricFactory) {
    this.#draining = f.gauge(
      "runtime_draining_servers",
      "Servers removed through the Runtime API that still finish their connections",
    );
    this.#startTime = f.gauge("start_time_seconds", "When the daemon started, seconds since the epoch");
    this.#heartbeat = f.gauge("heartbeat_timestamp_seconds", "When the loop was last known alive");
    this.#ready = f.gauge("ready", "1 when synced and the installed config is the last one rendered");
    this.#lastSuccess = f.gauge(
      "last_success_timestamp_seconds",
      "When a config was last applied successfully, seconds since the epoch (0 = never)",
    );
    this.#domains = f.gauge("domains", "Domains in the last model");
    this.#domainsByProto = f.labelledGauge("domains_by_proto", "Domains in the last model by proto", "proto");
    this.#servers = f.labelledGauge(
      "servers",
      "Backend servers in the last model by readiness (ready, not_ready)",
      "state",
    );
    this.#skipped = f.gauge("skipped_objects", "Objects with routing annotations that could not be used");
    this.#certificateExpiry = f.labelledGauge(
      "certificate_expiry_seconds",
      "When the certificate of a TLS-terminated domain expires, seconds since the epoch",
      "domain",
    );
  }

  observe(state: DaemonState): void {
    this.#startTime.set(state.startedAt / 1000);
    this.#heartbeat.set(state.heartbeatAt / 1000);
    this.#ready.set(state.ready.ok ? 1 : 0);
    this.#lastSuccess.set(seconds(state.lastSuccessAt));
    this.#draining.set(state.runtime?.draining.length ?? 0);
    const all = Object.values(state.domains);
    this.#domains.set(all.length);
    this.#domainsByProto.reset();
    for (const domain of all) this.#domainsByProto.inc({ proto: domain.proto });
    const up = all.reduce((n, d) => n + d.servers.filter((s) => s.ready).length, 0);
    const total = all.reduce((n, d) => n + d.servers.length, 0);
    this.#servers.set({ state: "ready" }, up);
    this.#servers.set({ state: "not_ready" }, total - up);
    this.#skipped.set(skippedObjectCount(state.skipped));
    this.#certificateExpiry.reset();
    for (const [domain, at] of certificateExpiries(state.domains)) {
      this.#certificateExpiry.set({ domain }, at);
    }
  }
}

/** The source's counters and gauges, mirrored from its record at scrape time. */
class SourceGauges {
  readonly #syncs: Counter;
  readonly #events: Counter<"type">;
  readonly #restarts: Counter<"reason">;
  readonly #objects: Gauge;
  readonly #synced: Gauge;
  readonly #error: Gauge;
  readonly #lastEvent: Gauge;
  readonly #lastFullSync: Gauge;

  constructor(f: MetricFactory) {
    this.#syncs = f.counter(
      "source_syncs_total",
      "Completed full syncs with the source (lists, relists, resyncs, file reads)",
    );
    this.#events = f.labelledCounter("source_events_total", "Watch events received by type", "type");
    this.#restarts = f.labelledCounter("source_watch_restarts_total", "Watch restarts by reason", "reason");
    this.#objects = f.gauge("source_objects", "Objects held from the source");
    this.#synced = f.gauge("source_synced", "1 once a first complete sync with the source has happened");
    this.#error = f.gauge("source_error", "1 while the source reports an error");
    this.#lastEvent = f.gauge(
      "source_last_event_timestamp_seconds",
      "When the last watch event arrived (0 = never)",
    );
    this.#lastFullSync = f.gauge(
      "source_last_full_sync_timestamp_seconds",
      "When the last full sync completed (0 = never)",
    );
  }

  observe(source: DaemonState["source"]): void {
    this.#syncs.reset();
    this.#syncs.inc(source.fullSyncs);
    mirror(this.#events, "type", source.events);
    mirror(this.#restarts, "reason", source.restarts);
    this.#objects.set(source.objects);
    this.#synced.set(source.synced ? 1 : 0);
    this.#error.set(source.lastError === null ? 0 : 1);
    this.#lastEvent.set(seconds(source.lastEventAt));
    this.#lastFullSync.set(seconds(source.lastFullSyncAt));
  }
}

/**
 * HAProxy's own view, when known at scrape time: processes and its backend rows summed up. Per-server
 * figures are not here (a scrape would grow with the servers): HAProxy's own exporter has them.
 */
class HaproxyGauges {
  readonly #backends: Gauge<"status">;
  readonly #usable: Gauge;
  readonly #processes: Gauge;

  constructor(f: MetricFactory) {
    this.#backends = f.labelledGauge("haproxy_backends", "HAProxy's backends by status (UP, DOWN)", "status");
    this.#usable = f.gauge(
      "haproxy_servers_usable",
      "Servers HAProxy can send traffic to (up, not in maintenance, weight above 0), over all backends",
    );
    this.#processes = f.gauge("haproxy_processes", "HAProxy processes listed by the master socket");
  }

  observe(haproxy: HaproxyView | null): void {
    this.#backends.reset();
    this.#usable.reset();
    this.#processes.reset();
    if (!haproxy || haproxy.error !== null) return;
    this.#processes.set(haproxy.processes.length);
    const totals = backendTotals(haproxy);
    for (const [status, count] of Object.entries(totals.backends)) this.#backends.set({ status }, count);
    this.#usable.set(totals.usableServers);
  }
}

/** The gauges mirrored from the daemon's record and HAProxy's view at scrape time. */
class StateMirror {
  readonly #model: ModelGauges;
  readonly #source: SourceGauges;
  readonly #haproxy: HaproxyGauges;

  constructor(f: MetricFactory) {
    this.#model = new ModelGauges(f);
    this.#source = new SourceGauges(f);
    this.#haproxy = new HaproxyGauges(f);
  }

  observe(state: DaemonState, haproxy: HaproxyView | null): void {
    this.#model.observe(state);
    this.#source.observe(state.source);
    this.#haproxy.observe(haproxy);
  }
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
  const f = new MetricFactory();
  const set = loopMetricSet(f);
  const recorder = new LoopRecorder(set);
  const mirror = new StateMirror(f);
  f.buildInfo(options);
  const observeState = (state: DaemonState, haproxy: HaproxyView | null = null) =>
    mirror.observe(state, haproxy);
  return {
    registry: f.registry,
    contentType: f.registry.contentType,
    ...set,
    recordRuntimeCommands: (result, count) => recorder.recordRuntimeCommands(result, count),
    runtimeCommandCounts: () => recorder.runtimeCommandCounts(),
    recordApply: (record) => recorder.recordApply(record),
    observeState,
    async render(state, haproxy = null) {
      if (state) observeState(state, haproxy);
      return await f.registry.metrics();
    },
  };
}
