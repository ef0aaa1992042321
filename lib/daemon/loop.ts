/**
 * The daemon's reconcile loop: source changes → quiescence → model → render → apply → state. Every
 * wake-up (a change, a retry, a signal) ends in the same pass; the loop is the only module that knows
 * the order of the stages. README "How it works → The life of one change" follows one change through
 * every file, this one included.
 *
 * @module
 */
import type { Applier, ApplyResult } from "../apply/apply.ts";
import { applyPathOf } from "./apply_path.ts";
import { Backoff } from "../backoff.ts";
import { sha256Hex } from "../hash.ts";
import { type Generated, type Generator, trailerDomains } from "../render/generate.ts";
import { type Culprit, type InstalledConfig, reloadCulprits } from "./culprits.ts";
import { Quarantine } from "./quarantine.ts";
import { errorText, type Logger } from "../log.ts";
import { type Model, skipMessage } from "../model/model.ts";
import { createQuiescence, type Quiescence, realTimers, type Timers } from "./quiescence.ts";
import type { Source, SourceStatus } from "../source/source.ts";
import type { ApplyOutcome, ApplyRecord, DaemonState } from "../record/state.ts";
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
   * holds), given the generation (its model, and the listen ports where the generator keeps them) and the
   * installed config; they are skipped with the reason. @default {none}
   */
  probe?: (generated: Pick<Generated, "model" | "listenPorts">, installed: InstalledConfig) => Culprit[];
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

/** How many domains a generation has (without building the model's domain record). */
function domainCount(generated: Generated): number {
  return generated.domainCount ?? Object.keys(generated.model.domains).length;
}

const SUCCESS: readonly ApplyOutcome[] = ["applied", "unchanged", "dry-run"];

/** Whether a pass ended well (applied, already current, or a dry run whose check passed). */
export function passSucceeded(record: Pick<ApplyRecord, "outcome">): boolean {
  return SUCCESS.includes(record.outcome);
}

/**
 * Whether this host should serve (the /readyz verdict), from the source's status, the last pass record
 * that decided something (a pass held only for a watch's first list after the first sync does not) and
 * the hashes of the last rendered and the installed config.
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
  // Still ready (see above), but /readyz says why the config may be behind the cluster. A watch started
  // on demand (a first TLS or nodeport service) holds passes while it lists, not readiness: one tenant's
  // annotation must not make every host unready at once.
  const listing = status.listing ?? [];
  if (listing.length > 0) {
    return {
      ok: true,
      reason: `serving the last good config; changes wait while the source is ${listing.join(" and ")}`,
    };
  }
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

/** The generate step's product: the config rendered without the quarantined objects, and its hash. */
interface Rendered {
  generated: Generated;
  hash: string;
}

/** The hash step (of the config's parts where the generator keeps them: no encode, no joined copy). */
function hashed(generated: Generated): Rendered {
  return { generated, hash: sha256Hex(generated.parts ?? generated.text) };
}

/** What the apply step installed (or tried to), and the applier's answer. */
interface Applied {
  rendered: Rendered;
  result: ApplyResult;
}

/**
 * The loop behind {@linkcode createLoop}: every wake-up (quiescence, a retry, `runNow`, a new generator)
 * runs the same pass (`#pass`), one at a time; all its state is in the fields below.
 */
class ReconcileLoop implements Loop {
  // Wiring, fixed at construction.
  readonly #o: LoopOptions;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #dryRun: boolean;
  readonly #quiescence: Quiescence;
  readonly #retryBackoff: Backoff;
  readonly #stopping = new AbortController();
  readonly #startedAt: number;

  // State, all of it: what the next pass decides on and what state() reports.
  #generate: Generator;
  readonly #quarantine: Quarantine;
  /** The pass records, newest first (at most KEEP_RECORDS). */
  readonly #records: ApplyRecord[] = [];
  #lastCheck: ApplyRecord | null = null;
  #lastReload: ApplyRecord | null = null;
  #lastSuccessAt: number | null = null;
  /** What HAProxy serves (the last model applied; its domains are built when state() reads them). */
  #liveModel: Pick<Model, "domains"> = { domains: {} };
  /** What the last render skipped. */
  #lastSkipped: Model["skipped"] = [];
  #renderedHash: string | null = null;
  #incremental: boolean | undefined = undefined;
  #installedHash: string | null = null;
  /** How many domains the installed config has, for the shrink guard. */
  #appliedDomains: number | null = null;
  /** The source's full-sync count when the shrink guard first held. */
  #heldSince: number | null = null;
  #passStartedAt: number | null = null;
  /** The newest record but those of passes held for a watch's first list after the first sync: readiness reads it. */
  #decided: ApplyRecord | undefined = undefined;
  /** What the source was listing when a pass last waited for it ("" when none waited). */
  #waitingFor = "";
  #retryTimer: unknown = undefined;
  #closed = false;
  #currentPass: Promise<void> | null = null;
  #waiters: { resolve: (record: ApplyRecord) => void }[] = [];

