/**
 * The daemon's reconcile loop: source changes → quiescence → model → render → apply → state. Every
 * wake-up (a change, a retry, a signal) ends in the same pass; the loop is the only module that knows
 * the order of the stages.
 *
 * @module
 */
import type { Applier, ApplyResult } from "./apply.ts";
import { sha256Hex } from "./apply.ts";
import { type Generated, type Generator, trailerDomains } from "./generate.ts";
import { errorText, type Logger } from "./log.ts";
import type { Model } from "./model.ts";
import { createQuiescence, type Quiescence, realTimers, type Timers } from "./quiescence.ts";
import type { Source } from "./source.ts";
import type { ApplyOutcome, ApplyRecord, DaemonState } from "./state.ts";
import { VERSION } from "./version.ts";

/** How many pass records the state keeps. */
const KEEP_RECORDS = 20;
/** A pass running longer than this makes the loop unhealthy. */
export const STUCK_AFTER_MS = 120_000;

/** Options of {@linkcode createLoop}. */
export interface LoopOptions {
  /** Where endpoint sets come from. */
  source: Source;
  /**
   * Model + render of the source's sets (lib/generate.ts's createGenerator, which reads the source's changes
   * where it keeps a journal); throws when a template fails. Replaced by {@linkcode Loop.setGenerator}.
   */
  generate: Generator;
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
  /** First retry delay after a failed write or reload; doubles up to `retryMaxMs`. @default {1000} */
  retryMinMs?: number;
  /** Largest retry delay. @default {30000} */
  retryMaxMs?: number;
  /** Logger. */
  log: Logger;
  /** Called after every pass, with the apply result when the applier ran. */
  onPass?: (record: ApplyRecord, result: ApplyResult | undefined) => void;
  /** Timers. @default {realTimers} */
  timers?: Timers;
}

/** A running loop. */
export interface Loop {
  /** Subscribes to the source; passes start with its first complete sync. */
  start(): void;
  /** Runs one pass now (after the current one) and resolves with its record. */
  runNow(): Promise<ApplyRecord>;
  /** Replaces the generator (templates re-read on SIGHUP) and re-applies. */
  setGenerator(generate: Generator): void;
  /** The current state, for the status endpoint. */
  state(): DaemonState;
  /** Stops scheduling, aborts a running pass (its check or reload) and resolves once it has ended. */
  close(): Promise<void>;
}

function domainCount(generated: Generated): number {
  return generated.domainCount ?? Object.keys(generated.model.domains).length;
}

const SUCCESS: readonly ApplyOutcome[] = ["applied", "unchanged", "dry-run"];

