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
import { type Generated, type Generator, type GeneratorInput, trailerDomains } from "../render/generate.ts";
import { type Culprit, reloadCulprits } from "./culprits.ts";
import type { EndpointSet } from "../model/endpoints.ts";
import { errorText, type Logger } from "../log.ts";
import { type Model, type Skipped, skippedOrder } from "../model/model.ts";
import { createQuiescence, type Quiescence, realTimers, type Timers } from "./quiescence.ts";
import type { Source } from "../source/source.ts";
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
  /**
   * Model + render of the source's sets (lib/render/generate.ts's createGenerator, which reads the source's
   * changes where it keeps a journal); throws when a template fails. Replaced by {@linkcode Loop.setGenerator}.
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
  setGenerator(generate: Generator): void;
  /** The current state, for the status endpoint. */
  state(): DaemonState;
  /** Stops scheduling, aborts a running pass (its check or reload) and resolves once it has ended. */
  close(): Promise<void>;
}

/** The stack of an error, for logs of unexpected failures. */
function stackOf(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : undefined;
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
  let liveModel: Pick<Model, "domains"> = { domains: {} };
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
  /**
   * Objects left out because HAProxy could not load their part (a reload traced to them), by
   * `namespace/name`, with the annotations they had then: a changed object is tried again.
   */
  const quarantine = new Map<string, { annotations: string; reason: string }>();
  /** Whether the quarantine took or released objects since the generator last read the source. */
  let quarantineChanged = false;

  /** `onPass` must not end a pass or the daemon: a throwing observer is logged and ignored. */
  function notify(entry: ApplyRecord, result: ApplyResult | undefined): void {
    try {
      onPass?.(entry, result);
    } catch (error) {
      log.error("pass observer failed", { error: errorText(error), stack: stackOf(error) });
    }
  }

  /** Whether `set` is held: quarantined with the annotations it had then (a changed object is released). */
  function held(key: string, set: EndpointSet | null): boolean {
    const entry = quarantine.get(key);
    if (entry === undefined) return false;
    if (set !== null && entry.annotations === JSON.stringify(set.annotations)) return true;
    quarantine.delete(key);
    return false;
  }

  /**
   * The source as the generator sees it: without the quarantined objects. Its changes are the source's,
   * a held object's as a removal; after the quarantine took or released objects it reports no changes
   * (null), so the generator compares the whole snapshot.
   */
  const withoutQuarantined: GeneratorInput = {
    snapshot() {
      const sets = source.snapshot();
      const present = new Set<string>();
      const kept = sets.filter((set) => {
        const key = `${set.namespace}/${set.name}`;
        if (!held(key, set)) return true;
        present.add(key);
        return false;
      });
      for (const key of [...quarantine.keys()]) if (!present.has(key)) quarantine.delete(key);
      quarantineChanged = false;
      return kept;
    },
    takeChanges() {
      const changes = source.takeChanges?.() ?? null;
      if (changes === null || quarantineChanged) return null;
      if (quarantine.size === 0) return changes;
      const out = new Map(changes);
      for (const [key, set] of changes) if (held(key, set)) out.set(key, null);
      return out;
    },
  };

  /** Model + render without the quarantined objects, which are listed as skipped. */
  function generateWithout(): Generated {
    const generated = generate(withoutQuarantined);
    if (quarantine.size === 0) return generated;
    const left: Skipped[] = [...quarantine].map(([object, { reason }]) => ({ object, reason }));
    const skipped = [...generated.model.skipped, ...left].sort(skippedOrder);
    const base = generated.model;
    // The store builds the model's domains on first read (lib/model/store.ts): a pass that never reads
    // them must not pay for them here either.
    const model: Model = {
      get domains() {
        return base.domains;
      },
      skipped,
    };
    return { ...generated, model };
  }

  /**
   * Quarantines the objects HAProxy's alerts blame for a failed reload (of a new file, or of the
   * installed one at start-up, which an older haconfd may have left with a busy port); whether any was new.
   */
  function traceFailure(result: ApplyResult, model: Model): boolean {
    if (result.status !== "reload-failed") return false;
    return quarantineAll(reloadCulprits(`${result.error}\n${result.reload.detail}`, model));
  }

  /** Quarantines `found` (those not yet held); whether any was new. */
  function quarantineAll(found: Culprit[]): boolean {
    const culprits = found.filter((c) => !quarantine.has(c.object));
    if (culprits.length === 0) return false;
    quarantineChanged = true;
    const sets = source.snapshot();
    for (const culprit of culprits) {
      const set = sets.find((s) => `${s.namespace}/${s.name}` === culprit.object);
      quarantine.set(culprit.object, {
        annotations: JSON.stringify(set?.annotations ?? {}),
        reason: culprit.reason,
      });
      log.error("object skipped: HAProxy could not load its part of the config", { ...culprit });
    }
    return true;
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
   * a notification for objects the model ignores) ends here: no hash, no apply. Null when it goes on.
   */
  function nothingNew(generated: Generated, started: number, renderMs: number): ApplyRecord | null {
    const last = records[0];
    if (generated.unchanged !== true || last === undefined || !passSucceeded(last) || heldSince !== null) {
      return null;
    }
    if (retryTimer !== undefined || applier.reloadPending()) return null;
    const entry = record(
      last.outcome === "dry-run" ? "dry-run" : "unchanged",
      "nothing new since the last pass",
      started,
      { renderMs, hash: last.hash },
    );
    notify(entry, undefined);
    return entry;
  }

  /** sha256 of a generation's config, from its bytes where the generator keeps them. */
  function hashOf(generated: Generated): string {
    return sha256Hex(generated.bytes ?? generated.text);
  }

  /** Installs a generation, handing the applier the hash (and bytes) the pass has already. */
  function install(generated: Generated, hash: string): Promise<ApplyResult> {
    return applier.apply(generated.text, {
      dryRun,
      signal: stopping.signal,
      hash,
      ...(generated.bytes === undefined ? {} : { bytes: generated.bytes }),
    });
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
      try {
        generated = generateWithout();
      } catch (error) {
        log.error("render failed, installed config kept", { error: errorText(error) });
        return record("render-failed", errorText(error), started, { renderMs: timers.now() - renderStart });
      }
      const renderMs = timers.now() - renderStart;
      lastSkipped = generated.model.skipped;
      const quiet = nothingNew(generated, started, renderMs);
      if (quiet !== null) return quiet;
      // Published with the pass's outcome: while the check and reload run, /readyz keeps describing the
      // last finished pass instead of flapping to "differs from the last rendered one".
      let hash = hashOf(generated);
      for (const skipped of generated.model.skipped) log.debug("object skipped", { ...skipped });

      const shrink = dryRun ? null : shrinkHeld(generated);
      if (shrink !== null) {
        log.warn("apply held", { reason: shrink });
        renderedHash = hash;
        return record("held", shrink, started, { renderMs, hash });
      }

      // A listen port another program holds is found before HAProxy tries (and fails) to bind it.
      for (let round = 0; round < TRACE_ROUNDS && probe !== undefined && !dryRun; round++) {
        if (!quarantineAll(probe(generated.model, applier.installed()))) break;
        generated = generateWithout();
        lastSkipped = generated.model.skipped;
        hash = hashOf(generated);
      }
      let result = await install(generated, hash);
      // A reload that failed after a good check (a port another program holds) is traced to the objects
      // HAProxy's alert names; without them the rest is applied (checked and reloaded) in this pass.
      for (let round = 0; round < TRACE_ROUNDS && traceFailure(result, generated.model); round++) {
        generated = generateWithout();
        lastSkipped = generated.model.skipped;
        hash = hashOf(generated);
        result = await install(generated, hash);
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
        liveModel = generated.model;
        if (outcome !== "dry-run") appliedDomains = domainCount(generated);
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

  function readiness(): DaemonState["ready"] {
    const status = source.status();
    // Only the first sync counts: a source error later (the API unreachable) keeps the installed config,
    // the last good one, serving — and an outage that hits every host must not fail them all (keepalived/README.md).
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
    // Still ready (see above), but /readyz says why the config may be behind the cluster.
    if (status.lastError !== null) {
      return {
        ok: true,
        reason: `serving the last good config; the source is failing: ${status.lastError}`,
      };
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
      // New templates may bind differently: objects a failed reload was traced to get another try.
      quarantine.clear();
      quarantineChanged = true;
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
