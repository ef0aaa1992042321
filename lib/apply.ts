/**
 * Installs a rendered HAProxy config: compare with the installed file, stage beside it, check, rename,
 * reload (never closer together than the minimum reload interval), and report what happened as data.
 *
 * @module
 */

import { createTwoFilesPatch } from "diff";
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

/** Rendered text equals the installed file and no reload is pending: nothing was done. */
export interface UnchangedResult extends ResultBase {
  /** Discriminant. */
  status: "unchanged";
}

/** The new file is installed and HAProxy reloaded it. */
export interface AppliedResult extends ResultBase {
  /** Discriminant. */
  status: "applied";
  /** Whether the file changed (false when only a pending reload was retried). */
  changed: boolean;
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
  /** The check of the rendered text; `undefined` when unchanged (not checked). */
  check: CheckResult | undefined;
}

/** The check rejected the rendered text; the installed file is untouched. */
export interface CheckFailedResult extends ResultBase {
  /** Discriminant. */
  status: "check-failed";
  /** HAProxy's `[ALERT]`/`[WARNING]` lines, or why the check could not run. */
  errors: string[];
  /** The check command's whole output. */
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
}

/** Installs rendered configs one at a time. */
export interface Applier {
  /** Installs `text` if needed (calls are serialised). Never throws for check/reload/write failures. */
  apply(text: string, options?: ApplyOptions): Promise<ApplyResult>;
  /** The installed file's text as haconfd last knew it (`undefined` while there is none). */
  installed(): string | undefined;
  /** Whether the installed file has not been reloaded successfully yet. */
  reloadPending(): boolean;
}

/** sha256 of `text`, hex. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
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
 * it is created by the first apply).
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
  let pending = false;
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

  async function run(text: string, dryRun: boolean, signal: AbortSignal | undefined): Promise<ApplyResult> {
    const started = now();
    const hash = await sha256Hex(text);
    const durations: ApplyDurations = { checkMs: 0, reloadMs: 0, waitMs: 0, totalMs: 0 };
    function finish<T extends ApplyResult>(result: T): T {
      durations.totalMs = now() - started;
      return result;
    }
    const changed = text !== installed;

    if (dryRun) {
      let checked: CheckResult | undefined;
      if (changed) {
        const staged = await checkText(text, signal, durations);
        await staged.file?.discard();
        checked = staged.check;
      }
      const diff = changed
        ? createTwoFilesPatch(target, target, installed ?? "", text, "installed", "rendered")
        : "";
      return finish({ status: "dry-run", hash, installedHash, durations, changed, diff, check: checked });
    }

    if (!changed && !pending) return finish({ status: "unchanged", hash, installedHash, durations });

    let warnings: string[] = [];
    if (changed) {
      const staged = await checkText(text, signal, durations);
      if (staged.error !== undefined) {
        return finish({ status: "write-failed", hash, installedHash, durations, error: staged.error });
      }
      const { file, check: result } = staged;
      if (file === undefined || !result.ok) {
        await file?.discard();
        // Keep the text only when HAProxy judged it (not when the check could not run).
        const kept = file === undefined ? undefined : await keepRejected(text);
        log.error("config check failed, installed config kept", { errors: result.errors, rejected: kept });
        return finish({
          status: "check-failed",
          hash,
          installedHash,
          durations,
          errors: result.errors,
          output: result.output,
          rejectedPath: kept,
        });
      }
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

    const { result: reload, waitMs } = await reloadNow(signal);
    durations.waitMs = waitMs;
    durations.reloadMs = reload.durationMs;
    if (!reload.ok) {
      const error = reload.error ?? "HAProxy reload failed";
      log.error("reload failed, will retry", { error, detail: reload.detail });
      return finish({ status: "reload-failed", hash, installedHash, durations, changed, error, reload });
    }
    log.info("haproxy reloaded", { durationMs: reload.durationMs, changed });
    return finish({ status: "applied", hash, installedHash, durations, changed, reload, warnings });
  }

  async function checkText(
    text: string,
    signal: AbortSignal | undefined,
    durations: ApplyDurations,
  ): Promise<{ file?: StagedFile; check: CheckResult; error?: string }> {
    let file: StagedFile;
    try {
      file = await stageFile(target, text);
    } catch (error) {
      const message = errorText(error);
      return { check: { ok: false, output: "", errors: [message], durationMs: 0 }, error: message };
    }
    const started = now();
    try {
      const result = await check(file.path, signal);
      durations.checkMs = result.durationMs;
      // Name the target rather than the temp file in messages.
      const errors = result.errors.map((line) => line.replaceAll(file.path, target));
      return { file, check: { ...result, errors, output: result.output.replaceAll(file.path, target) } };
    } catch (error) {
      durations.checkMs = now() - started;
      await file.discard();
      const message = `Cannot check config: ${errorText(error)}`;
      return { check: { ok: false, output: "", errors: [message], durationMs: durations.checkMs } };
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
      const next = queue.then(() => run(text, applyOptions.dryRun ?? false, applyOptions.signal));
      queue = next.catch(() => {});
      return next;
    },
    installed: () => installed,
    reloadPending: () => pending,
  };
}
