/**
 * Installs a rendered HAProxy config: compare with the installed file, stage beside it, check, rename,
 * reload (never closer together than the minimum reload interval), and report what happened as data.
 *
 * @module
 */

import { createTwoFilesPatch } from "diff";
import { basename, join } from "node:path";
import { delay } from "./delay.ts";
import { atomicWrite, type StagedFile, stageFile } from "./atomic_write.ts";
import type { CheckResult } from "./haproxy/check.ts";
import type { Reloader, ReloadResult } from "./haproxy/reload.ts";
import { errorText, type Logger, silentLogger } from "./log.ts";

/** Durations of one apply, in milliseconds (0 for a step that did not run). */
export interface ApplyDurations {
  /** The config check. */
  checkMs: number;
  /** The reload. */
  reloadMs: number;
  /** Time spent waiting for the minimum reload interval. */
  waitMs: number;
  /** The whole apply. */
  totalMs: number;
}

interface ResultBase {
  /** sha256 (hex) of the rendered text handed to `apply()`. */
  hash: string;
  /** sha256 (hex) of the installed file after this apply (`undefined` while there is none). */
  installedHash: string | undefined;
  /** Step durations. */
  durations: ApplyDurations;
}

/** Stands for the rendered text in check messages when it was not kept in a file. */
export const RENDERED_PLACEHOLDER = "<rendered>";

/** Rendered text equals the installed file and no reload is pending: nothing was done. */
export interface UnchangedResult extends ResultBase {
  /** Discriminant. */
  status: "unchanged";
}

/** The new file is installed and HAProxy reloaded it. */
export interface AppliedResult extends ResultBase {
  /** Discriminant. */
  status: "applied";
  /** Whether the file changed (false when only a pending or the start-up reload ran). */
  changed: boolean;
  /**
   * Why HAProxy was reloaded: "installed the new config and reloaded", "retried the pending reload" or
   * "reloaded the installed config once at start-up". Always set by {@linkcode createApplier}.
   */
  detail?: string;
  /** The reload outcome. */
  reload: ReloadResult;
  /** HAProxy's warnings from the check (empty when the check did not run). */
  warnings: string[];
}

/** Nothing was written or reloaded; the diff and the check result say what would happen. */
export interface DryRunResult extends ResultBase {
  /** Discriminant. */
  status: "dry-run";
  /** Whether the rendered text differs from the installed file. */
  changed: boolean;
  /** Unified diff installed → rendered (empty when unchanged). */
  diff: string;
  /**
   * The check of the rendered text, its messages naming {@linkcode RENDERED_PLACEHOLDER} instead of
   * the temp file; `undefined` when unchanged (not checked).
   */
  check: CheckResult | undefined;
}

/**
 * The rendered text was not installed because the check rejected it (`retryable` false) or because the
 * check could not judge it (`retryable` true: timed out, aborted, killed, program missing); the
 * installed file is untouched.
 */
export interface CheckFailedResult extends ResultBase {
  /** Discriminant. */
  status: "check-failed";
  /**
   * `true` when HAProxy did not judge the text (the check timed out or could not run): nothing is
   * wrong with the text as far as is known, no `.rejected` file is written, and the caller should
   * retry the same text later. `false` (or absent) when HAProxy rejected it: retrying the same text is
   * pointless. Always set by {@linkcode createApplier}.
   */
  retryable?: boolean;
  /**
   * HAProxy's `[ALERT]`/`[WARNING]` lines, or why the check could not run (naming the command). File
   * names point at `rejectedPath` when the text was kept there, else at {@linkcode RENDERED_PLACEHOLDER}.
   */
  errors: string[];
  /** The reload of the installed file that was still owed (start-up or a failed one), when it ran. */
  pendingReload?: ReloadResult;
  /** The check command's whole output, file names rewritten like `errors`. */
  output: string;
  /** Where the rejected text was kept (`<target>.rejected`); `undefined` when the check could not run or the file not be written. */
  rejectedPath: string | undefined;
}

