/**
 * The daemon's reconcile loop: source changes → quiescence → model → render → apply → state. Every
 * wake-up (a change, a retry, a signal) ends in the same pass; the loop is the only module that knows
 * the order of the stages.
 *
 * @module
 */
import type { Applier, ApplyResult } from "../apply/apply.ts";
import { applyPathOf } from "./apply_path.ts";
import { Backoff } from "../backoff.ts";
import { sha256Hex } from "../hash.ts";
import { type Generated, trailerDomains } from "../render/generate.ts";
import { type Culprit, reloadCulprits } from "./culprits.ts";
import { Quarantine } from "./quarantine.ts";
import type { EndpointSet } from "../model/endpoints.ts";
import { errorText, type Logger } from "../log.ts";
import type { Model } from "../model/model.ts";
import { createQuiescence, type Quiescence, realTimers, type Timers } from "./quiescence.ts";
import type { Source, SourceStatus } from "../source/source.ts";
import type { ApplyOutcome, ApplyRecord, DaemonState } from "./state.ts";
import { VERSION } from "../version.ts";

/** How many pass records the state keeps. */
const KEEP_RECORDS = 20;
/** How many times one pass re-renders without objects a failed reload was traced to. */
const TRACE_ROUNDS = 3;
/** A pass running longer than this makes the loop unhealthy. */
export const STUCK_AFTER_MS = 120_000;

/** Options of {@linkcode createLoop}. */
export interface LoopOptions {
  /** Where endpoint sets come from. */
  source: Source;
  /** Model + render of a snapshot; throws when a template fails. Replaced by {@linkcode Loop.setGenerator}. */
  generate: (sets: EndpointSet[]) => Generated;
  /** Installs rendered text. */
  applier: Applier;
  /** The installed config's path (for the state). */
  configPath: string;
  /** How reloads are done (for the state). */
  reloadMode: string;
  /** Quiescence window. */
  wait: { minMs: number; maxMs: number };
  /** Largest share of domains one apply may drop before it waits for a second full sync. */
  maxShrink: number;
  /** Diff and check only. @default {false} */
  dryRun?: boolean;
  /**
   * First retry delay after a failed write or reload; doubles up to `retryMaxMs`, each delay jittered
   * down to as little as half ({@linkcode Backoff}). @default {1000}
   */
  retryMinMs?: number;
  /** Largest retry delay. @default {30000} */
  retryMaxMs?: number;
  /** Logger. */
  log: Logger;
  /** Called after every pass, with the apply result when the applier ran. */
  onPass?: (record: ApplyRecord, result: ApplyResult | undefined) => void;
  /** The retry jitter's random source, in [0, 1) (1 means no jitter). @default {Math.random} */
  random?: () => number;
  /** Timers. @default {realTimers} */
  timers?: Timers;
  /**
   * Finds objects HAProxy could not load before it is asked to (e.g. a listen port another program
   * holds), given the model and the installed text; they are skipped with the reason. @default {none}
   */
  probe?: (model: Model, installed: string | undefined) => Culprit[];
}

/** A running loop. */
export interface Loop {
  /** Subscribes to the source; passes start with its first complete sync. */
  start(): void;
  /** Runs one pass now (after the current one) and resolves with its record. */
  runNow(): Promise<ApplyRecord>;
  /** Replaces the generator (templates re-read on SIGHUP) and re-applies. */
  setGenerator(generate: (sets: EndpointSet[]) => Generated): void;
  /** The current state, for the status endpoint. */
  state(): DaemonState;
  /** Stops scheduling, aborts a running pass (its check or reload) and resolves once it has ended. */
  close(): Promise<void>;
}

/** The stack of an error, for logs of unexpected failures. */
function stackOf(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : undefined;
}

const SUCCESS: readonly ApplyOutcome[] = ["applied", "unchanged", "dry-run"];

/** Whether a pass ended well (applied, already current, or a dry run whose check passed). */
export function passSucceeded(record: Pick<ApplyRecord, "outcome">): boolean {
  return SUCCESS.includes(record.outcome);
}

/**
 * Whether this host should serve (the /readyz verdict), from the source's status, the last pass record
 * and the hashes of the last rendered and the installed config.
 */