  constructor(options: LoopOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#timers = options.timers ?? realTimers;
    this.#dryRun = options.dryRun ?? false;
    this.#generate = options.generate;
    this.#startedAt = this.#timers.now();
    this.#retryBackoff = new Backoff(
      options.retryMinMs ?? 1000,
      options.retryMaxMs ?? 30_000,
      options.random ?? Math.random,
    );
    try {
      this.#readInstalled();
    } catch (error) {
      this.#log.error("cannot read the installed config's hash", {
        error: errorText(error),
        stack: stackOf(error),
      });
    }
    this.#quarantine = new Quarantine(this.#log);
    this.#quiescence = createQuiescence(() => this.#runPass(), {
      minMs: options.wait.minMs,
      maxMs: options.wait.maxMs,
      timers: this.#timers,
      onError: (error) =>
        this.#log.error("pass failed unexpectedly", { error: errorText(error), stack: stackOf(error) }),
    });
  }

  start(): void {
    this.#o.source.onChange(() => this.#quiescence.notify());
    if (this.#o.source.status().synced) this.#quiescence.notify();
  }

  runNow(): Promise<ApplyRecord> {
    return new Promise<ApplyRecord>((resolve) => {
      this.#waiters.push({ resolve });
      this.#quiescence.flush();
    });
  }

  setGenerator(next: Generator): void {
    this.#generate = next;
    // New templates may bind differently: objects a failed reload was traced to get another try.
    this.#quarantine.clear();
    this.#quiescence.flush();
  }

  state(): DaemonState {
    const source = this.#o.source.status();
    const hashes = { installedHash: this.#installedHash, renderedHash: this.#renderedHash };
    return {
      version: VERSION,
      startedAt: this.#startedAt,
      heartbeatAt: this.#passStartedAt ?? this.#timers.now(),
      source,
      config: { path: this.#o.configPath, ...hashes },
      ready: readiness(source, this.#decided, hashes),
      domains: this.#liveModel.domains,
      skipped: this.#lastSkipped,
      applies: [...this.#records],
      lastCheck: this.#lastCheck,
      lastReload: this.#lastReload,
      lastSuccessAt: this.#lastSuccessAt,
      reloadMode: this.#o.reloadMode,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#quiescence.close();
    if (this.#retryTimer !== undefined) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#stopping.abort(new Error("haconfd is stopping"));
    await this.#currentPass?.catch(() => {});
  }

  /** The installed config's hash and domain count (the shrink guard also protects what a previous run installed). */
  #readInstalled(): void {
    const text = this.#o.applier.installed();
    if (text === undefined) return;
    this.#installedHash = sha256Hex(text);
    this.#appliedDomains = trailerDomains(text) ?? null;
  }

  /** The quiescence's action: one pass, then its record to everyone waiting in `runNow`. */
  #runPass(): Promise<void> {
    const current = this.#runPassAndAnswer().finally(() => {
      this.#currentPass = null;
    });
    this.#currentPass = current;
    return current;
  }

  async #runPassAndAnswer(): Promise<void> {
    const entry = await this.#pass();
    if (entry.outcome === "held" || entry.outcome === "render-failed" || entry.outcome === "internal-error") {
      this.#notify(entry, undefined);
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(entry);
  }

  /**
   * One pass: generate (without quarantined objects) → nothing new? → shrink guard → apply (tracing a failed
   * reload) → record.
   */
  async #pass(): Promise<ApplyRecord> {
    const { source } = this.#o;
    const log = this.#log;
    const started = this.#timers.now();
    this.#passStartedAt = started;
    try {
      const status = source.status();
      if (!status.synced) {
        return this.#record("held", "waiting for the first complete sync with the source", started);
      }
      const listing = status.listing ?? [];
      if (listing.length > 0) return this.#waitForListing(listing, started);
      this.#waitingFor = "";
      const renderStart = this.#timers.now();
      let generated: Generated;
      try {
        generated = this.#generateKept();
      } catch (error) {
        log.error("render failed, installed config kept", { error: errorText(error) });
        const renderMs = this.#timers.now() - renderStart;
        return this.#record("render-failed", errorText(error), started, { renderMs });
      }
      const renderMs = this.#timers.now() - renderStart;
      const quiet = this.#nothingNew(generated, started, renderMs);
      if (quiet !== null) return quiet;
      const rendered = hashed(generated);
      for (const skipped of generated.model.skipped) log.debug(skipMessage(skipped), { ...skipped });

      const held = this.#dryRun ? null : this.#shrinkHeld(rendered.generated);
      if (held !== null) {
        log.warn("apply held", { reason: held });
        this.#renderedHash = rendered.hash;
        return this.#record("held", held, started, { renderMs, hash: rendered.hash });
      }
      const applied = await this.#applyTraced(this.#probed(rendered));
      return this.#recordApplied(applied, started, renderMs);
    } catch (error) {
      // Anything unexpected (a bug) is recorded as such and retried, never fatal to the daemon.
      log.error("pass failed unexpectedly", { error: errorText(error), stack: stackOf(error) });
      const entry = this.#record("internal-error", errorText(error), started);
      this.#scheduleRetry();
      return entry;
    } finally {
      this.#passStartedAt = null;
    }
  }

  /**
   * A pass held while a watch started after the first sync makes its first list (no config from a half-known
   * cluster); its record does not decide readiness, the installed config being as good as before.
   */
  #waitForListing(listing: string[], started: number): ApplyRecord {
    const what = listing.join(" and ");
    if (what !== this.#waitingFor) this.#log.info("changes wait for the source", { listing: what });
    this.#waitingFor = what;
    const decided = this.#decided;
    const entry = this.#record("held", `waiting while the source is ${what}`, started);
    this.#decided = decided;
    return entry;
  }

  /** The generate step: model + render of the source without the quarantined objects. */
  #generateKept(): Generated {
    const generated = this.#quarantine.generateWithout(this.#o.source, this.#generate);
    this.#lastSkipped = generated.model.skipped;
    if (generated.incremental !== undefined && generated.incremental !== this.#incremental) {
      this.#log.info(
        generated.incremental
          ? "templates render incrementally: a change renders only its domains' partials"
          : "templates render in full on every change: they do not follow the partials convention (README, Templates)",
      );
      this.#incremental = generated.incremental;
    }
    return generated;
  }

  /** Generate and hash again, after more objects were quarantined. */
  #render(): Rendered {
    return hashed(this.#generateKept());
  }

  /**
   * A pass whose generator found nothing new since a pass that succeeded (a resync that changed nothing,
   * a notification for objects the model ignores) ends here: no hash, no apply. Null when it goes on.
   */
  #nothingNew(generated: Generated, started: number, renderMs: number): ApplyRecord | null {
    const last = this.#records[0];
    if (generated.unchanged !== true || last === undefined || !passSucceeded(last)) return null;
    if (this.#heldSince !== null || this.#retryTimer !== undefined || this.#o.applier.reloadPending()) {
      return null;
    }
    const outcome = last.outcome === "dry-run" ? "dry-run" : "unchanged";
    const entry = this.#record(outcome, "nothing new since the last pass", started, {
      renderMs,
      hash: last.hash,
    });
    this.#notify(entry, undefined);
    return entry;
  }

  /** The shrink guard: a big drop waits until a second full sync confirms it; why it holds, or null. */
  #shrinkHeld(generated: Generated): string | null {
    const { maxShrink } = this.#o;
    const next = domainCount(generated);
    const previous = this.#appliedDomains;
    if (previous === null || previous === 0 || (previous - next) / previous <= maxShrink) {
      this.#heldSince = null;
      return null;
    }
    const syncs = this.#o.source.status().fullSyncs;
    if (this.#heldSince === null) this.#heldSince = syncs;
    if (syncs > this.#heldSince) {
      this.#log.warn("shrink confirmed by a second full sync, applying", { from: previous, to: next });
      this.#heldSince = null;
      return null;
    }
    return `the new config drops ${previous - next} of ${previous} domains (more than ${
      Math.round(maxShrink * 100)
    }%): waiting for a second full sync to confirm`;
  }

  /** `rendered` without the objects whose listen port another program holds, found before HAProxy tries to bind it. */
  #probed(rendered: Rendered): Rendered {
    const { probe, applier } = this.#o;
    if (probe === undefined || this.#dryRun) return rendered;
    const installed = { hash: this.#installedHash, text: () => applier.installed() };
    for (let round = 0; round < TRACE_ROUNDS; round++) {
      const found = probe(rendered.generated, installed);
      if (!this.#quarantine.add(found, () => this.#o.source.snapshot())) break;
      rendered = this.#render();
    }
    return rendered;
  }

  /**
   * The apply step. A reload that failed after a good check (a port another program holds) is traced to
   * the objects HAProxy's alert names; without them the rest is applied (checked and reloaded) in this pass.
   */
  async #applyTraced(rendered: Rendered): Promise<Applied> {
    let result = await this.#apply(rendered);
    for (
      let round = 0;
      round < TRACE_ROUNDS && this.#traceFailure(result, rendered.generated.model);
      round++
    ) {
      rendered = this.#render();
      result = await this.#apply(rendered);
    }
    return { rendered, result };
  }

  /** Installs a generation, handing the applier the hash (and bytes) the pass has already. */
  #apply({ generated, hash }: Rendered): Promise<ApplyResult> {
    return this.#o.applier.apply(generated.text, {
      dryRun: this.#dryRun,
      signal: this.#stopping.signal,
      hash,
      ...(generated.parts === undefined ? {} : { parts: generated.parts }),
      files: generated.maps ?? [],
    });
  }

  /**
   * Quarantines the objects HAProxy's alerts blame for a failed reload (of a new file, or of the
   * installed one at start-up, which an older haconfd may have left with a busy port); whether any was new.
   */
  #traceFailure(result: ApplyResult, model: Model): boolean {
    if (result.status !== "reload-failed") return false;
    const culprits = reloadCulprits(`${result.error}\n${result.reload.detail}`, model);
    return this.#quarantine.add(culprits, () => this.#o.source.snapshot());
  }

  /** The record step after an apply: the pass record, the state it updates, a retry when one may help. */
  #recordApplied({ rendered, result }: Applied, started: number, renderMs: number): ApplyRecord {
    this.#installedHash = result.installedHash ?? null;
    // Published with the pass's outcome: while the check and reload run, /readyz keeps describing the
    // last finished pass instead of flapping to "differs from the last rendered one".
    this.#renderedHash = rendered.hash;
    const { outcome, detail, errors } = outcomeOf(result);
    const reloaded = "reload" in result || "pendingReload" in result;
    const entry = this.#record(outcome, detail, started, {
      renderMs,
      checkMs: result.durations.checkMs > 0 || outcome === "check-failed" ? result.durations.checkMs : null,
      reloadMs: reloaded ? result.durations.reloadMs : null,
      hash: result.hash,
      errors,
      ...applyPathOf(result),
    });
    if (entry.checkMs !== null) this.#lastCheck = entry;
    if (reloaded) this.#lastReload = entry;
    if (passSucceeded(entry)) {
      this.#lastSuccessAt = entry.at;
      this.#retryBackoff.reset();
      this.#liveModel = rendered.generated.model;
      if (outcome !== "dry-run") this.#appliedDomains = domainCount(rendered.generated);
    } else if (retryable(result)) {
      this.#scheduleRetry();
    }
    this.#notify(entry, result);
    return entry;
  }

  /** Adds a pass record (keeping the newest KEEP_RECORDS) and returns it. */
  #record(
    outcome: ApplyOutcome,
    detail: string,
    started: number,
    extra: Partial<ApplyRecord> = {},
  ): ApplyRecord {
    const now = this.#timers.now();
    const entry: ApplyRecord = {
      at: now,
      outcome,
      detail,
      durationMs: now - started,
      renderMs: null,
      checkMs: null,
      reloadMs: null,
      hash: null,
      errors: [],
      ...extra,
    };
    this.#records.unshift(entry);
    this.#records.length = Math.min(this.#records.length, KEEP_RECORDS);
    this.#decided = entry;
    return entry;
  }

  /** Runs a pass after the next backoff delay, unless one is already due or the loop is closed. */
  #scheduleRetry(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const inMs = this.#retryBackoff.next();
    this.#log.info("retrying", { inMs });
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#quiescence.flush();
    }, inMs);
  }

  /** `onPass` must not end a pass or the daemon: a throwing observer is logged and ignored. */
  #notify(entry: ApplyRecord, result: ApplyResult | undefined): void {
    try {
      this.#o.onPass?.(entry, result);
    } catch (error) {
      this.#log.error("pass observer failed", { error: errorText(error), stack: stackOf(error) });
    }
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
  return new ReconcileLoop(options);
}