/** The new file is installed but the reload failed; the next `apply()` retries the reload. */
export interface ReloadFailedResult extends ResultBase {
  /** Discriminant. */
  status: "reload-failed";
  /** Whether the file changed in this apply. */
  changed: boolean;
  /** What the reload was for, worded like {@linkcode AppliedResult.detail}. Always set by {@linkcode createApplier}. */
  detail?: string;
  /** Why the reload failed. */
  error: string;
  /** The reload outcome. */
  reload: ReloadResult;
}

/** Staging or renaming the file failed; the installed file is untouched. */
export interface WriteFailedResult extends ResultBase {
  /** Discriminant. */
  status: "write-failed";
  /** What failed, with its cause chain. */
  error: string;
}

/** What one `apply()` did. */
export type ApplyResult =
  | UnchangedResult
  | AppliedResult
  | DryRunResult
  | CheckFailedResult
  | ReloadFailedResult
  | WriteFailedResult;

/** Options of {@linkcode createApplier}. */
export interface ApplierOptions {
  /** The installed config file (e.g. `/etc/haproxy/haproxy.cfg`). */
  target: string;
  /** Checks a staged file, e.g. `(path, signal) => checkConfig(path, { command, signal })`. */
  check: (path: string, signal?: AbortSignal) => Promise<CheckResult>;
  /** Reloads HAProxy once the file is installed. */
  reloader: Pick<Reloader, "reload">;
  /** Smallest time between the starts of two reloads. @default {0} */
  minReloadIntervalMs?: number;
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** Clock in milliseconds. @default {Date.now} */
  now?: () => number;
  /** Waits `ms` (injectable for tests). @default {setTimeout-based} */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Options of {@linkcode Applier.apply}. */
export interface ApplyOptions {
  /** Only diff and check, write and reload nothing. @default {false} */
  dryRun?: boolean;
  /** Aborts a check, a wait or a reload. */
  signal?: AbortSignal;
  /** sha256 (hex) of the text when the caller has it already (saves hashing a large config twice). */
  hash?: string;
  /** The text's UTF-8 bytes when the caller has them already (written instead of encoding the text again). */
  bytes?: Uint8Array;
}

/** Installs rendered configs one at a time. */
export interface Applier {
  /** Installs `text` if needed (calls are serialised). Never throws for check/reload/write failures. */
  apply(text: string, options?: ApplyOptions): Promise<ApplyResult>;
  /** The installed file's text as haconfd last knew it (`undefined` while there is none). */
  installed(): string | undefined;
  /**
   * Whether the installed file has not been reloaded successfully yet. True from the start while a
   * file is installed: haconfd cannot know whether HAProxy runs it (a previous run's reload may have
   * failed, a managed HAProxy is not started yet), so the first apply reloads it once.
   */
  reloadPending(): boolean;
}

/** `check` with every mention of the file `from` in its messages replaced by `to`. */
function renamed(check: CheckResult, from: string, to: string): CheckResult {
  return {
    ...check,
    errors: check.errors.map((line) => line.replaceAll(from, to)),
    output: check.output.replaceAll(from, to),
  };
}

/** sha256 of `text` (or of bytes already encoded), hex. */
export async function sha256Hex(text: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    typeof text === "string" ? new TextEncoder().encode(text) : text,
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Creates an applier for `target`, reading the currently installed file first (a missing file is fine:
 * it is created by the first apply). When a file is installed, a reload is pending from the start: the
 * first apply reloads HAProxy even if the rendered text equals the file (`applied` with `changed: false`
 * and the detail "reloaded the installed config once at start-up").
 *
 * @example
 * ```ts
 * const applier = await createApplier({
 *   target: "/etc/haproxy/haproxy.cfg",
 *   check: (path, signal) => checkConfig(path, { signal }),
 *   reloader: createMasterSocketReloader({ address: "/run/haproxy-master.sock" }),
 *   minReloadIntervalMs: 5_000,
 * });
 * const result = await applier.apply(rendered);
 * if (result.status === "check-failed") log.error("config rejected", { errors: result.errors });
 * ```
 */
export async function createApplier(options: ApplierOptions): Promise<Applier> {
  const {
    target,
    check,
    reloader,
    minReloadIntervalMs = 0,
    log = silentLogger,
    now = Date.now,
    sleep = (ms, signal) => delay(ms, { signal }),
  } = options;
  const rejectedPath = `${target}.rejected`;
  let installed = await readIfExists(target);
  let installedHash = installed === undefined ? undefined : await sha256Hex(installed);
  // Whether HAProxy runs the installed file is unknown at start-up: reload it once.
  let pending = installed !== undefined;
  let startupReload = pending;
  let lastReloadAt: number | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  async function reloadNow(
    signal: AbortSignal | undefined,
  ): Promise<{ result: ReloadResult; waitMs: number }> {
    let waitMs = 0;
    if (lastReloadAt !== undefined) {
      const wait = lastReloadAt + minReloadIntervalMs - now();
      if (wait > 0) {
        log.debug("waiting for the minimum reload interval", { waitMs: wait });
        const before = now();
        try {
          await sleep(wait, signal);
        } catch (error) {
          const message = `Reload not attempted: waiting for the minimum reload interval was aborted: ${
            errorText(error)
          }`;
          pending = true;
          return {
            result: { ok: false, durationMs: 0, detail: message, error: message },
            waitMs: now() - before,
          };
        }
        waitMs = now() - before;
      }
    }
    lastReloadAt = now();
    let result: ReloadResult;
    try {
      result = await reloader.reload(signal);
    } catch (error) {
      const message = errorText(error);
      result = { ok: false, durationMs: now() - lastReloadAt, detail: message, error: message };
    }
    pending = !result.ok;
    return { result, waitMs };
  }

  async function run(
    text: string,
    dryRun: boolean,
    signal: AbortSignal | undefined,
    knownHash: string | undefined,
    bytes: Uint8Array | undefined,
  ): Promise<ApplyResult> {
    const data = bytes ?? text;
    const started = now();
    const hash = knownHash ?? await sha256Hex(text);
    const durations: ApplyDurations = { checkMs: 0, reloadMs: 0, waitMs: 0, totalMs: 0 };
    function finish<T extends ApplyResult>(result: T): T {
      durations.totalMs = now() - started;
      return result;
    }
    const changed = text !== installed;

    if (dryRun) {
      let checked: CheckResult | undefined;
      if (changed) {
        // A dry run writes nothing beside the target: the check file goes to a private temp directory.
        const scratch = await Deno.makeTempDir({ prefix: "haconfd-dry-run-" });
        try {
          const staged = await checkText(data, signal, durations, join(scratch, basename(target)));
          if ("error" in staged) {
            checked = { verdict: "not-run", ok: false, output: "", errors: [staged.error], durationMs: 0 };
          } else {
            await staged.file.discard();
            checked = renamed(staged.check, staged.file.path, RENDERED_PLACEHOLDER);
          }
        } finally {
          await Deno.remove(scratch, { recursive: true });
        }
      }
      const diff = changed
        ? createTwoFilesPatch(target, target, installed ?? "", text, "installed", "rendered")
        : "";
      return finish({ status: "dry-run", hash, installedHash, durations, changed, diff, check: checked });
    }

    if (!changed && !pending) return finish({ status: "unchanged", hash, installedHash, durations });

    let warnings: string[] = [];
    const detail = changed
      ? "installed the new config and reloaded"
      : startupReload
      ? "reloaded the installed config once at start-up"
      : "retried the pending reload";
    if (changed) {
      const staged = await checkText(data, signal, durations);
      if ("error" in staged) {
        return finish({ status: "write-failed", hash, installedHash, durations, error: staged.error });
      }
      const { file } = staged;
      if (staged.check.verdict !== "valid") {
        await file.discard();
        // Keep the text only when HAProxy judged it (not when the check could not run), and make the
        // messages name the file holding the text they describe, never the installed one.
        const judged = staged.check.verdict === "invalid";
        const kept = judged ? await keepRejected(text) : undefined;
        const result = renamed(staged.check, file.path, kept ?? RENDERED_PLACEHOLDER);
        if (judged) {
          log.error("config check failed, installed config kept", { errors: result.errors, rejected: kept });
        } else {
          log.error("config check could not run, installed config kept, will retry", {
            errors: result.errors,
          });
        }
        const pendingReload = await reloadInstalledIfPending(signal, durations);
        return finish({
          status: "check-failed",
          hash,
          installedHash,
          durations,
          ...(pendingReload ? { pendingReload } : {}),
          retryable: !judged,
          errors: result.errors,
          output: result.output,
          rejectedPath: kept,
        });
      }
      // The checked text is what gets installed: its messages may name the target.
      const result = renamed(staged.check, file.path, target);
      warnings = result.errors.filter((line) => line.startsWith("[WARNING]"));
      try {
        await file.commit();
      } catch (error) {
        const message = errorText(error);
        log.error("cannot install config", { target, error: message });
        return finish({ status: "write-failed", hash, installedHash, durations, error: message });
      } finally {
        await file.discard();
      }
      installed = text;
      installedHash = hash;
      pending = true;
      await removeRejected();
      log.info("config installed", { target, hash });
    }

    startupReload = false;
    const { result: reload, waitMs } = await reloadNow(signal);
    durations.waitMs = waitMs;
    durations.reloadMs = reload.durationMs;
    if (!reload.ok) {
      const error = reload.error ?? "HAProxy reload failed";
      log.error("reload failed, will retry", { error, detail: reload.detail, for: detail });
      return finish({
        status: "reload-failed",
        hash,
        installedHash,
        durations,
        changed,
        detail,
        error,
        reload,
      });
    }
    log.info("haproxy reloaded", { durationMs: reload.durationMs, changed, detail });
    return finish({ status: "applied", hash, installedHash, durations, changed, detail, reload, warnings });
  }

  /** Stages `text` beside the target and checks it; the caller discards or commits the staged file. */
  /**
   * A reload still owed to the installed file (a failed one, or the start-up one) happens even when the
   * new text is rejected: with a managed HAProxy that reload is what starts it on the last good config.
   */
  async function reloadInstalledIfPending(
    signal: AbortSignal | undefined,
    durations: ApplyDurations,
  ): Promise<ReloadResult | undefined> {
    if (!pending || installed === undefined) return undefined;
    const { result, waitMs } = await reloadNow(signal);
    durations.waitMs = waitMs;
    durations.reloadMs = result.durationMs;
    if (result.ok) {
      log.info("reloaded the installed config (the new one was not installed)", { detail: result.detail });
    } else log.error("reload of the installed config failed, will retry", { error: result.error });
    return result;
  }

  async function checkText(
    text: string | Uint8Array,
    signal: AbortSignal | undefined,
    durations: ApplyDurations,
    stageAs: string = target,
  ): Promise<{ file: StagedFile; check: CheckResult } | { error: string }> {
    let file: StagedFile;
    try {
      file = await stageFile(stageAs, text);
    } catch (error) {
      return { error: errorText(error) };
    }
    const started = now();
    try {
      const result = await check(file.path, signal);
      durations.checkMs = result.durationMs;
      return { file, check: result };
    } catch (error) {
      // A throwing check judged nothing: report it like one that could not run.
      durations.checkMs = now() - started;
      const message = `Cannot check config: ${errorText(error)}`;
      return {
        file,
        check: {
          verdict: "not-run",
          ok: false,
          output: "",
          errors: [message],
          durationMs: durations.checkMs,
        },
      };
    }
  }

  async function keepRejected(text: string): Promise<string | undefined> {
    try {
      await atomicWrite(rejectedPath, text);
      return rejectedPath;
    } catch (error) {
      log.warn("cannot keep rejected config", { path: rejectedPath, error: errorText(error) });
      return undefined;
    }
  }

  async function removeRejected(): Promise<void> {
    try {
      await Deno.remove(rejectedPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log.warn("cannot remove stale rejected config", { path: rejectedPath, error: errorText(error) });
      }
    }
  }

  return {
    apply(text: string, applyOptions: ApplyOptions = {}): Promise<ApplyResult> {
      const next = queue.then(() =>
        run(text, applyOptions.dryRun ?? false, applyOptions.signal, applyOptions.hash, applyOptions.bytes)
      );
      queue = next.catch(() => {});
      return next;
    },
    installed: () => installed,
    reloadPending: () => pending,
  };
}