export function readiness(
  status: SourceStatus,
  last: ApplyRecord | undefined,
  hashes: { renderedHash: string | null; installedHash: string | null },
): DaemonState["ready"] {
  // Only the first sync counts: a source error later (the API unreachable) keeps the installed config,
  // the last good one, serving — and an outage that hits every host must not fail them all (keepalived/README.md).
  if (!status.synced) return { ok: false, reason: "waiting for the first complete sync with the source" };
  if (last === undefined) return { ok: false, reason: "no config applied yet" };
  if (last.outcome === "dry-run") return { ok: true, reason: "dry run: the rendered config checks out" };
  if (!passSucceeded(last)) {
    return { ok: false, reason: `last apply ${last.outcome}: ${last.detail}` };
  }
  if (hashes.renderedHash !== hashes.installedHash) {
    return { ok: false, reason: "the installed config differs from the last rendered one" };
  }
  // Still ready (see above), but /readyz says why the config may be behind the cluster.
  if (status.lastError !== null) {
    return {
      ok: true,
      reason: `serving the last good config; the source is failing: ${status.lastError}`,
    };
  }
  return { ok: true, reason: "the installed config is the last one rendered" };
}

/** Failures that may pass on a later try of the same text (a rejected config will not). */
function retryable(result: ApplyResult): boolean {
  switch (result.status) {
    case "reload-failed":
    case "write-failed":
      return true;
    case "check-failed":
      return result.retryable === true || result.pendingReload?.ok === false;
    default:
      return false;
  }
}

function outcomeOf(result: ApplyResult): { outcome: ApplyOutcome; detail: string; errors: string[] } {
  switch (result.status) {
    case "unchanged":
      return { outcome: "unchanged", detail: "the installed config is current", errors: [] };
    case "applied":
      return {
        outcome: "applied",
        detail: `${
          result.detail ?? (result.changed ? "installed and reloaded" : "reloaded")
        }: ${result.reload.detail}`,
        errors: result.warnings,
      };
    case "runtime":
      return { outcome: "applied", detail: result.detail, errors: [] };
    case "dry-run":
      if (result.check?.ok === false) {
        return {
          outcome: "check-failed",
          detail: "dry run: the check rejects the rendered config",
          errors: result.check.errors,
        };
      }
      return {
        outcome: "dry-run",
        detail: result.changed ? "would install a changed config" : "no change",
        errors: result.check?.errors ?? [],
      };
    case "check-failed":
      return {
        outcome: "check-failed",
        detail: result.retryable
          ? "the config check could not run; installed config kept, will retry"
          : `the check rejected the config; installed config kept${
            result.rejectedPath ? `, rejected one at ${result.rejectedPath}` : ""
          }`,
        errors: result.errors,
      };
    case "reload-failed":
      return { outcome: "reload-failed", detail: result.error, errors: [] };
    case "write-failed":
      return { outcome: "write-failed", detail: result.error, errors: [] };
  }
}

/**
 * Creates the loop.
 *
 * @example
 * ```ts
 * const loop = createLoop({ source, generate, applier, configPath, reloadMode: "managed", wait, maxShrink: 0.5, log });
 * loop.start();
 * ```
 */