/** Whether a pass ended well (applied, already current, or a dry run whose check passed). */
export function passSucceeded(record: Pick<ApplyRecord, "outcome">): boolean {
  return SUCCESS.includes(record.outcome);
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
  const { source, applier, configPath, reloadMode, wait, maxShrink, log, onPass, timers = realTimers } =
    options;
  const { dryRun = false, retryMinMs = 1000, retryMaxMs = 30_000 } = options;
  let generate = options.generate;
  const startedAt = timers.now();
  const records: ApplyRecord[] = [];
  let lastCheck: ApplyRecord | null = null;
  let lastReload: ApplyRecord | null = null;
  let lastSuccessAt: number | null = null;
  // What HAProxy serves (the last model applied) and what the last render skipped.
  let liveModel: Pick<Model, "domains"> = { domains: {} };
  let lastSkipped: Model["skipped"] = [];
  let renderedHash: string | null = null;
  let installedHash: string | null = null;
  let appliedDomains: number | null = null;
  let heldSince: number | null = null; // full-sync count when the shrink guard first held
  let passStartedAt: number | null = null;
  let retryDelay = retryMinMs;
  let retryTimer: unknown = undefined;
  let closed = false;
  const stopping = new AbortController();
  let currentPass: Promise<void> | null = null;
  let waiters: { resolve: (record: ApplyRecord) => void }[] = [];

  async function initialHash(): Promise<void> {
    const text = applier.installed();
    if (text === undefined) return;
    installedHash = await sha256Hex(text);
    // The shrink guard also protects what a previous run installed.
    appliedDomains = trailerDomains(text) ?? null;
  }
  const ready = initialHash();

  function scheduleRetry(): void {
    if (closed || retryTimer !== undefined) return;
    log.info("retrying", { inMs: retryDelay });
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined;
      quiescence.flush();
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, retryMaxMs);
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
  function shrinkHeld(generated: Generated): string | null {
    const next = domainCount(generated);
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

  /**
   * A pass whose generator found nothing new since a pass that succeeded (a resync that changed nothing,
   * a notification for objects the model ignores) ends here: no hash, no apply. Returns the recorder.
   */
  function nothingNew(generated: Generated): ((started: number, renderMs: number) => ApplyRecord) | null {
    const last = records[0];
    if (generated.unchanged !== true || last === undefined || !passSucceeded(last) || heldSince !== null) {
      return null;
    }
    if (retryTimer !== undefined || applier.reloadPending()) return null;
    return (started, renderMs) => {
      const entry = record(
        last.outcome === "dry-run" ? "dry-run" : "unchanged",
        "nothing new since the last pass",
        started,
        {
          renderMs,
          hash: last.hash,
        },
      );
      onPass?.(entry, undefined);
      return entry;
    };
  }

  async function pass(): Promise<ApplyRecord> {
    await ready;
    const started = timers.now();
    passStartedAt = started;
    try {
      if (!source.status().synced) {
        return record("held", "waiting for the first complete sync with the source", started);
      }
      let generated: Generated;
      const renderStart = timers.now();
      try {
        generated = generate(source);
      } catch (error) {
        log.error("render failed, installed config kept", { error: errorText(error) });
        return record("render-failed", errorText(error), started, { renderMs: timers.now() - renderStart });
      }
      const renderMs = timers.now() - renderStart;
      lastSkipped = generated.model.skipped;
      const quiet = nothingNew(generated);
      if (quiet !== null) return quiet(started, renderMs);
      // Published with the pass's outcome: while the check and reload run, /readyz keeps describing the
      // last finished pass instead of flapping to "differs from the last rendered one".
      const hash = await sha256Hex(generated.bytes ?? generated.text);
      for (const skipped of generated.model.skipped) log.debug("object skipped", { ...skipped });

      const held = dryRun ? null : shrinkHeld(generated);
      if (held !== null) {
        log.warn("apply held", { reason: held });
        renderedHash = hash;
        return record("held", held, started, { renderMs, hash });
      }

      const result = await applier.apply(generated.text, {
        dryRun,
        signal: stopping.signal,
        hash,
        ...(generated.bytes === undefined ? {} : { bytes: generated.bytes }),
      });
      if (result.installedHash !== undefined) installedHash = result.installedHash;
      renderedHash = hash;
      const { outcome, detail, errors } = outcomeOf(result);
      const entry = record(outcome, detail, started, {
        renderMs,
        checkMs: result.durations.checkMs > 0 || outcome === "check-failed" ? result.durations.checkMs : null,
        reloadMs: "reload" in result || "pendingReload" in result ? result.durations.reloadMs : null,
        hash: result.hash,
        errors,
      });
      if (entry.checkMs !== null) lastCheck = entry;
      if ("reload" in result || "pendingReload" in result) lastReload = entry;
      if (passSucceeded({ outcome })) {
        lastSuccessAt = entry.at;
        retryDelay = retryMinMs;
        liveModel = generated.model;
        if (outcome !== "dry-run") appliedDomains = domainCount(generated);
      } else if (retryable(result)) {
        scheduleRetry();
      }
      onPass?.(entry, result);
      return entry;
    } catch (error) {
      // Anything unexpected is recorded and retried, never fatal to the daemon.
      log.error("pass failed", { error: errorText(error) });
      const entry = record("write-failed", errorText(error), started);
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
    if (entry.outcome === "held" || entry.outcome === "render-failed") onPass?.(entry, undefined);
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter.resolve(entry);
  }

  const quiescence: Quiescence = createQuiescence(runPass, { minMs: wait.minMs, maxMs: wait.maxMs, timers });

  function readiness(): DaemonState["ready"] {
    const status = source.status();
    if (!status.synced) return { ok: false, reason: "waiting for the first complete sync with the source" };
    const last = records[0];
    if (last === undefined) return { ok: false, reason: "no config applied yet" };
    if (last.outcome === "dry-run") return { ok: true, reason: "dry run: the rendered config checks out" };
    if (!passSucceeded(last)) {
      return { ok: false, reason: `last apply ${last.outcome}: ${last.detail}` };
    }
    if (renderedHash !== installedHash) {
      return { ok: false, reason: "the installed config differs from the last rendered one" };
    }
    return { ok: true, reason: "the installed config is the last one rendered" };
  }

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
        ready: readiness(),
        domains: liveModel.domains,
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