export function createLoop(options: LoopOptions): Loop {
  const {
    source,
    applier,
    configPath,
    reloadMode,
    wait,
    maxShrink,
    log,
    onPass,
    probe,
    timers = realTimers,
  } = options;
  const { dryRun = false, retryMinMs = 1000, retryMaxMs = 30_000 } = options;
  let generate = options.generate;
  const startedAt = timers.now();
  const records: ApplyRecord[] = [];
  let lastCheck: ApplyRecord | null = null;
  let lastReload: ApplyRecord | null = null;
  let lastSuccessAt: number | null = null;
  // What HAProxy serves (the last model applied) and what the last render skipped.
  let liveDomains: Model["domains"] = {};
  let lastSkipped: Model["skipped"] = [];
  let renderedHash: string | null = null;
  let installedHash: string | null = null;
  let appliedDomains: number | null = null;
  let heldSince: number | null = null; // full-sync count when the shrink guard first held
  let passStartedAt: number | null = null;
  const retryBackoff = new Backoff(retryMinMs, retryMaxMs, options.random ?? Math.random);
  let retryTimer: unknown = undefined;
  let closed = false;
  const stopping = new AbortController();
  let currentPass: Promise<void> | null = null;
  let waiters: { resolve: (record: ApplyRecord) => void }[] = [];

  function initialHash(): void {
    const text = applier.installed();
    if (text === undefined) return;
    installedHash = sha256Hex(text);
    // The shrink guard also protects what a previous run installed.
    appliedDomains = trailerDomains(text) ?? null;
  }
  try {
    initialHash();
  } catch (error) {
    log.error("cannot read the installed config's hash", { error: errorText(error), stack: stackOf(error) });
  }
  const quarantine = new Quarantine(log);

  /** `onPass` must not end a pass or the daemon: a throwing observer is logged and ignored. */
  function notify(entry: ApplyRecord, result: ApplyResult | undefined): void {
    try {
      onPass?.(entry, result);
    } catch (error) {
      log.error("pass observer failed", { error: errorText(error), stack: stackOf(error) });
    }
  }

  /** Model + render of `sets` without the quarantined objects, which are listed as skipped. */
  function generateWithout(sets: EndpointSet[]): Generated {
    return quarantine.generateWithout(sets, generate);
  }

  /**
   * Quarantines the objects HAProxy's alerts blame for a failed reload (of a new file, or of the
   * installed one at start-up, which an older haconfd may have left with a busy port); whether any was new.
   */
  function traceFailure(result: ApplyResult, model: Model, sets: EndpointSet[]): boolean {
    if (result.status !== "reload-failed") return false;
    return quarantine.add(reloadCulprits(`${result.error}\n${result.reload.detail}`, model), sets);
  }

  function scheduleRetry(): void {
    if (closed || retryTimer !== undefined) return;
    const inMs = retryBackoff.next();
    log.info("retrying", { inMs });
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined;
      quiescence.flush();
    }, inMs);
  }

  function record(
    outcome: ApplyOutcome,
    detail: string,
    started: number,
    extra: Partial<ApplyRecord> = {},
  ): ApplyRecord {
    const entry: ApplyRecord = {
      at: timers.now(),
      outcome,
      detail,
      durationMs: timers.now() - started,
      renderMs: null,
      checkMs: null,
      reloadMs: null,
      hash: null,
      errors: [],
      ...extra,
    };
    records.unshift(entry);
    records.length = Math.min(records.length, KEEP_RECORDS);
    return entry;
  }

  /** The shrink guard: a big drop waits until a second full sync confirms it. */
  function shrinkHeld(model: Model): string | null {
    const next = Object.keys(model.domains).length;
    const previous = appliedDomains;
    if (previous === null || previous === 0 || (previous - next) / previous <= maxShrink) {
      heldSince = null;
      return null;
    }
    const syncs = source.status().fullSyncs;
    if (heldSince === null) heldSince = syncs;
    if (syncs > heldSince) {
      log.warn("shrink confirmed by a second full sync, applying", { from: previous, to: next });
      heldSince = null;
      return null;
    }
    return `the new config drops ${previous - next} of ${previous} domains (more than ${
      Math.round(maxShrink * 100)
    }%): waiting for a second full sync to confirm`;
  }

  async function pass(): Promise<ApplyRecord> {
    const started = timers.now();
    passStartedAt = started;
    try {
      if (!source.status().synced) {
        return record("held", "waiting for the first complete sync with the source", started);
      }
      let generated: Generated;
      const renderStart = timers.now();
      const sets = source.snapshot();
      try {
        generated = generateWithout(sets);
      } catch (error) {
        log.error("render failed, installed config kept", { error: errorText(error) });
        return record("render-failed", errorText(error), started, { renderMs: timers.now() - renderStart });
      }
      const renderMs = timers.now() - renderStart;
      lastSkipped = generated.model.skipped;
      // Published with the pass's outcome: while the check and reload run, /readyz keeps describing the
      // last finished pass instead of flapping to "differs from the last rendered one".
      let hash = sha256Hex(generated.text);
      for (const skipped of generated.model.skipped) log.debug("object skipped", { ...skipped });

      const held = dryRun ? null : shrinkHeld(generated.model);
      if (held !== null) {
        log.warn("apply held", { reason: held });
        renderedHash = hash;
        return record("held", held, started, { renderMs, hash });
      }

      // A listen port another program holds is found before HAProxy tries (and fails) to bind it.
      for (let round = 0; round < TRACE_ROUNDS && probe !== undefined && !dryRun; round++) {
        if (!quarantine.add(probe(generated.model, applier.installed()), sets)) break;
        generated = generateWithout(sets);
        lastSkipped = generated.model.skipped;
        hash = sha256Hex(generated.text);
      }
      let result = await applier.apply(generated.text, { dryRun, signal: stopping.signal });
      // A reload that failed after a good check (a port another program holds) is traced to the objects
      // HAProxy's alert names; without them the rest is applied (checked and reloaded) in this pass.
      for (let round = 0; round < TRACE_ROUNDS && traceFailure(result, generated.model, sets); round++) {
        generated = generateWithout(sets);
        lastSkipped = generated.model.skipped;
        hash = sha256Hex(generated.text);
        result = await applier.apply(generated.text, { dryRun, signal: stopping.signal });
      }
      installedHash = result.installedHash ?? null;
      renderedHash = hash;
      const { outcome, detail, errors } = outcomeOf(result);
      const entry = record(outcome, detail, started, {
        renderMs,
        checkMs: result.durations.checkMs > 0 || outcome === "check-failed" ? result.durations.checkMs : null,
        reloadMs: "reload" in result || "pendingReload" in result ? result.durations.reloadMs : null,
        hash: result.hash,
        errors,
        ...applyPathOf(result),
      });
      if (entry.checkMs !== null) lastCheck = entry;
      if ("reload" in result || "pendingReload" in result) lastReload = entry;
      if (passSucceeded({ outcome })) {
        lastSuccessAt = entry.at;
        retryBackoff.reset();
        liveDomains = generated.model.domains;
        if (outcome !== "dry-run") appliedDomains = Object.keys(generated.model.domains).length;
      } else if (retryable(result)) {
        scheduleRetry();
      }
      notify(entry, result);
      return entry;
    } catch (error) {
      // Anything unexpected (a bug) is recorded as such and retried, never fatal to the daemon.
      log.error("pass failed unexpectedly", { error: errorText(error), stack: stackOf(error) });
      const entry = record("internal-error", errorText(error), started);
      scheduleRetry();
      return entry;
    } finally {
      passStartedAt = null;
    }
  }

  function runPass(): Promise<void> {
    const current = runPassNow().finally(() => {
      currentPass = null;
    });
    currentPass = current;
    return current;
  }

  async function runPassNow(): Promise<void> {
    const entry = await pass();
    if (entry.outcome === "held" || entry.outcome === "render-failed" || entry.outcome === "internal-error") {
      notify(entry, undefined);
    }
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter.resolve(entry);
  }

  const quiescence: Quiescence = createQuiescence(runPass, {
    minMs: wait.minMs,
    maxMs: wait.maxMs,
    timers,
    onError: (error) =>
      log.error("pass failed unexpectedly", { error: errorText(error), stack: stackOf(error) }),
  });

  return {
    start() {
      source.onChange(() => quiescence.notify());
      if (source.status().synced) quiescence.notify();
    },
    runNow() {
      return new Promise<ApplyRecord>((resolve) => {
        waiters.push({ resolve });
        quiescence.flush();
      });
    },
    setGenerator(next) {
      generate = next;
      // New templates may bind differently: objects a failed reload was traced to get another try.
      quarantine.clear();
      quiescence.flush();
    },
    state() {
      const now = timers.now();
      return {
        version: VERSION,
        startedAt,
        heartbeatAt: passStartedAt ?? now,
        source: source.status(),
        config: { path: configPath, installedHash, renderedHash },
        ready: readiness(source.status(), records[0], { renderedHash, installedHash }),
        domains: liveDomains,
        skipped: lastSkipped,
        applies: [...records],
        lastCheck,
        lastReload,
        lastSuccessAt,
        reloadMode,
      };
    },
    async close() {
      closed = true;
      quiescence.close();
      if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
      retryTimer = undefined;
      stopping.abort(new Error("haconfd is stopping"));
      await currentPass?.catch(() => {});
    },
  };
}
